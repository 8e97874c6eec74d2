"""A fleet of regions polled at once: the same alerts, claims and state as one after another.

Each story runs the real app against one Cloud Assistant fake that answers every region from
its own dataset (as each region's endpoint would), with a receiver that records what people
would be told.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr
from structlog.contextvars import merge_contextvars
from structlog.testing import LogCapture

from lib.app import App, Invocation, RunReport, build_app
from lib.app.spread import spread
from lib.cloud.aliyun.budgets import ApiBudgets
from lib.core.notification import Message
from lib.core.triggers import Poll
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Dataset, agent, command, instance_id, invoke_id, run

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)
REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


class Recorder(RecordingReceiver):
    """Keeps every message sent, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


@dataclass
class Fleet:
    """The function watching four regions of one account, run by the timer."""

    cloud: CloudAssistantFake
    app: App
    store_dir: Path
    receiver: Recorder
    clock: list[datetime]
    runs: int = 0

    def poll(self) -> RunReport:
        credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
        self.runs += 1
        return self.app.run(Poll(origin="timer"), Invocation(f"run-{self.runs}", credentials))

    def told(self) -> list[tuple[str, str, str, str]]:
        """(region, status, invoke id, instance id) of every alert told, in the order sent."""
        return [
            (a.finding.region, a.status, a.finding.invoke_id, a.finding.instance_id)
            for message in self.receiver.sent
            for a in self.receiver.covered(message)
        ]

    def stored(self) -> dict[str, Any]:
        """Every file of the state store, by path: records, claims and outbox markers (each
        write's random version token left out)."""
        return {
            str(path.relative_to(self.store_dir)): (
                {k: v for k, v in json.loads(path.read_text()).items() if k != "version"}
                if path.suffix == ".json"
                else path.read_text()
            )
            for path in sorted(self.store_dir.rglob("*"))
            if path.is_file()
            and "tmp" not in path.relative_to(self.store_dir).parts
            and path.name != "lock"
        }


def fleet_data() -> dict[str, Dataset]:
    """A failure in each region, an agent down in one, a success elsewhere."""
    data: dict[str, Dataset] = {}
    for n, region in enumerate(REGIONS):
        ds = Dataset()
        ds.add(
            command(
                created=ago(5 + n),
                name=f"deploy-{region}.sh",
                invoke=f"deploy-{region}",
                instances=[
                    run(f"{region}-app-1", "Failed", error_code="ExitCodeNonzero", exit_code=2),
                    run(f"{region}-app-2", "Success"),
                ],
            )
        )
        data[region] = ds
    down = data["cn-beijing"]
    down.add(
        command(
            created=ago(3),
            name="agent-check",
            invoke="agent-check",
            instances=[run("cn-beijing-db-1", "Failed", error_code="InstanceNotRunning")],
        )
    )
    down.add(agent("cn-beijing-db-1", online=False, last_heartbeat=ago(30)))
    return data


