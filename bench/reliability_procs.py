"""Randomised schedules with real process deaths and the real DingTalk HTTP path.

Where bench/reliability.py simulates a death in-process and hands messages to an in-process
receiver, a schedule here runs the watcher as FC would run it and lets it die for real:

- **SIGKILL**: a run in a process of its own (bench/reliability_child.py) is killed at a
  random moment (uniform over a run's usual length), then the clock passes every lease;
- **the real DingTalk path**: every message is signed, POSTed over HTTP and checked by the
  DingTalk fake (加签, 20 a minute, 20,000 bytes), which can answer **late** (after the
  client's read timeout: the message was taken, the client cannot know), **5xx** or
  **130101** (robot told to slow down: paused 10 minutes across runs);
- **watch requests**: three Lingjun jobs (two failing) are watched by a request that may be
  killed too; FC retries an invocation that died, so an unfinished one is sent again;
- **hostile content**: failing commands named with markdown headings, backticks, mention
  syntax (``<at id=all></at>``, ``<@all>``, ``@所有人``), links and HTML, with such output;
  ``--surrogates`` adds a command name holding a lone surrogate;
- Cloud Assistant 5xx bursts and two runs overlapping (two processes at once).

Counted from what the DingTalk fake accepted (each alert by its invoke id and instance,
which every message names verbatim) and from the journal the runs append to the moment the
store answers (claims and confirms):

- lost: an expected failure never accepted by the robot;
- duplicates, send → death → resend: a copy accepted before any confirm of that alert,
  its sender killed before confirming (unmarked);
- duplicates, late answer → one marked resend: a copy marked 可能重复, before any confirm;
- beyond the protocol: a copy accepted after the alert was confirmed, or a run failing once
  the faults stopped. Must be 0.

    .venv/bin/python bench/reliability.py --processes --runs 300 --backend file --seed 1
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.reliability_child import run_once  # noqa: E402
from tests.fakes.cloudassist import (  # noqa: E402
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    CloudAssistantFake,
)
from tests.fakes.dataset import (  # noqa: E402
    Dataset,
    command,
    eflo_command,
    eflo_invoke_id,
    node_id,
    run,
)
from tests.fakes.dingtalk import DingTalkFake  # noqa: E402
from tests.fakes.scenario import EXPECTED_ALERTS, demo_dataset  # noqa: E402

__all__ = ["PROC_FAULTS", "ProcResult", "Worlds", "proc_table", "run_proc_schedules"]

CHILD = ROOT / "bench" / "reliability_child.py"
MARK = "可能重复"
READ_TIMEOUT = 1.0  # the runs' HTTP read timeout; a late answer comes after it
LATE = READ_TIMEOUT + 0.5
ROBOT_SECRET = "SECbench0procs000000000000000000000000000000000000000000000000"

PROC_FAULTS = (
    "SIGKILL at a random moment",
    "SIGKILL during a watch request",
    "robot answers late",
    "robot 5xx",
    "robot 130101",
    "api 5xx burst",
    "two runs overlap (processes)",
)

HOSTILE_NAMES = (
    "deploy.sh`\n\n### INJECTED HEADING",
    "<at id=all></at> backup.sh",
    "@所有人 <@all> [click](http://evil.example)",
    "> quoted\n- listed *em* _u_ <b>html</b> ~~s~~",
)
HOSTILE_OUTPUT = (
    "### heading from output\n<at id=all></at> <@all> @all\n"
    "[click](http://evil.example) <script>alert(1)</script>\n`tick` **bold**\n"
)
SURROGATE_NAME = "bad\ud800name.sh"


@dataclass
class ProcResult:
    """One schedule's outcome."""

    seed: int
    faults: list[str] = field(default_factory=list)
    runs: int = 0
    kills: int = 0
    lost: int = 0
    death: int = 0  # re-accepted before any confirm, unmarked: a sender died
    late: int = 0  # re-accepted before any confirm, marked 可能重复: a lost answer
    beyond: int = 0  # re-accepted after a confirm: a bug
    settle_errors: list[str] = field(default_factory=list)
    run_errors: list[str] = field(default_factory=list)  # faulty runs' errors (expected)


