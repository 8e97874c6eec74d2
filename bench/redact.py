"""Redaction cost per 100 KB of command output: adversarial shapes beside benign output.

Anyone who can make a command print chooses the text :func:`lib.support.redact.redact_text` scans,
so its cost must be linear in the input whatever the shape. Each adversarial shape below
aims at one pattern (runs that a name pattern could rescan from every position, key lines
without an END, a thousand END lines, unclosed quotes …); the benign rows are what command
output usually looks like. Every case is scaled to 100 KB and also to 25 KB: for a linear
redaction the 100 KB figure is about 4 × the 25 KB one, for a quadratic one about 16 ×.
All cases run in this one process, one after another, so a slow spell of the shared machine
slows the benign baseline and the adversarial rows alike.

A second table runs the issue's end-to-end case: one timer poll (the real entry, signed
client, paging, render, webhook) over a command that failed on 100 instances, each printing
24 KB (the API's output limit) of ``a.a.a.…``, beside the same poll over 24 KB of log lines.

    .venv/bin/python bench/redact.py [--repeat 5] [--instances 100] [--json]
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


def _poll_once(output: str, instances: int) -> dict[str, float]:
    """One timer poll over ``instances`` failures printing ``output``; wall seconds, sent."""
    import io
    import tempfile
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from lib.edges.entry import handle, reset
    from tests.fakes.cloudassist import (
        DEMO_ACCESS_KEY_ID,
        DEMO_ACCESS_KEY_SECRET,
        CloudAssistantFake,
    )
    from tests.fakes.dataset import Dataset, command, run
    from tests.fakes.webhook import WebhookSink

    dataset = Dataset().add(
        command(
            name="print.sh",
            created=datetime.now(timezone.utc),
            instances=[
                run(f"i-bench{n:013d}", "Failed", error_code="ExitCodeNonzero", output=output)
                for n in range(instances)
            ],
        )
    )
    reset()
    with (
        CloudAssistantFake({DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}, dataset=dataset) as fake,
        WebhookSink() as sink,
        tempfile.TemporaryDirectory() as state,
    ):
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": fake.url,
            "ASSISTWATCH_STATE_URL": f"file://{state}",
            "ASSISTWATCH_WEBHOOK_URL": sink.url,
            "ASSISTWATCH_API_QPS": "1000",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }
        context = SimpleNamespace(request_id="bench", function=SimpleNamespace(timeout=60))
        start = time.perf_counter()
        answer = handle(b'{"triggerTime": "x"}', context, environ=environ, stream=io.StringIO())
        wall = time.perf_counter() - start
        sent = sum(len(payload["alerts"]) for payload in sink.payloads)
    report = json.loads(answer) if isinstance(answer, str) else {}
    return {"wall_s": round(wall, 2), "alerts_sent": sent, "ok": bool(report.get("ok"))}


def main() -> int:
    """Print the table, the worst adversarial case against the benign baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instances", type=int, default=100, help="0: skip the poll table")
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
    polls = {}
    if args.instances:
        size = 24 * KB  # Cloud Assistant returns at most 24 KB of output per execution
        polls = {
            "benign": _poll_once(BENIGN["build log lines"](size), args.instances),
            "adversarial": _poll_once(ADVERSARIAL["a.a.a.… (issue #12)"](size), args.instances),
        }
        print(f"\none timer poll, {args.instances} failed instances × 24 KB of output each:")
        for kind, figures in polls.items():
            print(
                f"  {kind:<12} {figures['wall_s']:>6.2f} s wall, "
                f"{figures['alerts_sent']} alerts sent, ok={figures['ok']}"
            )
    if args.json:
        print(json.dumps({"redact": rows, "polls": polls}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
