"""Per-event overhead in event mode, beside a timer poll that tells the same kind of failure.

Both go through the handler's entry (``lib.edges.entry.handle``: parse the event, read the
settings, reuse the warm app, run) against the Cloud Assistant fake and a signed webhook
sink, both in a separate process, with a ``file://`` state:

- **event**: a task has just failed on one instance; its EventBridge ``TaskCompleted`` event
  arrives → one targeted fetch → claim → webhook send → confirm;
- **timer poll**: the same, found by the next timer poll over the fake's history instead.

Each figure is the median (and 90th percentile) over many events or polls on one warm
app; the first event, which builds the app (a cold start's share), is shown on its own.

    .venv/bin/python bench/event.py [--events 200] [--polls 50] [--history 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

API_QPS = "1000"  # the highest ASSISTWATCH_API_QPS accepts: the cap is not what is measured
REGION = "cn-hangzhou"


def task_completed(invoke_id: str, instance_id: str) -> bytes:
    """An EventBridge ``ecs:CloudAssistant:TaskCompleted`` CloudEvent, as FC hands it over."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"bench-{invoke_id}",
            "source": "acs.ecs",
            "type": "ecs:CloudAssistant:TaskCompleted",
            "aliyunregionid": REGION,
            "aliyunaccountid": "1234567890123456",
            "data": {
                "invokeId": invoke_id,
                "instanceId": instance_id,
                "invocationStatus": "Failed",
            },
        }
    ).encode()


TIMER = json.dumps({"triggerTime": "", "triggerName": "bench-timer", "payload": ""}).encode()


def _environ(fake: Any, state: Path) -> dict[str, str]:
    from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET

    return {
        "ASSISTWATCH_REGIONS": REGION,
        "ASSISTWATCH_ECS_ENDPOINT": fake.url,
        "ASSISTWATCH_STATE_URL": f"file://{state}",
        "ASSISTWATCH_WEBHOOK_URL": fake.webhook_url,
        "ASSISTWATCH_WEBHOOK_SECRET": fake.webhook_secret,
        "ASSISTWATCH_API_QPS": API_QPS,
        "ASSISTWATCH_LOOKBACK": "1h",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
    }


def _invoke(event: bytes, environ: Mapping[str, str], request_id: str) -> dict[str, Any]:
    """One handler call, timed; returns its figures and the report it answered."""
    from lib.edges.entry import handle

    context = SimpleNamespace(request_id=request_id, function=SimpleNamespace(timeout=600))
    with open(os.devnull, "w") as quiet:
        wall, cpu = time.perf_counter(), time.process_time()
        answer = handle(event, context, environ=environ, stream=quiet)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = json.loads(answer) if isinstance(answer, str) else {}
    return {
        "wall_ms": wall * 1000,
        "cpu_ms": cpu * 1000,
        "api_calls": report.get("api_calls", 0),
        "alerts_sent": report.get("alerts_sent", 0),
        "ok": report.get("ok", False),
    }


def _series(
    count: int, label: str, before: Callable[[int], bytes], environ: Mapping[str, str]
) -> list[dict[str, Any]]:
    samples = []
    for n in range(count):
        event = before(n)
        samples.append(_invoke(event, environ, f"{label}-{n}"))
        if (n + 1) % 50 == 0:
            print(f"  {label}: {n + 1}/{count}", file=sys.stderr, flush=True)
    return samples


def _summary(samples: list[dict[str, Any]]) -> dict[str, float]:
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    walls = [s["wall_ms"] for s in samples]
    return {
        "n": len(samples),
        "wall_ms": statistics.median(walls),
        "wall_p90_ms": pct(walls, 0.9),
        "cpu_ms": statistics.median(s["cpu_ms"] for s in samples),
        "api_calls": statistics.median(s["api_calls"] for s in samples),
        "alerts_sent": sum(s["alerts_sent"] for s in samples),
        "failed_runs": sum(1 for s in samples if not s["ok"]),
    }


def run(events: int, polls: int, history: int) -> dict[str, Any]:
    """Measure both modes against one fake; return the summaries."""
    from bench.fakeproc import FakeProcess, Shape

    shape = Shape(records=history, failure_every=0)
    print(f"building a {history}-record history in the fake …", file=sys.stderr, flush=True)
    with FakeProcess(shape) as fake, tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**9))

        def new_failure_event(_: int) -> bytes:
            return task_completed(*fake.add_failure(next(counter)))

        def new_failure_poll(_: int) -> bytes:
            fake.add_failure(next(counter))
            return TIMER

        by_event = _environ(fake, Path(tmp) / "event-state")
        cold = _series(1, "first event", new_failure_event, by_event)
        print(f"{events} events …", file=sys.stderr, flush=True)
        warm = _series(events, "events", new_failure_event, by_event)
        event_calls = fake.calls()

        by_timer = _environ(fake, Path(tmp) / "timer-state")
        settle = _series(2, "first polls", lambda _: TIMER, by_timer)  # first run, then settled
        print(f"{polls} timer polls …", file=sys.stderr, flush=True)
        fake.calls()
        timed = _series(polls, "polls", new_failure_poll, by_timer)
        poll_calls = fake.calls()
        delivered = fake.deliveries()
    # Each mode has its own state, so the timer's first run tells the events' failures again.
    told = sum(s["alerts_sent"] for s in (*cold, *warm, *settle, *timed))
    return {
        "history": history,
        "first_event": _summary(cold),
        "event": _summary(warm),
        "timer_poll": _summary(timed),
        "event_calls_by_action": event_calls,
        "poll_calls_by_action": poll_calls,
        "webhook_deliveries": delivered,
        "alerts_told": told,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--history", type=int, default=10_000, help="records in the fake")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    result = run(args.events, args.polls, args.history)
    print(
        f"one new failure, told through the handler on a warm app; history {args.history} "
        f"records; ASSISTWATCH_API_QPS={API_QPS}; fake and webhook sink in their own process "
        f"(python {sys.version.split()[0]})"
    )
    print(
        f"{'mode':44} {'n':>4} {'wall ms':>8} {'p90 ms':>7} {'CPU ms':>7} {'API calls':>9} "
        f"{'told':>5} {'vs event':>8}"
    )
    event_ms = result["event"]["wall_ms"] or 1.0
    for label, key in (
        ("event: TaskCompleted → fetch → claim → send", "event"),
        ("timer poll finding the same failure", "timer_poll"),
        ("first event on a fresh app (builds it)", "first_event"),
    ):
        s = result[key]
        print(
            f"{label:44} {s['n']:>4} {s['wall_ms']:>8.1f} {s['wall_p90_ms']:>7.1f} "
            f"{s['cpu_ms']:>7.1f} {s['api_calls']:>9.0f} {s['alerts_sent']:>5} "
            f"{s['wall_ms'] / event_ms:>8.2f}"
        )
    print(
        f"webhook messages accepted by the sink (signature verified): "
        f"{result['webhook_deliveries']}, for {result['alerts_told']} alerts told in all runs"
    )
    for label, key in (("event", "event_calls_by_action"), ("timer", "poll_calls_by_action")):
        calls = ", ".join(f"{action} {n}" for action, n in sorted(result[key].items()))
        print(f"API calls of all {label} runs: {calls}")
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
