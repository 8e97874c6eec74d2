"""Missed-run arithmetic on a fleet: what a poll pays to know when every instance is overdue.

One periodic task on N instances whose runs ended within the same few minutes (as a fleet's
do), its deadline computed per instance (``lib.core.schedule.deadline``):

- ``rate(5m)`` and a cron with a time zone: one clock each;
- a cron **without** a time zone (the instance's clock, unknown): every UTC offset in use is
  stepped and the latest kept — shipped with a per-minute cache; the **baseline** row steps
  every instance afresh (no cache), in the same run, so the cache's worth is measured, not
  assumed.

    .venv/bin/python bench/schedule.py [--instances 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]


def _run(label: str, instances: int, step: object) -> float:
    from lib.core import schedule as module

    module._deadline_cached.cache_clear()
    start = time.perf_counter()
    base = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)
    for n in range(instances):
        last = base + timedelta(seconds=n % 240)  # a fleet ends its runs within four minutes
        step(last)  # type: ignore[operator]
    total = time.perf_counter() - start
    print(f"{label:<46} {total * 1000:9.1f} ms  {total / instances * 1e6:9.1f} µs/instance")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    args = parser.parse_args()
    from lib.core.schedule import _deadline, deadline, parse_frequency

    grace = timedelta(minutes=10)
    rate = parse_frequency("rate(5m)")
    zoned = parse_frequency("0 0 2 * * ? Asia/Shanghai")
    zoneless = parse_frequency("0 0 2 * * ?")
    n = args.instances
    print(f"missed-run deadlines for one task on {n} instances")
    _run("rate(5m)", n, lambda last: deadline(rate, last, grace=grace))
    _run(
        "cron, Asia/Shanghai (cached per minute)",
        n,
        lambda last: deadline(zoned, last, grace=grace),
    )
    shipped = _run(
        "cron, no zone (every offset; cached per minute)",
        n,
        lambda last: deadline(zoneless, last, grace=grace),
    )
    baseline = _run(
        "  baseline: the same, no cache",
        n,
        lambda last: _deadline(zoneless, last, grace, None, 2),
    )
    print(f"cache: {baseline / shipped:.0f}× faster than the baseline on this fleet")


if __name__ == "__main__":
    main()
