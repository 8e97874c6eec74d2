"""Redaction cost per 100 KB of command output: adversarial shapes beside benign output.

Anyone who can make a command print chooses the text :func:`lib.support.redact.redact_text` scans,
so its cost must be linear in the input whatever the shape. Each adversarial shape below
aims at one pattern (runs that a name pattern could rescan from every position, key lines
without an END, a thousand END lines, unclosed quotes …); the benign rows are what command
output usually looks like. Every case is scaled to 100 KB and also to 25 KB: for a linear
redaction the 100 KB figure is about 4 × the 25 KB one, for a quadratic one about 16 ×.
All cases run in this one process, one after another, so a slow spell of the shared machine
slows the benign baseline and the adversarial rows alike.

    .venv/bin/python bench/redact.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lib.support.redact import redact_text  # noqa: E402  # after the sys.path line above

__all__ = ["main"]

KB = 1024


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# name → a function giving that shape's text at a size in bytes (ASCII: bytes = chars).
BENIGN: dict[str, Callable[[int], str]] = {
    "build log lines": lambda n: _fill(
        "2026-12-06T10:00:01Z INFO compiling module foo/bar.py (3 of 120) ok\n", n
    ),
    "JSON config dump": lambda n: _fill(
        '{"name": "web-1", "port": 8080, "replicas": 3, "image": "nginx:1.25"},\n', n
    ),
    "lines with secrets": lambda n: _fill(
        "export DB_PASSWORD=hunter22 && curl -H 'Authorization: Bearer abcd1234efgh' x\n", n
    ),
}
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "a.a.a.… (issue #12)": lambda n: _fill("a.", n),
    "a-a-a-…": lambda n: _fill("a-", n),
    "key.key.key.…": lambda n: _fill("key.", n),
    "--password--password…": lambda n: _fill("--password", n),
    "a+a+a+… (URL scheme run)": lambda n: _fill("a+", n),
    "base64 lines, no END": lambda n: _fill("QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n", n),
    "END lines only": lambda n: _fill("-----END PRIVATE KEY-----\n", n),
    "BEGIN without END": lambda n: "-----BEGIN RSA PRIVATE KEY-----\n" + _fill("QUJD\n", n),
    'password="… unclosed': lambda n: _fill('password="', n),
    "one long token": lambda n: "token=" + _fill("x", n - 6),
}


def _cost(make: Callable[[int], str], size: int, repeat: int) -> float:
    text = make(size)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        redact_text(text)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(repeat: int) -> list[dict[str, object]]:
    """Measure every case at 25 KB and 100 KB; milliseconds, median of ``repeat``."""
    rows: list[dict[str, object]] = []
    for kind, cases in (("benign", BENIGN), ("adversarial", ADVERSARIAL)):
        for name, make in cases.items():
            small = _cost(make, 25 * KB, repeat)
            large = _cost(make, 100 * KB, repeat)
            rows.append(
                {
                    "kind": kind,
                    "case": name,
                    "ms_per_100kb": round(large * 1000, 2),
                    "growth_25_to_100kb": round(large / small, 1) if small else None,
                }
            )
    return rows


def main() -> int:
    """Print the table, the worst adversarial case against the benign baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    rows = run(args.repeat)
    print(f"{'kind':<12} {'case':<28} {'ms / 100 KB':>12} {'100 KB ÷ 25 KB':>15}")
    for row in rows:
        print(
            f"{row['kind']:<12} {row['case']:<28} {row['ms_per_100kb']:>12.2f}"
            f" {row['growth_25_to_100kb']!s:>15}"
        )
    benign = max(float(str(r["ms_per_100kb"])) for r in rows if r["kind"] == "benign")
    worst = max(rows, key=lambda r: float(str(r["ms_per_100kb"])) if r["kind"] != "benign" else 0)
    print(
        f"worst adversarial: {worst['case']} at {worst['ms_per_100kb']} ms per 100 KB, "
        f"{float(str(worst['ms_per_100kb'])) / benign:.1f} × the costliest benign case "
        f"({benign} ms); linear growth is ≈ 4 × from 25 KB to 100 KB, quadratic ≈ 16 ×"
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
