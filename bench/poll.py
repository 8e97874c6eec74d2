"""A timer poll over 1k, 10k and 100k execution records, then steady state, beside a floor.

Each size runs in a fresh interpreter (so its peak RSS is its own), which starts the Cloud
Assistant fake in a separate process (so the fake's dataset is not counted) and runs the
real app (signed client, paging, file state, outbox) with a receiver that only counts:

1. **first run**: every record inside the look-back (worst case: every page is read, and
   one execution in ``--failure-every`` is a failure to claim and send);
2. **second run** and **steady state** (a third run), nothing new: API calls and state
   writes (claims, confirms, record writes, counted by a wrapping store).

The floor is an idle interpreter that imported the same modules as the 1k run and built
the same app: peak RSS above it is what the pass itself costs.

    .venv/bin/python bench/poll.py                      # 1k, 10k, 100k
    .venv/bin/python bench/poll.py --sizes 1000 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

API_QPS = "1000"  # the highest ASSISTWATCH_API_QPS accepts: the cap is not what is measured
LOOKBACK = "7d"  # the history spans 6 days: every record is inside the look-back
TIMEOUT_SECONDS = 3600.0  # FC's maximum; a 600 s default would cut a slow 100k pass short


def _peak_rss_mb() -> float:
    # VmHWM, this process's own high-water mark: Linux carries ru_maxrss over exec, so a
    # child started by a bigger parent would report the parent's size (bench/cold_start.py).
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(endpoint: str, state_dir: Path) -> tuple[Any, Any, Any]:
    """The app as the handler builds it, with a counting store and a counting receiver."""
    from pydantic import SecretStr

    from bench.stores import CountingReceiver, CountingStore
    from lib.app import build_app
    from lib.state.file import FileStore
    from lib.support.credentials import Credentials
    from lib.support.log import configure
    from lib.support.settings import load_settings
    from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET

    configure(open(_devnull(), "w"))  # noqa: SIM115  # the run's log lines: not measured
    settings = load_settings(
        {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": endpoint,
            "ASSISTWATCH_LOOKBACK": LOOKBACK,
            "ASSISTWATCH_API_QPS": API_QPS,
            "ASSISTWATCH_SHOW_OUTPUT": "false",
        }
    )
    store = CountingStore(FileStore(state_dir))
    receiver = CountingReceiver()
    app = build_app(
        settings, store=store, receivers={receiver.name: receiver}, sleep=lambda _: None
    )
    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    return app, store, credentials


def _devnull() -> str:
    import os

    return os.devnull


def _one_run(app: Any, store: Any, credentials: Any, fake: Any, name: str) -> dict[str, Any]:
    from lib.app import Invocation
    from lib.core.triggers import Poll

    writes = store.writes
    wall, cpu = time.perf_counter(), time.process_time()
    report = app.run(Poll(origin="timer"), Invocation(name, credentials, None, TIMEOUT_SECONDS))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    served = fake.calls()
    return {
        "ok": report.ok,
        "errors": report.errors,
        "wall_s": wall,
        "cpu_s": cpu,
        "api_calls": report.api_calls,
        "fake_calls": sum(served.values()),
        "calls_by_action": served,
        "fake_cpu_s": fake.last_cpu_s,
        "records": report.records,
        "findings": report.findings,
        "alerts_sent": report.alerts_sent,
        "state_writes": store.writes - writes,
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker(records: int, fanout: int, failure_every: int) -> dict[str, Any]:
    """One size in this (fresh) interpreter: first run, second run, steady state."""
    from bench.fakeproc import FakeProcess, Shape

    shape = Shape(records=records, fanout=fanout, failure_every=failure_every)
    print(f"{records:>7} records: building the fake's history …", file=sys.stderr, flush=True)
    with FakeProcess(shape) as fake, tempfile.TemporaryDirectory() as state:
        app, store, credentials = _build(fake.url, Path(state))
        ready_rss = _peak_rss_mb()
        print(f"{records:>7} records: first run …", file=sys.stderr, flush=True)
        first = _one_run(app, store, credentials, fake, "first")
        print(
            f"{records:>7} records: first run took {first['wall_s']:.1f} s; steady state …",
            file=sys.stderr,
            flush=True,
        )
        second = _one_run(app, store, credentials, fake, "second")
        steady = _one_run(app, store, credentials, fake, "steady")
    return {
        "records": records,
        "fanout": fanout,
        "ready_rss_mb": ready_rss,
        "first": first,
        "second": second,
        "steady": steady,
        "modules": sorted(sys.modules),
    }


def floor(modules: list[str], endpoint: str) -> dict[str, Any]:
    """An idle interpreter: the poll's modules imported and the app built, nothing run."""
    import importlib

    for name in modules:
        if name == "__main__" or name.startswith("__mp_main__"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # a platform-only submodule: not ours to load
            continue
    with tempfile.TemporaryDirectory() as state:
        _build(endpoint, Path(state))
        return {"peak_rss_mb": _peak_rss_mb(), "modules": len(modules)}


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _table(results: list[dict[str, Any]], base: dict[str, Any]) -> list[str]:
    lines = [
        f"{'records':>8} {'pages':>6} {'wall s':>7} {'CPU s':>6} {'fake CPU s':>10} {'peak RSS MB':>11} "
        f"{'over floor':>10} {'told':>5} | {'steady calls':>12} {'vs 1k':>6} "
        f"{'steady writes':>13} {'2nd-run writes':>14}"
    ]
    base_calls = results[0]["steady"]["api_calls"] or 1
    for r in results:
        first, steady = r["first"], r["steady"]
        lines.append(
            f"{r['records']:>8} {first['api_calls']:>6} {first['wall_s']:>7.1f} "
            f"{first['cpu_s']:>6.1f} {first['fake_cpu_s']:>10.1f} {first['peak_rss_mb']:>11.1f} "
            f"{first['peak_rss_mb'] - base['peak_rss_mb']:>+10.1f} {first['alerts_sent']:>5} | "
            f"{steady['api_calls']:>12} {steady['api_calls'] / base_calls:>6.2f} "
            f"{steady['state_writes']:>13} {r['second']['state_writes']:>14}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma list of records")
    parser.add_argument("--fanout", type=int, default=10, help="instances per invocation")
    parser.add_argument("--failure-every", type=int, default=100, help="1 failure in N")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.fanout, args.failure_every)))
        return 0
    if args.floor is not None:
        print(json.dumps(floor(json.loads(Path(args.floor).read_text()), "http://127.0.0.1:9")))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    common = ["--fanout", str(args.fanout), "--failure-every", str(args.failure_every)]
    results = [_child(["--worker", str(size), *common]) for size in sizes]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(results[0]["modules"], handle)
    base = _child(["--floor", handle.name])
    Path(handle.name).unlink()
    for r in results:
        r.pop("modules")
        if not all(r[run]["ok"] for run in ("first", "second", "steady")):
            print(f"warning: a {r['records']} run reported errors: {r}", file=sys.stderr)

    print(
        f"poll over N execution records ({args.fanout} instances per invocation, 1 failure in "
        f"{args.failure_every}, all inside the {LOOKBACK} look-back); ASSISTWATCH_API_QPS="
        f"{API_QPS} so the client-side cap is not what is measured; the fake runs in its own "
        f"process (python {sys.version.split()[0]})"
    )
    print(
        f"floor: an idle interpreter with the same {base['modules']} modules imported and the "
        f"app built: {base['peak_rss_mb']:.1f} MB peak RSS"
    )
    print("\n".join(_table(results, base)))
    print(
        "pages = API calls of the first run; CPU = the poll's process; fake CPU = the fake's "
        "process answering them; told = alerts sent; steady = a third run with nothing new; "
        "vs 1k = steady calls / the 1k steady calls"
    )
    if args.json:
        print(json.dumps({"floor": base, "sizes": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