def _dataset(now: datetime, surrogates: bool) -> tuple[Dataset, set[tuple[str, str]], list[str]]:
    """The demo scenario, hostile commands and Lingjun jobs to watch; (data, expected, watch)."""
    data = demo_dataset(now)
    expected = {(a.invoke_id, a.instance_id) for a in EXPECTED_ALERTS}
    names = [*HOSTILE_NAMES, *([SURROGATE_NAME] if surrogates else [])]
    for n, name in enumerate(names):
        hostile = command(
            created=now - timedelta(minutes=12 + n),
            name=name,
            cmd_id=f"c-hzhostile{n:010d}",
            invoke=f"hostile-{n}",
            instances=[
                run(f"hostile-{n}", "Failed", error_code="ExitCodeNonzero", output=HOSTILE_OUTPUT)
            ],
        )
        data.add(hostile)
        expected.add((hostile.invoke_id, hostile.instances[0].instance_id))
    watched = []
    for n, status in enumerate(("Failed", "Failed", "Running")):
        job_invoke = eflo_invoke_id(f"bench-train-{n}")
        job = eflo_command(
            created=now - timedelta(minutes=20),
            name=f"train-{n}.sh",
            invoke=job_invoke,
            nodes=[run(node_id(f"bench-gpu-{n}"), status, error_code="ExitCodeNonzero")],
        )
        data.add(job)
        watched.append(job_invoke)
        if status == "Failed":
            expected.add((job_invoke, job.instances[0].instance_id))
    return data, expected, watched


@dataclass
class Worlds:
    """The fakes every schedule shares (Cloud Assistant, DingTalk, a state backend)."""

    backend: str
    tmp: Path
    surrogates: bool = False
    now: list[float] = field(default_factory=lambda: [time.time()])
    cloud: Any = None
    robot: Any = None
    run_seconds: float = 1.5  # a whole child run, start-up included (measured at start)
    expected: set[tuple[str, str]] = field(default_factory=set)
    watched: list[str] = field(default_factory=list)
    _fakes: list[Any] = field(default_factory=list)
    state_url: str = ""
    state_endpoint: str | None = None

    def __enter__(self) -> Worlds:
        start = datetime.now(timezone.utc)
        data, self.expected, self.watched = _dataset(start, self.surrogates)
        self.cloud = CloudAssistantFake(dataset=data).start()
        self._fakes.append(self.cloud)
        clock = self.now
        self.robot = DingTalkFake(clock=lambda: clock[0]).__enter__()
        self._fakes.append(self.robot)
        from tests.chaos import open_backend

        found = open_backend(self.backend, self._fakes)
        if found is not None:
            self.state_url, self.state_endpoint = found
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in reversed(self._fakes):
            fake.__exit__(None, None, None)

    def clear_faults(self) -> None:
        self.robot.clear_faults()
        self.cloud.clear_faults()


class _Schedule:
    """One schedule: its own robot token, state location and journal."""

    def __init__(self, worlds: Worlds, seed: int) -> None:
        self.w = worlds
        self.seed = seed
        self.token = f"bench{seed + 1000:08d}".ljust(64, "0")
        self.robot_url = worlds.robot.add_robot(self.token, secret=ROBOT_SECRET)
        self.dir = worlds.tmp / f"s{seed}"
        self.dir.mkdir()
        self.journal = self.dir / "journal.jsonl"
        self.runs = 0

    def spec(self, watch: bool = False) -> dict[str, Any]:
        self.runs += 1
        return {
            "backend": self.w.backend,
            "state_dir": str(self.dir / "state"),
            "state_url": self.w.state_url,
            "state_endpoint": self.w.state_endpoint,
            "namespace": f"s{self.seed}",
            "cloud_url": self.w.cloud.url,
            "robot_url": self.robot_url,
            "robot_secret": ROBOT_SECRET,
            "access_key_id": DEMO_ACCESS_KEY_ID,
            "access_key_secret": DEMO_ACCESS_KEY_SECRET,
            "now": self.w.now[0],
            "request_id": f"s{self.seed}-{self.runs}",
            "journal": str(self.journal),
            "read_timeout": READ_TIMEOUT,
            "watch": self.w.watched if watch else None,
        }


