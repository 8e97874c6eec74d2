"""Randomised fault schedules against the real app: count lost and duplicated alerts.

Each schedule starts from an empty state directory over the demo scenario (8 failures to
tell), runs the timer a few times under random faults — Cloud Assistant throttling, 5xx,
dropped connections, timeouts and truncated JSON; receiver failures and 130101; store outages
and version conflicts; the process killed at a random store call or around a random send;
FC retrying the same event; two runs overlapping — then lets the faults stop and every lease
end and runs the timer until all is quiet. It counts:

- lost: expected alerts never told;
- documented duplicates: a claim sent again before any confirm (its sender died or lost the
  store between send and confirm: the state protocol's at-least-once);
- duplicates beyond the protocol: a claim sent again after it was confirmed.

    .venv/bin/python bench/reliability.py --runs 500 --seed 1     # prints a markdown table
    .venv/bin/python bench/reliability.py --runs 300 --single     # one kind of fault each
    .venv/bin/python bench/reliability.py --runs 200 --backend ots   # or oss: fakes + real SDKs
    .venv/bin/python bench/reliability.py --runs 500 --json       # the same as JSON
    .venv/bin/python bench/reliability.py --processes --runs 300 --backend ots   # SIGKILLed
        # processes, the real DingTalk HTTP path (late answers, 5xx, 130101), watch requests
        # and hostile content: bench/reliability_procs.py

The fast part (a few dozen schedules) runs in ``make test`` (tests/test_reliability.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the repo's lib and tests
    sys.path.insert(0, str(ROOT))

from lib.support.errors import ReceiverRateLimited, ReceiverTransientError  # noqa: E402
from tests.chaos import STORE_METHODS, FaultyStore, World  # noqa: E402
from tests.fakes.cloudassist import CloudAssistantFake  # noqa: E402
from tests.fakes.scenario import demo_dataset  # noqa: E402

__all__ = ["COMPANIONS", "FAULTS", "Result", "main", "run_many", "run_schedule", "table"]

# Every fault a schedule can draw; the docs table has one row per name.
FAULTS = (
    "api throttling burst",
    "api 5xx burst",
    "api dropped connections",
    "api timeouts",
    "api truncated JSON",
    "receiver 5xx / timeout",
    "receiver 130101",
    "store outage (one call)",
    "store outage (several calls)",
    "store version conflicts",
    "killed at a store call",
    "killed before a send",
    "killed after a send, before confirm",
    "FC retries the same event",
    "two timer runs overlap",
)

# What makes FC retry an event, or meets one of two overlapping runs.
COMPANIONS = FAULTS[:-2]


@dataclass
class Result:
    """One schedule's outcome."""

    seed: int
    faults: list[str] = field(default_factory=list)
    runs: int = 0
    lost: int = 0
    documented: int = 0  # re-sent before any confirm: allowed by the protocol
    beyond: int = 0  # re-sent after a confirm: a bug
    settle_errors: list[str] = field(default_factory=list)  # runs that failed once faults stopped


