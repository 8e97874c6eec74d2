"""Fleets: a timer poll of many accounts and regions at real API latency, one by one vs at once.

Each measured pass is a fresh process running one invocation through
``lib.edges.entry.handle`` (so wall time includes the interpreter's start and imports, as an
FC cold start would), against the Cloud Assistant and
STS fakes in one separate ``spawn``-ed process (threaded servers), every answer delayed by
the injected latency. Cases:

1. **25 regions × 1 account × 2 sources at 200 ms a call, ``ASSISTWATCH_API_QPS=100``**:
   steady state (nothing new since the last pass). Target: ≤ 6 s wall, process start included.
2. **25 regions × 1 account at 150 ms**, default budget: steady state.
3. **20 accounts × 10 regions (200 scopes) at 150 ms**, default budget, the 19 member
   accounts reached through STS AssumeRole (150 ms too): steady state. Target: ≤ 15 s.
4. **The first pass over 100k execution records spread across 25 regions** (4k each,
   every one inside the look-back) at 150 ms: wall and peak RSS (``VmHWM``).

Every case runs sequentially (``ASSISTWATCH_CONCURRENCY=1``, the baseline) and at the default
concurrency, in the same run, each from the same primed state.

    .venv/bin/python bench/fleet.py                 # every case
    .venv/bin/python bench/fleet.py --cases 1,3 --json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

# Real region ids (ASSISTWATCH_REGIONS validates their form); the fake answers any of them.
REGIONS = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-qingdao",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
)
KEY_ID, KEY_SECRET = "LTAIfakeBench01", "fake-bench-secret-not-a-real-one"
MEMBER = "acs:ram::{:016d}:role/assistwatch"
DEFAULT_CONCURRENCY = "16"  # lib.support.settings default
_TIMER = json.dumps({"triggerTime": "2026-12-06T08:00:00Z", "triggerName": "timer"})


@dataclass(frozen=True)
class Case:
    number: int
    title: str
    accounts: int  # 1 = the function's own account only
    regions: int
    latency: float
    qps: str | None = None  # None: the default budget
    records: int = 0  # records per region in the history (0: a small steady history)
    first_pass: bool = False  # measure the first pass (else: steady state after a primer)
    target_s: float | None = None


CASES = (
    Case(1, "25 regions × 2 sources, 200 ms, QPS 100", 1, 25, 0.200, qps="100", target_s=6.0),
    Case(2, "25 regions × 2 sources, 150 ms", 1, 25, 0.150),
    Case(3, "20 accounts × 10 regions, 150 ms", 20, 10, 0.150, target_s=15.0),
    Case(
        4,
        "first pass, 100k records over 25 regions, 150 ms",
        1,
        25,
        0.150,
        records=4000,
        first_pass=True,
    ),
)


# --- the fakes' process ------------------------------------------------------------------


def _serve(conn: Connection, case: Case) -> None:
    """Child process: the fakes with latency; answers "calls" and "stop"."""
    import socketserver

    from bench.fakeproc import Shape, _build
    from tests.fakes.cloudassist import CloudAssistantFake
    from tests.fakes.dataset import Dataset
    from tests.fakes.sts import StsFake

    socketserver.StreamRequestHandler.disable_nagle_algorithm = True  # see bench/fakeproc.py

    class SlowSts(StsFake):
        def _process(self, request: Any) -> tuple[int, bytes]:
            time.sleep(case.latency)
            return super()._process(request)

    regions = REGIONS[: case.regions]
    if case.records:
        datasets = {region: _build(Shape(records=case.records, fanout=10)) for region in regions}
    else:
        small = _build(Shape(records=200, fanout=10))
        datasets = dict.fromkeys(regions, small)
    roles = [MEMBER.format(n) for n in range(1, case.accounts)]
    cloud = CloudAssistantFake({KEY_ID: KEY_SECRET}, dataset=Dataset(), regions=datasets)
    cloud.slow(case.latency)
    sts = SlowSts({KEY_ID: KEY_SECRET}, grants={KEY_ID: roles}, targets=[cloud])
    with cloud, sts:
        conn.send((cloud.url, sts.url))
        while True:
            ask = conn.recv()
            if ask == "calls":
                with cloud._lock:
                    count = len(cloud.calls)
                    cloud.calls.clear()
                with sts._lock:  # this pass's AssumeRole calls only
                    count += len(sts.calls)
                    sts.calls.clear()
                conn.send(count)
            else:
                conn.send(None)
                return


class Fakes:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.cloud_url = self.sts_url = ""

    def __enter__(self) -> Fakes:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.case), daemon=True)
        self._process.start()
        self.cloud_url, self.sts_url = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(EOFError, OSError):
            self._conn.send("stop")
            self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# --- one pass: a fresh process ------------------------------------------------------------


def child(*, fc: bool = False) -> int:
    """One invocation through ``lib.edges.entry.handle`` (the path FC takes), the event on
    stdin (default a timer's), the credentials from the environment; one JSON line out: the
    report and peak RSS. ``fc``: the context names the function (a coordinator or a shard on
    FC); without it a pass never fans out, as before fan-out existed."""
    from types import SimpleNamespace

    from lib.edges.entry import handle

    event = sys.stdin.buffer.read() if fc else _TIMER.encode()
    function = SimpleNamespace(name="assistwatch" if fc else None, timeout=600)
    context = SimpleNamespace(request_id=f"bench-{os.getpid()}", function=function)
    context.region = "cn-hangzhou"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        answer = handle(event, context, environ=os.environ, stream=io.StringIO())
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    report = json.loads(answer if isinstance(answer, str) else answer["body"])
    print(json.dumps({"report": report, "rss_mb": rss}))
    return 0


def one_pass(case: Case, fakes: Fakes, state: Path, concurrency: str) -> dict[str, Any]:
    env = _env(case, fakes, state, concurrency)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report = result["report"]
    return {
        "wall_s": wall,
        "ok": report.get("ok"),
        "errors": report.get("errors", []),
        "api_calls": report.get("api_calls"),
        "fake_calls": fakes_calls(fakes),
        "records": report.get("records"),
        "run_ms": report.get("duration_ms"),
        "rss_mb": result["rss_mb"],
    }


def _fc_process(env: dict[str, str], event: bytes) -> tuple[float, dict[str, Any]]:
    """A fresh process running one FC invocation; (wall seconds, its report and peak RSS)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-fc"],
        cwd=ROOT,
        env=env,
        input=event,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return time.perf_counter() - started, result


def fanout_pass(case: Case, fakes: Fakes, state: Path, shards: int) -> dict[str, Any]:
    """The timer invocation as a coordinator: it invokes the local FC (lib/edges/serve.py's
    InvokeFunction, ACS3-checked, 202 at once) once per shard; each shard is a fresh process.
    Wall: from the coordinator's start until the slowest shard has ended."""
    import logging

    import flask
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    from lib.edges.serve import make_target

    env = _env(case, fakes, state, DEFAULT_CONCURRENCY)
    env["ASSISTWATCH_SHARDS"] = str(shards)
    ended: list[tuple[float, dict[str, Any]]] = []

    def entry(event: Any, context: Any) -> str:  # one FC instance per shard
        ended.append(_fc_process(env, event))
        return "{}"

    keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET}
    target = make_target(environ=keys, entry=entry, stdout=io.StringIO())
    app = flask.Flask("local-fc")
    app.add_url_rule("/<path:path>", "fc", lambda path: target(flask.request), methods=["POST"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env["ASSISTWATCH_FC_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"
    try:
        started = time.perf_counter()
        coordinator_s, coordinator = _fc_process(env, _TIMER.encode())
        dispatched = int(coordinator["report"].get("shards") or 0)
        while len(ended) < dispatched and time.perf_counter() - started < 600:
            time.sleep(0.05)
        wall = time.perf_counter() - started
    finally:
        server.shutdown()
    reports = [coordinator["report"], *(result["report"] for _, result in ended)]
    return {
        "wall_s": wall,
        "coordinator_s": coordinator_s,
        "slowest_shard_s": max((s for s, _ in ended), default=0.0),
        "shards": dispatched,
        "ok": all(r.get("ok") for r in reports) and len(ended) == dispatched,
        "errors": [e for r in reports for e in r.get("errors", [])],
        "api_calls": sum(int(r.get("api_calls") or 0) for r in reports),
        "fake_calls": fakes_calls(fakes),
        "rss_mb": max(result["rss_mb"] for result in [coordinator, *(r for _, r in ended)]),
    }


def _env(case: Case, fakes: Fakes, state: Path, concurrency: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASSISTWATCH_")},
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        "ASSISTWATCH_REGIONS": ",".join(REGIONS[: case.regions]),
        "ASSISTWATCH_ECS_ENDPOINT": fakes.cloud_url,
        "ASSISTWATCH_STS_ENDPOINT": fakes.sts_url,
        "ASSISTWATCH_STATE_URL": f"file://{state}",
        "ASSISTWATCH_LOOKBACK": "7d" if case.records else "1h",
        "ASSISTWATCH_CONCURRENCY": concurrency,
        "ASSISTWATCH_CONSOLE": "true",  # a receiver: the messages go to the child's stdout
        "PYTHONPATH": str(ROOT),
    }
    if case.qps:
        env["ASSISTWATCH_API_QPS"] = case.qps
    if case.accounts > 1:
        env["ASSISTWATCH_ACCOUNTS"] = ",".join(MEMBER.format(n) for n in range(1, case.accounts))
    return env


def fakes_calls(fakes: Fakes) -> int:
    fakes._conn.send("calls")
    count: int = fakes._conn.recv()
    return count


def run_case(case: Case, shards: int = 0) -> dict[str, Any]:
    print(f"case {case.number}: {case.title} …", file=sys.stderr, flush=True)
    rows: dict[str, Any] = {}
    with Fakes(case) as fakes:
        for label, concurrency in (("sequential", "1"), ("concurrent", DEFAULT_CONCURRENCY)):
            with tempfile.TemporaryDirectory() as state:
                if not case.first_pass:  # prime: the first pass writes the watermarks
                    one_pass(case, fakes, Path(state), DEFAULT_CONCURRENCY)
                rows[label] = one_pass(case, fakes, Path(state), concurrency)
            print(f"  {label}: {rows[label]['wall_s']:.1f} s", file=sys.stderr, flush=True)
        if shards >= 2 and not case.first_pass:
            with tempfile.TemporaryDirectory() as state:
                one_pass(case, fakes, Path(state), DEFAULT_CONCURRENCY)  # prime
                fakes_calls(fakes)
                rows["fanout"] = fanout_pass(case, fakes, Path(state), shards)
            fan = rows["fanout"]
            print(
                f"  fan-out: {fan['wall_s']:.1f} s ({fan['shards']} shards, coordinator "
                f"{fan['coordinator_s']:.1f} s, slowest shard {fan['slowest_shard_s']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return {"case": case.number, "title": case.title, "target_s": case.target_s, **rows}


def _table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'case':<52} {'scopes':>6} {'calls':>6} {'sequential s':>12} {'concurrent s':>12} "
        f"{'speed-up':>8} {'target':>8} {'peak RSS MB':>11}"
    ]
    for r in results:
        case = next(c for c in CASES if c.number == r["case"])
        seq, con = r["sequential"], r["concurrent"]
        target = f"≤ {r['target_s']:.0f} s" if r["target_s"] else ""
        verdict = (
            "" if not r["target_s"] else (" met" if con["wall_s"] <= r["target_s"] else " MISSED")
        )
        lines.append(
            f"{r['case']}. {r['title']:<49} {case.accounts * case.regions:>6} "
            f"{con['fake_calls']:>6} {seq['wall_s']:>12.1f} {con['wall_s']:>12.1f} "
            f"{seq['wall_s'] / con['wall_s']:>7.1f}x {target:>8}{verdict} "
            f"{seq['rss_mb']:>5.1f}/{con['rss_mb']:.1f}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="1,2,3,4", help="comma list of case numbers")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--fanout", type=int, default=4, help="shards of the fan-out row (0: no fan-out row)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-fc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.child_fc:
        return child(fc=args.child_fc)
    wanted = {int(n) for n in args.cases.split(",") if n.strip()}
    results = [run_case(case, args.fanout) for case in CASES if case.number in wanted]
    for r in results:
        for label in ("sequential", "concurrent"):
            if not r[label]["ok"]:
                print(
                    f"warning: case {r['case']} {label} reported errors: {r[label]['errors'][:3]}",
                    file=sys.stderr,
                )
    print(
        f"fleet poll, each pass a fresh process through lib.edges.entry (start included); fakes in "
        f"their own process, every API answer delayed by the case's latency; sequential = "
        f"ASSISTWATCH_CONCURRENCY=1, concurrent = the default ({DEFAULT_CONCURRENCY}); "
        f"{os.cpu_count()} CPUs (python {sys.version.split()[0]})"
    )
    print("\n".join(_table(results)))
    print(
        "calls = API calls the fakes served in the concurrent pass (STS included); peak RSS = sequential/concurrent"
    )
    for r in results:
        if "fanout" in r:
            fan = r["fanout"]
            print(
                f"{r['case']}. fan-out, {fan['shards']} shards (each a fresh process through the "
                f"local FC): {fan['wall_s']:.1f} s wall (coordinator {fan['coordinator_s']:.1f} s, "
                f"slowest shard {fan['slowest_shard_s']:.1f} s), {fan['fake_calls']} calls, "
                f"peak RSS {fan['rss_mb']:.1f} MB{'' if fan['ok'] else ' ERRORS: ' + str(fan['errors'][:2])}"
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