def _spawn(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(child: subprocess.Popen[str], kill_after: float | None) -> tuple[str, str]:
    """Wait for a child, SIGKILLing it after ``kill_after`` s; ("killed"|"ok"|..., detail)."""
    try:
        out, err = child.communicate(timeout=kill_after if kill_after is not None else 120)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.communicate()
        return "killed", ""
    status = {0: "ok", 1: "raised", 2: "failed"}.get(child.returncode, "crashed")
    return status, (out.strip() or err.strip()[-400:])


def _in_process(spec: dict[str, Any]) -> tuple[str, str]:
    try:
        status, outcome = run_once(spec)
    except Exception as error:
        return "crashed", f"{type(error).__name__}: {error}"
    return {0: "ok", 1: "raised", 2: "failed"}[status], json.dumps(outcome, ensure_ascii=False)


def _errors(detail: str) -> list[str]:
    try:
        outcome = json.loads(detail)
    except ValueError:
        return [detail[-300:]]
    if "raised" in outcome:
        return [str(outcome["raised"])]
    return [str(e) for e in outcome.get("errors", [])]


def run_proc_schedule(worlds: Worlds, seed: int, *, steps: int = 4) -> ProcResult:
    """One random schedule; the fakes are shared, the state location and robot its own."""
    rng = random.Random(seed)
    s = _Schedule(worlds, seed)
    result = ProcResult(seed=seed)
    worlds.now[0] = time.time()
    watch_done = False
    for _ in range(rng.randint(1, steps)):
        fault = rng.choice(PROC_FAULTS)
        result.faults.append(fault)
        _arm(worlds, s, rng, fault)
        watch = fault == "SIGKILL during a watch request" or (not watch_done and rng.random() < 0.3)
        if fault.startswith("SIGKILL"):
            # Any instant of the process's life, start-up included (most of it on a cold
            # interpreter), up to its usual end: a kill then may also find it finished.
            kill_after = rng.uniform(0.05, worlds.run_seconds * 1.05)
            status, detail = _finish(_spawn(s.spec(watch)), kill_after)
            outcomes = [(status, detail)]
        elif fault == "two runs overlap (processes)":
            children = [_spawn(s.spec(watch)), _spawn(s.spec())]
            outcomes = [_finish(child, None) for child in children]
        else:
            outcomes = [_in_process(s.spec(watch))]
        watch_done = _record(result, outcomes, watch=watch) or watch_done
        worlds.now[0] += rng.choice([0, 30, 60, 300])
    worlds.clear_faults()
    worlds.now[0] += 900  # every lease (timeout + 60 s) and the robot's pause end
    if not watch_done:  # FC retries an invocation that died or raised until it completes
        status, detail = _in_process(s.spec(watch=True))
        result.runs += 1
        if status != "ok":
            result.settle_errors += _errors(detail)
    for _ in range(3):
        status, detail = _in_process(s.spec())
        result.runs += 1
        if status != "ok":
            result.settle_errors += _errors(detail)
        worlds.now[0] += 60
    _count(worlds, s, result)
    return result


def _arm(worlds: Worlds, s: _Schedule, rng: random.Random, fault: str) -> None:
    """Arm the fakes for ``fault`` (kills and overlaps are how the run is started)."""
    if fault == "robot answers late":
        worlds.robot.answer_late(LATE, rng.randint(1, 2))
    elif fault == "robot 5xx":
        worlds.robot.fail_next(rng.choice([500, 502, 503]), rng.randint(1, 4))
    elif fault == "robot 130101":
        worlds.robot.throttle(s.token, 600)
    elif fault == "api 5xx burst":
        worlds.cloud.fail_next(rng.randint(1, 6), code="ServiceUnavailable", status=503)


def _record(result: ProcResult, outcomes: list[tuple[str, str]], *, watch: bool) -> bool:
    """Count a step's runs; True when its watch request completed (the list was written)."""
    result.runs += len(outcomes)
    done = False
    for n, (status, detail) in enumerate(outcomes):
        result.kills += status == "killed"
        if status in ("raised", "failed", "crashed"):
            result.run_errors += _errors(detail)
        if status == "crashed":
            result.settle_errors.append(f"crashed in a faulty run: {detail[-300:]}")
        if watch and n == 0 and status in ("ok", "failed"):
            done = True  # "raised" or killed: FC retries the invocation
    return done


def _confirmed(journal: Path) -> dict[tuple[str, str], float]:
    """When each alert (invoke id, instance) was first confirmed, from the runs' journal."""
    pair_of: dict[str, tuple[str, str]] = {}
    confirmed: dict[tuple[str, str], float] = {}
    lines = journal.read_text().splitlines() if journal.exists() else []
    for entry in (json.loads(line) for line in lines if line.strip()):
        if entry[1] == "claim":
            pair_of[entry[2]] = (entry[3], entry[4])
        elif entry[1] == "confirm" and entry[2] in pair_of:
            pair = pair_of[entry[2]]
            confirmed[pair] = min(confirmed.get(pair, entry[0]), entry[0])
    return confirmed


def _count(worlds: Worlds, s: _Schedule, result: ProcResult) -> None:
    """Lost and duplicated alerts, from what the robot accepted and what the runs journaled."""
    confirmed = _confirmed(s.journal)
    copies: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    for at, body in worlds.robot.received_at(s.token):
        title, text = body["markdown"]["title"], body["markdown"]["text"]
        for pair in worlds.expected:
            if pair[0] in text and pair[1] in text:
                copies[pair].append((at, MARK in title))
    result.lost = len(worlds.expected - set(copies))
    for pair, seen in copies.items():
        for at, marked in sorted(seen)[1:]:
            if pair in confirmed and at > confirmed[pair]:
                result.beyond += 1
            elif marked:
                result.late += 1
            else:
                result.death += 1


def run_proc_schedules(
    runs: int, seed: int, *, backend: str = "file", surrogates: bool = False
) -> list[ProcResult]:
    """``runs`` schedules with seeds ``seed .. seed + runs - 1``."""
    import os

    from lib.support.log import configure

    configure(open(os.devnull, "w"))  # noqa: SIM115 - the in-process runs' log lines
    with (
        tempfile.TemporaryDirectory(prefix="aw-reliability-procs-") as tmp,
        Worlds(backend, Path(tmp), surrogates=surrogates) as worlds,
    ):
        worlds.run_seconds = _measure(worlds)
        return [run_proc_schedule(worlds, seed + n) for n in range(runs)]


def _measure(worlds: Worlds) -> float:
    """How long a child run takes here, start to exit (the median of three first runs)."""
    took = []
    for n in range(3):
        s = _Schedule(worlds, -1 - n)
        started = time.monotonic()
        _finish(_spawn(s.spec()), None)
        took.append(time.monotonic() - started)
    return sorted(took)[1]


def proc_table(results: list[ProcResult]) -> str:
    """Per fault: schedules with it, kills, lost, each kind of duplicate."""
    seen: Counter[str] = Counter()
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        for fault in set(result.faults):
            seen[fault] += 1
            for name in ("kills", "lost", "death", "late", "beyond"):
                sums[fault][name] += getattr(result, name)
    rows = [
        "| fault | schedules with it | processes killed | alerts lost | duplicates "
        "(send → death → resend) | duplicates (late answer → one marked resend) | "
        "duplicates beyond the protocol |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fault in PROC_FAULTS:
        c = sums[fault]
        rows.append(
            f"| {fault} | {seen[fault]} | {c['kills']} | {c['lost']} | {c['death']} | "
            f"{c['late']} | {c['beyond']} |"
        )
    total_runs = sum(r.runs for r in results)
    rows.append(
        f"| **all {len(results)} schedules ({total_runs} runs)** | {len(results)} | "
        f"{sum(r.kills for r in results)} | {sum(r.lost for r in results)} | "
        f"{sum(r.death for r in results)} | {sum(r.late for r in results)} | "
        f"{sum(r.beyond for r in results)} |"
    )
    return "\n".join(rows)
