"""Maintenance windows on a storm: what a pass pays to screen N alerts through muted routes.

N failures of one deploy on N instances, decided while Sunday's 02:00–04:00 (Asia/Shanghai)
window mutes their route (``lib.core.muting.screen``: each held with its window's end), and
then released after it; the **baseline** row routes the same alerts with no window
(``lib.core.routing.route``), in the same run. The same alerts as outbox retries (claimed
before the window, their delivery failed) decided by ``lib.core.muting.waiting``: the first
retry inside the window, and a later one when they are already among the held. Also the arithmetic alone: the next window of a
"last three days of the quarter" interval from 1,000 instants.

    .venv/bin/python bench/windows.py [--alerts 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

ROUTING = """
time_intervals:
  - name: sunday
    time_intervals:
      - weekdays: [sunday]
        times: [{start_time: "02:00", end_time: "04:00"}]
        location: Asia/Shanghai
routes:
  - receivers: [ops]
    mute_time_intervals: [sunday]
"""


def _timed(label: str, count: int, step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    total = time.perf_counter() - start
    print(f"{label:<52} {total * 1000:9.1f} ms  {total / count * 1e6:9.1f} µs/alert")
    return total


def main(argv: list[str] | None = None) -> None:
    """Print the figures (see the module doc)."""
    from lib.app.config import parse_config
    from lib.core.alerts import Alert, fingerprint
    from lib.core.findings import Classification, Finding
    from lib.core.muting import Muted, screen, waiting
    from lib.core.routing import route
    from lib.core.timeintervals import TimeInterval, holds, window

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    count = parser.parse_args(argv).alerts
    table = parse_config(ROUTING, known=("ops",)).table
    inside = datetime(2026, 12, 13, 2, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    after = inside + timedelta(hours=2)
    classification = Classification(
        category="command", code="ExitCodeNonzero", severity="critical",
        explanation_zh="", explanation_en="", hint_zh="", hint_en="",
    )  # fmt: skip
    alerts = []
    for n in range(count):
        finding = Finding(
            account="self", provider="ecs", region="cn-hangzhou", kind="command",
            invoke_id="t-deploy", instance_id=f"i-{n:06d}", status="Failed",
            error_code="ExitCodeNonzero", exit_code=1, name="deploy.sh",
            classification=classification, finished_at=inside - timedelta(minutes=5),
        )  # fmt: skip
        alerts.append(
            Alert(
                fingerprint=fingerprint(finding),
                group=finding.invoke_id,
                reason="new failure",
                starts_at=inside - timedelta(minutes=5),
                finding=finding,
            )
        )
    print(f"{count} alerts of one deploy, one receiver")
    base = _timed("baseline: route() with no window", count, lambda: route(alerts, ["ops"], table))
    held: list[Muted] = []

    def hold() -> None:
        held.extend(screen(alerts, [], ["ops"], table, inside).hold)

    muted = _timed("screen() inside the window: every alert held", count, hold)
    released = _timed(
        "screen() after the window: every held alert told",
        count,
        lambda: screen([], held, ["ops"], table, after),
    )
    print(f"held / baseline: {muted / base:5.1f}×   released / baseline: {released / base:5.1f}×")
    retries = {"ops": alerts}
    first = _timed(
        "waiting() inside the window: every retry held",
        count,
        lambda: waiting(retries, [], table, inside),
    )
    again = _timed(
        "waiting() on a later pass: every retry already held",
        count,
        lambda: waiting(retries, held, table, inside),
    )
    print(f"retries held / baseline: {first / base:5.1f}×   later pass: {again / base:5.1f}×")
    freeze = [TimeInterval(days_of_month=((-3, -1),), months=((3, 3), (6, 6), (9, 9), (12, 12)))]
    starts = [
        datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(hours=9 * n) for n in range(1000)
    ]
    _timed(
        "next window of a quarter-end freeze, from 1,000 instants",
        1000,
        lambda: [window(lambda at: holds(freeze, at), freeze, s) for s in starts],
    )


if __name__ == "__main__":
    main()