def _inject(  # noqa: PLR0912 - one branch per fault in the catalogue
    world: World, store: FaultyStore, rng: random.Random, fault: str | None = None
) -> str:
    """Arm ``fault`` (default: a random one) for the next run; return its name."""
    fault = fault or rng.choice(FAULTS)
    burst = rng.randint(1, 6)  # 1-3 is absorbed by the client's 4 attempts, 4+ fails the run
    port = int(world.cloud.url.rsplit(":", 1)[1])
    people = world.people
    if fault == "api throttling burst":
        world.cloud.fail_next(burst, code=rng.choice(["Throttling", "Throttling.User"]))
    elif fault == "api 5xx burst":
        world.cloud.fail_next(burst, code="ServiceUnavailable", status=503)
    elif fault == "api dropped connections":
        world.cloud.drop_connection_next(burst)
    elif fault == "api timeouts":
        world.transport.inject(port, "timeout", burst)
    elif fault == "api truncated JSON":
        world.cloud.garbage_next(1)
    elif fault == "receiver 5xx / timeout":
        people.failures[people.sends + rng.randint(1, 4)] = ReceiverTransientError(
            people.name, rng.choice(["HTTP 502", "timed out", "network error ConnectError"])
        )
    elif fault == "receiver 130101":
        people.failures[people.sends + rng.randint(1, 4)] = ReceiverRateLimited(
            people.name, "130101 sending too fast: robot paused", pause_seconds=600
        )
    elif fault == "store outage (one call)":
        store.fail_at = (rng.choice(STORE_METHODS), rng.randint(1, 6))
    elif fault == "store outage (several calls)":
        store.down_for = rng.randint(1, 20)
    elif fault == "store version conflicts":
        store.conflicts = rng.randint(1, 6)
    elif fault == "killed at a store call":
        store.kill_at = (
            rng.choice(STORE_METHODS),
            rng.randint(1, 8),
            rng.choice(["before", "after"]),
        )
    elif fault == "killed before a send":
        people.kill_at = (people.sends + rng.randint(1, 6), "before")
    elif fault == "killed after a send, before confirm":
        people.kill_at = (people.sends + rng.randint(1, 6), "after")
    return fault


def run_schedule(
    seed: int,
    directory: Path,
    cloud: CloudAssistantFake,
    *,
    steps: int = 4,
    only: str | None = None,
    backend: str = "file",
) -> Result:
    """One random schedule on a fresh state directory; the Cloud Assistant fake is shared.

    Args:
        seed: drives every random choice, so a schedule can be replayed.
        directory: an empty directory for the file store.
        cloud: a started Cloud Assistant fake serving the demo scenario.
        steps: at most this many faulty runs before the faults stop.
        only: the one fault every faulty run meets (its parameters still random).
        backend: the state store: "file", "oss" or "ots" (their fakes, the real SDKs).
    """
    rng = random.Random(seed)
    world = World.start(directory, cloud=cloud, backend=backend)
    try:
        return _play(world, rng, Result(seed=seed), steps, only)
    finally:
        world.stop()


def _play(world: World, rng: random.Random, result: Result, steps: int, only: str | None) -> Result:
    """Up to ``steps`` faulty runs, then the faults stop and the timer runs until all is told."""
    seed = result.seed
    world.now = datetime.now(timezone.utc)
    for step in range(rng.randint(1, steps)):
        store = world.store()
        fault = _inject(world, store, rng, only)
        result.faults.append(fault)
        request_id = f"s{seed}-{step}"
        if fault == "FC retries the same event":  # after a run that met a fault of its own
            _inject(world, store, rng, rng.choice(COMPANIONS))
        if fault == "two timer runs overlap":
            other = world.store()
            if rng.random() < 0.5:  # the second instance may meet a fault of its own
                _inject(world, other, rng, rng.choice(COMPANIONS))
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(world.run, [world.app(store), world.app(other)]))
            result.runs += 2
        else:
            world.run(world.app(store), request_id=request_id)
            result.runs += 1
            if fault == "FC retries the same event":
                world.run(world.app(world.store()), request_id=request_id)
                result.runs += 1
        world.now += timedelta(seconds=rng.choice([0, 30, 60, 300]))
    # The faults stop: no armed fault may fire while settling.
    world.people.failures.clear()
    world.people.kill_at = None
    world.transport.clear()
    world.cloud.clear_faults()
    world.now += timedelta(seconds=900)
    for _ in range(3):
        outcome = world.run()
        result.runs += 1
        if outcome.error is not None:
            result.settle_errors.append(repr(outcome.error))
        elif outcome.report is not None and outcome.report.errors:
            result.settle_errors += outcome.report.errors
        world.now += timedelta(seconds=60)
    result.lost = world.people.lost()
    result.documented, result.beyond = world.journal.duplicates()
    return result


