"""Fleets: a timer poll of many accounts and regions at real API latency, one by one vs at once.

Each measured pass is a fresh ``python -m lib run`` process (so wall time includes the
interpreter's start and imports, as an FC cold start would), against the Cloud Assistant and
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
                conn.send(count + sts.count())
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


def child() -> int:
    """``python -m lib run`` in this process; one JSON line: the report and peak RSS."""
    from lib.edges.cli import main as cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["run", "--timeout", "600"])
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    text = out.getvalue()  # the console receiver's messages, then the report (indented JSON)
    start = text.rfind("\n{\n") + 1 if not text.startswith("{\n") else 0
    print(json.dumps({"code": code, "report": json.loads(text[start:]), "rss_mb": rss}))
    return 0


def one_pass(case: Case, fakes: Fakes, state: Path, concurrency: str) -> dict[str, Any]:
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
        "PYTHONPATH": str(ROOT),
    }
    if case.qps:
        env["ASSISTWATCH_API_QPS"] = case.qps
    if case.accounts > 1:
        env["ASSISTWATCH_ACCOUNTS"] = ",".join(MEMBER.format(n) for n in range(1, case.accounts))
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


def fakes_calls(fakes: Fakes) -> int:
    fakes._conn.send("calls")
    count: int = fakes._conn.recv()
    return count


def run_case(case: Case) -> dict[str, Any]:
    print(f"case {case.number}: {case.title} …", file=sys.stderr, flush=True)
    rows: dict[str, Any] = {}
    with Fakes(case) as fakes:
        for label, concurrency in (("sequential", "1"), ("concurrent", DEFAULT_CONCURRENCY)):
            with tempfile.TemporaryDirectory() as state:
                if not case.first_pass:  # prime: the first pass writes the watermarks
                    one_pass(case, fakes, Path(state), DEFAULT_CONCURRENCY)
                rows[label] = one_pass(case, fakes, Path(state), concurrency)
            print(f"  {label}: {rows[label]['wall_s']:.1f} s", file=sys.stderr, flush=True)
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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()
    wanted = {int(n) for n in args.cases.split(",") if n.strip()}
    results = [run_case(case) for case in CASES if case.number in wanted]
    for r in results:
        for label in ("sequential", "concurrent"):
            if not r[label]["ok"]:
                print(
                    f"warning: case {r['case']} {label} reported errors: {r[label]['errors'][:3]}",
                    file=sys.stderr,
                )
    print(
        f"fleet poll, each pass a fresh `python -m lib run` process (start included); fakes in "
        f"their own process, every API answer delayed by the case's latency; sequential = "
        f"ASSISTWATCH_CONCURRENCY=1, concurrent = the default ({DEFAULT_CONCURRENCY}); "
        f"{os.cpu_count()} CPUs (python {sys.version.split()[0]})"
    )
    print("\n".join(_table(results)))
    print(
        "calls = API calls the fakes served in the concurrent pass (STS included); peak RSS = sequential/concurrent"
    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
