"""Neutralising text from the cloud: adversarial vs benign cost per 100 KB, in one run.

Every message escapes command output, names and ErrorInfo (``lib/notify/escape.py``); a
tenant controls that text, so its cost must stay linear whatever is printed. Each case is
100 KB escaped the three ways a message does (output lines, free text, a code span); the
figure is the median of ``--repeat`` runs, and the ratio is against the benign log text
measured in the same run (so a slow spell of the shared machine moves both). The last
column escapes each case four times over (400 KB): about 4 is linear, far above it is not.

    .venv/bin/python bench/escape.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from lib.notify.escape import DINGTALK, FEISHU

SIZE = 100_000


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


CASES: dict[str, str] = {
    "benign log lines": _fill("2026-11-23 21:00:05 error: disk full at /var/log/app.log:42\n"),
    "unterminated OSC (ESC ])": _fill("\x1b]"),
    "8-bit OSC introducers": _fill("\x9d"),
    "CSI introducers (ESC [)": _fill("\x1b["),
    "link openers []( ": _fill("[]("),
    "backslashes": _fill("\\"),
    "emphasis runs *_~": _fill("*_~ "),
    "blanks then a marker": _fill(" ", SIZE - 1) + "#",
    "tag and mention openers": _fill("<at id=all><@all>"),
    "bidi and controls": _fill("\u202e\x00\u2066\x07a"),
}


def _escape_all(text: str) -> None:
    FEISHU.lines(text)
    DINGTALK.text(text)
    DINGTALK.code(text)


def _escaping(text: str) -> Callable[[], None]:
    return lambda: _escape_all(text)


def _median_ms(work: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    _escape_all(CASES["benign log lines"])  # warm-up: compiled patterns, caches
    results = {
        name: (
            _median_ms(_escaping(text), args.repeat),
            _median_ms(_escaping(text * 4), args.repeat),
        )
        for name, text in CASES.items()
    }
    baseline = results["benign log lines"][0]
    print(f"{'case (100 KB each)':32} {'ms':>8} {'× benign':>9} {'400 KB ÷ 100 KB':>16}")
    for name, (ms, big) in results.items():
        print(f"{name:32} {ms:8.1f} {ms / baseline:9.2f} {big / ms:16.2f}")


if __name__ == "__main__":
    main()