def run_many(runs: int, seed: int, *, single: bool = False, backend: str = "file") -> list[Result]:
    """``runs`` schedules with seeds ``seed .. seed + runs - 1``.

    ``single``: each schedule meets one kind of fault only (taken in turn), so the table
    attributes every count to the fault that caused it; otherwise faults mix at random.
    """
    cloud = CloudAssistantFake(dataset=demo_dataset(datetime.now(timezone.utc))).start()
    try:
        with tempfile.TemporaryDirectory(prefix="aw-reliability-") as tmp:
            return [
                run_schedule(
                    seed + n,
                    Path(tmp) / f"s{n}",
                    cloud,
                    only=FAULTS[n % len(FAULTS)] if single else None,
                    backend=backend,
                )
                for n in range(runs)
            ]
    finally:
        cloud.stop()


def table(results: list[Result]) -> str:
    """Per fault: schedules it appeared in, lost alerts, documented and other duplicates."""
    seen: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    documented: Counter[str] = Counter()
    beyond: Counter[str] = Counter()
    for result in results:
        for fault in set(result.faults):
            seen[fault] += 1
            lost[fault] += result.lost
            documented[fault] += result.documented
            beyond[fault] += result.beyond
    rows = [
        "| fault | schedules with it | alerts lost | duplicates (send → death → resend) | duplicates beyond the protocol |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for fault in FAULTS:
        rows.append(
            f"| {fault} | {seen[fault]} | {lost[fault]} | {documented[fault]} | {beyond[fault]} |"
        )
    total_runs = sum(result.runs for result in results)
    rows.append(
        f"| **all {len(results)} schedules ({total_runs} runs)** | {len(results)} | "
        f"{sum(r.lost for r in results)} | {sum(r.documented for r in results)} | "
        f"{sum(r.beyond for r in results)} |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the schedules, print the table (or JSON); exit 1 if anything was lost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="schedules to run (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument(
        "--single", action="store_true", help="one kind of fault per schedule, taken in turn"
    )
    parser.add_argument(
        "--backend", choices=["file", "oss", "ots"], default="file", help="the state store"
    )
    parser.add_argument("--json", action="store_true", help="print every result as JSON")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="runs in processes SIGKILLed at random moments, the real DingTalk HTTP path "
        "with late answers / 5xx / 130101, watch requests and hostile content",
    )
    parser.add_argument(
        "--surrogates",
        action="store_true",
        help="with --processes: also a command name holding a lone surrogate",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.processes:
        return _main_processes(args, started)
    results = run_many(args.runs, args.seed, single=args.single, backend=args.backend)
    if args.json:
        print(json.dumps([result.__dict__ for result in results], indent=1))
    else:
        print(table(results))
        mode = "one kind of fault each" if args.single else "faults mixed at random"
        print(
            f"\n{args.runs} schedules ({mode}, {args.backend} store), seeds {args.seed}..{args.seed + args.runs - 1}, "
            f"{time.monotonic() - started:.0f} s"
        )
    bad = [r for r in results if r.lost or r.beyond or r.settle_errors]
    for result in bad:
        print(f"seed {result.seed}: {result}", file=sys.stderr)
    return 1 if bad else 0


def _main_processes(args: argparse.Namespace, started: float) -> int:
    """``--processes``: real deaths and the real DingTalk path (bench/reliability_procs.py)."""
    from bench.reliability_procs import proc_table, run_proc_schedules

    results = run_proc_schedules(
        args.runs, args.seed, backend=args.backend, surrogates=args.surrogates
    )
    if args.json:
        print(json.dumps([result.__dict__ for result in results], indent=1, ensure_ascii=False))
    else:
        print(proc_table(results))
        print(
            f"\n{args.runs} schedules (processes SIGKILLed, real DingTalk HTTP, watches, hostile "
            f"content{', lone surrogates' if args.surrogates else ''}; {args.backend} store), "
            f"seeds {args.seed}..{args.seed + args.runs - 1}, {time.monotonic() - started:.0f} s"
        )
    bad = [r for r in results if r.lost or r.beyond or r.settle_errors]
    for result in bad:
        print(f"seed {result.seed}: {result}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