@pytest.fixture
def make_fleet(tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    fakes: list[CloudAssistantFake] = []

    def make(
        concurrency: str, *, data: dict[str, Dataset] | None = None, order: str = "newest"
    ) -> Fleet:
        cloud = CloudAssistantFake(
            regions=data if data is not None else fleet_data(),
            order=order,  # type: ignore[arg-type]
        )
        cloud.start()
        fakes.append(cloud)
        settings = load_settings(
            {
                "ASSISTWATCH_REGIONS": ",".join(REGIONS),
                "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
                "ASSISTWATCH_SHOW_OUTPUT": "false",
                "ASSISTWATCH_CONCURRENCY": concurrency,
            }
        )
        store_dir = tmp_path / f"state-{concurrency}-{len(fakes)}"
        clock = [NOW]

        def now() -> datetime:
            return clock[0]

        receiver = Recorder()
        app = build_app(
            settings,
            store=FileStore(store_dir, clock=lambda: now().timestamp()),
            receivers={receiver.name: receiver},
            sleep=lambda _: None,
            clock=now,
        )
        return Fleet(cloud, app, store_dir, receiver, clock)

    yield make
    for cloud in fakes:
        cloud.stop()


def _comparable(report: RunReport) -> dict[str, Any]:
    return report.model_dump(exclude={"duration_ms", "request_id"})


def test_a_fleet_polled_at_once_tells_claims_and_keeps_what_a_sequential_pass_would(make_fleet):
    """GIVEN four regions, each with a failed deploy, one with an agent that went down
    WHEN the fleet is polled one region after another, and (another deployment, same data)
    eight at a time — then again after a new failure in one region and an hour later
    THEN both tell the same alerts in the same order, report the same counts, and leave the
    same claims and poll records in the state store, pass after pass."""
    one, many = make_fleet("1"), make_fleet("8")
    for fleet in (one, many):
        assert _comparable(fleet.poll())["alerts"] == 5  # 4 deploys + 1 agent down
    for fleet in (one, many):
        fleet.cloud.regions["cn-shanghai"].add(
            command(
                created=NOW,
                name="backup.sh",
                invoke="backup-1",
                instances=[run("cn-shanghai-db-1", "Failed", error_code="ExitCodeNonzero")],
            )
        )
        fleet.clock[0] = NOW + timedelta(minutes=1)
    reports = [(one.poll(), many.poll())]
    for fleet in (one, many):
        fleet.clock[0] = NOW + timedelta(hours=1)
    reports.append((one.poll(), many.poll()))

    assert [(_comparable(a), _comparable(b)) for a, b in reports] == [
        (_comparable(a), _comparable(a)) for a, _ in reports
    ]
    assert one.told() == many.told()
    assert [region for region, *_ in one.told()].count("cn-beijing") == 2  # deploy + agent
    assert (
        "cn-shanghai",
        "firing",
        invoke_id("backup-1"),
        instance_id("cn-shanghai-db-1"),
    ) in many.told()
    assert one.stored() == many.stored()
    assert any(name.startswith("default/claims/") for name in many.stored())


def test_a_region_that_fails_is_reported_and_the_others_are_told(make_fleet):
    """GIVEN four regions polled at once, and Shanghai's endpoint failing (503) throughout
    WHEN the timer runs
    THEN the other three regions' failures are told now, the report names Shanghai's error,
    and once Shanghai answers again its failure is told — and nobody is told twice."""
    fleet = make_fleet("8")
    fleet.cloud.fail_next(
        40, code="ServiceUnavailable", status=503, region="cn-shanghai"
    )  # outlives the client's retries

    report = fleet.poll()

    told = {region for region, *_ in fleet.told()}
    assert told == {"cn-hangzhou", "cn-beijing", "ap-southeast-1"}
    assert not report.ok
    assert len(report.errors) == 1
    assert report.errors[0].startswith("cn-shanghai (account self): ")
    assert "ServiceUnavailable" in report.errors[0]

    fleet.cloud.clear_faults()
    fleet.clock[0] = NOW + timedelta(minutes=1)
    again = fleet.poll()

    assert again.ok
    assert [region for region, *_ in fleet.told()].count("cn-shanghai") == 1
    assert len(fleet.told()) == 5


def test_when_every_region_fails_the_run_fails_for_a_retry(make_fleet):
    """GIVEN every region's endpoint failing
    WHEN the timer runs
    THEN the run raises the retryable error (FC retries it), as a single region would."""
    fleet = make_fleet("8")
    fleet.cloud.fail_next(200, code="ServiceUnavailable", status=503)

    with pytest.raises(Exception, match="ServiceUnavailable") as raised:
        fleet.poll()

    assert getattr(raised.value, "retryable", False)
    assert fleet.told() == []


@pytest.mark.parametrize(("concurrency", "opened"), [("8", True), ("1", False)])
def test_a_slow_region_does_not_hold_up_the_others(make_fleet, concurrency, opened):
    """GIVEN Beijing's endpoint holding every answer until the other regions have been polled
    WHEN the timer runs with scopes polled at once (and, to show the contrast, one by one)
    THEN at once, the others are polled while Beijing waits, and every region is told;
    one by one, Beijing blocks the pass (its hold only gives up on its timeout)."""
    fleet = make_fleet(concurrency)
    others = set(REGIONS) - {"cn-beijing"}

    def others_done() -> bool:
        with fleet.cloud._lock:
            asked = {
                p.get("RegionId") for a, p in fleet.cloud.calls if a == "DescribeSendFileResults"
            }
        return others <= asked

    fleet.cloud.hold("cn-beijing", others_done, timeout=10.0 if opened else 0.3)

    fleet.poll()

    assert fleet.cloud.gates_opened["cn-beijing"] is opened
    assert {region for region, *_ in fleet.told()} == set(REGIONS)


def test_lines_logged_while_a_region_is_polled_name_its_account_and_region(make_fleet):
    """GIVEN four regions polled at once, Shanghai's API paging out of order, and Hangzhou's
    endpoint failing throughout
    WHEN the timer runs
    THEN the warning about Shanghai's order, logged in a pool thread, carries its account
    and region; the line about Hangzhou's failure carries Hangzhou; and the run's summary
    line carries no one scope's region."""
    data = fleet_data()
    data["cn-shanghai"].add(
        *(
            command(
                created=ago(60 * 24 * 6 - n * 30), name="uptime", instances=[run(f"web-{n % 7}")]
            )
            for n in range(230)
        )
    )
    fleet = make_fleet("8", data=data, order="shuffled")
    fleet.cloud.fail_next(40, code="ServiceUnavailable", status=503, region="cn-hangzhou")

    with capture_logs_in_context() as logs:
        fleet.poll()

    shuffled = [line for line in logs if line["event"].startswith("pages are not newest first")]
    assert shuffled
    assert {(line["account"], line["region"]) for line in shuffled} == {("self", "cn-shanghai")}
    failed = [line for line in logs if line["event"].startswith("scope failed")]
    assert [(line["account"], line["region"]) for line in failed] == [("self", "cn-hangzhou")]
    assert "ServiceUnavailable" in failed[0]["error"]
    summary = [line for line in logs if line["event"].startswith("run finished")]
    assert len(summary) == 1
    assert "region" not in summary[0]
    assert "account" not in summary[0]


def test_a_region_that_used_up_its_budget_does_not_slow_another_region():
    """GIVEN a budget of 2 calls a second per account and region
    WHEN Hangzhou makes three calls at once
    THEN the third waits half a second, and Shanghai's first call — and another account's
    call in Hangzhou — does not wait at all (ECS throttles per account, API and region)."""
    now = [100.0]
    waited: list[float] = []
    budgets = ApiBudgets(2, clock=lambda: now[0], sleep=waited.append)

    hangzhou = budgets.limiter("self", "cn-hangzhou")
    assert [hangzhou.acquire() for _ in range(3)] == [0.0, 0.0, 0.5]
    assert budgets.limiter("self", "cn-shanghai").acquire() == 0.0
    assert budgets.limiter("1234567890123456", "cn-hangzhou").acquire() == 0.0
    assert budgets.limiter("self", "cn-hangzhou") is hangzhou
    assert waited == [0.5]
    assert len(budgets) == 3


def test_work_spread_over_threads_comes_back_in_order_and_a_crash_is_raised_not_lost():
    """GIVEN eight pieces of work on three threads, the slowest first
    WHEN spread
    THEN the results come back in the order asked, each piece ran in its own thread's copy
    of the caller's log context; and a piece that crashes with a bug is raised to the
    caller once every thread has ended."""
    import contextvars
    import threading
    import time

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="none")
    marker.set("caller")
    threads: set[str] = set()

    def work(index: int) -> tuple[int, str]:
        time.sleep(0.02 * (8 - index))
        threads.add(threading.current_thread().name)
        return index * index, marker.get()

    assert spread(work, 8, 3) == [(i * i, "caller") for i in range(8)]
    assert len(threads) == 3

    def crash(index: int) -> int:
        if index == 2:
            raise RuntimeError("a bug in scope 2")
        return index

    with pytest.raises(RuntimeError, match="a bug in scope 2"):
        spread(crash, 5, 2)


@contextmanager
def capture_logs_in_context() -> Iterator[list[MutableMapping[str, Any]]]:
    """Like structlog's capture_logs, but with the fields bound in the logging context (the
    scope's account and region) merged in, as the real chain merges them first."""
    processors = structlog.get_config()["processors"]
    kept = list(processors)
    capture = LogCapture()
    processors[:] = [merge_contextvars, capture]
    try:
        yield capture.entries
    finally:
        processors[:] = kept
