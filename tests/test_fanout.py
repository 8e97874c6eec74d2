"""Fan-out end to end: a coordinator invokes the local FC (``make serve``'s app, over loopback)
once per shard; each shard polls its scopes in the local FC's background thread, as FC runs
an asynchronous invocation.

One Cloud Assistant fake answers four regions; the watcher, its state store and a receiver
that records what people would be told are shared by the coordinator and every shard, as one
deployment's instances share them on FC.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.app.fanout import slot_name
from lib.core.shards import Slot
from lib.core.triggers import Poll, parse_event
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.settings import load_settings
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.resourcemanager_api import member
from tests.fakes.sts import StsFake
from tests.test_fleet import NOW, REGIONS, Recorder, fleet_data
from tests.test_serve import TOKEN, Server

CREDENTIALS = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
TIMEOUT = 120  # the function's timeout: a shard's lease is this plus a minute
OWN, MEMBER = "1000000000000001", "2000000000000002"  # the management account, a member


@dataclass
class Deployment:
    """The function (coordinator and shards) over one store, fake cloud and local FC."""

    cloud: CloudAssistantFake
    app: App
    store: FileStore
    receiver: Recorder
    clock: list[datetime]
    drop: set[int] = field(default_factory=set)  # shard slots whose instance dies at once
    twice: bool = False  # FC delivers each async event twice, at the same time
    shard_reports: list[dict[str, Any]] = field(default_factory=list)
    ended: int = 0  # shard invocations that ended (polled, refused or died)
    runs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    sts: StsFake | None = None

    def entry(self, event: Any, context: Any) -> str:
        """The FC entry of a shard's instance (the same App, as a warm instance reuses it)."""
        try:
            parsed = parse_event(event).trigger
            assert isinstance(parsed, Poll)
            assert parsed.shard is not None
            if parsed.shard.slot in self.drop:  # the instance died before it polled anything
                self.drop.discard(parsed.shard.slot)
                return "{}"

            def one(request_id: str) -> None:
                invocation = Invocation(
                    request_id,
                    CREDENTIALS,
                    timeout_seconds=float(TIMEOUT),
                    function_name=context.function.name,
                )
                report = self.app.run(parsed, invocation).model_dump()
                with self.lock:
                    self.shard_reports.append(report)

            if self.twice:  # at-least-once delivery: the same event in a second instance
                again = threading.Thread(target=one, args=(f"{context.request_id}-again",))
                again.start()
                one(context.request_id)
                again.join()
            else:
                one(context.request_id)
            return "{}"
        finally:
            with self.lock:
                self.ended += 1

    def coordinate(self) -> RunReport:
        """One timer invocation; returns once every shard it dispatched has ended."""
        self.runs += 1
        expected = self.ended
        invocation = Invocation(
            f"timer-{self.runs}",
            CREDENTIALS,
            region="cn-hangzhou",
            account_id=OWN,
            timeout_seconds=float(TIMEOUT),
            function_name="assistwatch",
        )
        report = self.app.run(Poll(origin="timer"), invocation)
        deadline = time.monotonic() + 30
        while self.ended < expected + report.shards:
            assert time.monotonic() < deadline, "the shards did not end"
            time.sleep(0.02)
        return report

    def slots(self) -> list[Slot]:
        return [Slot.from_value(self.store.read(slot_name(n)).value) for n in range(4)]

    def told(self) -> list[tuple[str, str, str]]:
        return sorted(
            (a.finding.region, a.finding.invoke_id, a.finding.instance_id)
            for message in self.receiver.sent
            for a in self.receiver.covered(message)
        )

    def listed(self) -> Counter[str]:
        """DescribeInvocations requests per region (a scope's poll pages through them)."""
        return Counter(
            params.get("RegionId", "?")
            for action, params in self.cloud.calls
            if action == "DescribeInvocations"
        )


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    cleanup: list[Callable[[], None]] = []

    def make(
        shards: str, *, fc_key: str = DEMO_ACCESS_KEY_ID, members: tuple[str, ...] = ()
    ) -> Deployment:
        cloud = CloudAssistantFake(regions=fleet_data()).start()
        cleanup.append(cloud.stop)
        extra: dict[str, str] = {}
        if members:  # ASSISTWATCH_ACCOUNTS=*: every member reached through its access role
            cloud.members = [member(OWN), *(member(m) for m in members)]
            roles = [f"acs:ram::{m}:role/ResourceDirectoryAccountAccessRole" for m in members]
            sts = StsFake(
                {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET},
                grants={DEMO_ACCESS_KEY_ID: roles},
                targets=[cloud],
            ).start()
            cleanup.append(sts.stop)
            extra = {
                "ASSISTWATCH_ACCOUNTS": "*",
                "ASSISTWATCH_STS_ENDPOINT": sts.url,
                "ASSISTWATCH_RESOURCEMANAGER_ENDPOINT": cloud.url,
                "ASSISTWATCH_REGIONS": "cn-hangzhou,cn-shanghai",
            }
        clock = [NOW]

        def now() -> float:  # the test moves clock[0]
            return clock[0].timestamp()

        store = FileStore(tmp_path / f"state-{len(cleanup)}", clock=now)
        receiver = Recorder()
        environ = {
            "ASSISTWATCH_REGIONS": ",".join(REGIONS),
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_SHOW_OUTPUT": "false",
            "ASSISTWATCH_SHARDS": shards,
            **extra,
        }
        holder: list[Deployment] = []
        # The local FC knows the function's AccessKey (it checks the caller's signature).
        fc_env = {
            "ASSISTWATCH_SERVE_TOKEN": TOKEN,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": fc_key,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }

        def entry(event: Any, context: Any) -> str:  # the deployment is built below
            return holder[0].entry(event, context)

        server = Server(tmp_path, fc_env, entry)
        server.__enter__()
        cleanup.append(lambda: server.__exit__(None, None, None))
        environ["ASSISTWATCH_FC_ENDPOINT"] = server.url
        app = build_app(
            load_settings(environ),
            store=store,
            receivers={receiver.name: receiver},
            sleep=lambda _: None,
            clock=lambda: clock[0],
        )
        holder.append(Deployment(cloud, app, store, receiver, clock))
        if members:
            holder[0].sts = sts
        return holder[0]

    yield make
    for step in reversed(cleanup):
        step()


def _in_process(deploy: Callable[..., Deployment]) -> Deployment:
    """The same fleet polled in one invocation: what fan-out must match."""
    alone = deploy("1")
    report = alone.coordinate()
    assert report.ok
    assert report.shards == 0
    return alone


def test_a_fanned_out_pass_polls_every_scope_once_and_tells_each_failure_once(deploy):
    """GIVEN four regions with a failed deploy each and an agent down in one, and
    ASSISTWATCH_SHARDS=2
    WHEN the timer fires
    THEN the coordinator dispatches two shards to the local FC (async InvokeFunction, ACS3-
    signed, answered 202), polls nothing itself, and between them the shards list each region
    exactly as one in-process pass does and tell the same five alerts, once each."""
    alone = _in_process(deploy)
    fleet = deploy("2")

    report = fleet.coordinate()

    assert report.ok, report.errors
    assert report.shards == 2
    assert any("2 shard(s) dispatched to assistwatch for 4 scope(s)" in n for n in report.notes)
    assert report.alerts == 0  # the coordinator polled nothing
    assert report.records == 0
    assert sorted(r["regions"] for r in fleet.shard_reports) == [
        ["cn-beijing", "ap-southeast-1"],
        ["cn-hangzhou", "cn-shanghai"],
    ]
    assert fleet.listed() == alone.listed()
    assert len(fleet.told()) == 5
    assert fleet.told() == alone.told()
    assert [s.status for s in fleet.slots()[:2]] == ["done", "done"]

    fleet.clock[0] = NOW + timedelta(minutes=1)  # the next timer: nothing new, nothing told again
    again = fleet.coordinate()
    assert again.ok
    assert again.shards == 2
    assert len(fleet.told()) == 5


def test_a_shard_that_died_is_taken_over_by_the_next_pass_and_never_polled_twice(deploy):
    """GIVEN two shards dispatched, and the instance of shard 1 dies before it polls
    WHEN the timer fires again while its lease holds, then after the lease ended
    THEN the live lease keeps its scopes out of the second pass (nobody polls them twice),
    and the third pass takes them over: their failures are told then, once."""
    fleet = deploy("2")
    fleet.drop.add(1)

    first = fleet.coordinate()
    assert first.ok
    assert first.shards == 2
    regions_told = {region for region, *_ in fleet.told()}
    assert regions_told == {"cn-hangzhou", "cn-shanghai"}  # shard 1's regions were not polled
    assert fleet.slots()[1].status == "dispatched"
    listed = fleet.listed()

    fleet.clock[0] = NOW + timedelta(minutes=1)
    second = fleet.coordinate()
    assert any("2 scope(s) skipped, an earlier shard still holds them" in n for n in second.notes)
    assert any("dispatched to assistwatch for 2 scope(s)" in n for n in second.notes)
    assert fleet.listed()["cn-beijing"] == listed["cn-beijing"] == 0

    fleet.clock[0] = NOW + timedelta(seconds=TIMEOUT + 61)  # shard 1's lease has ended
    third = fleet.coordinate()
    assert third.ok, third.errors
    assert any("took over 2 scope(s) of 1 shard(s) whose lease ended" in n for n in third.notes)
    assert {region for region, *_ in fleet.told()} == set(REGIONS)
    told = fleet.told()
    assert len(told) == len(set(told)) == 5  # each failure once, the late ones included


def test_a_refused_invoke_is_one_clear_error_and_its_scopes_are_polled_in_process(deploy):
    """GIVEN the function may not invoke itself (the local FC does not know its AccessKey:
    FC's 403, as without fc:InvokeFunction)
    WHEN the timer fires with ASSISTWATCH_SHARDS=2
    THEN the report has one error naming the refusal and the scopes polled in-process, every
    failure is told once, and no secret is in the report."""
    fleet = deploy("2", fc_key="test-key-somebody-else")

    report = fleet.coordinate()

    assert report.shards == 0
    assert len(report.errors) == 1
    assert "fan-out: 2 of 2 shard invocation(s) refused" in report.errors[0]
    assert "InvalidSignature" in report.errors[0]
    assert "their 4 scope(s) were polled in-process by this coordinator" in report.errors[0]
    assert len(fleet.told()) == 5
    assert len(set(fleet.told())) == 5
    assert DEMO_ACCESS_KEY_SECRET not in report.model_dump_json()


def test_without_shards_or_a_slow_last_pass_the_pass_stays_in_process(deploy):
    """GIVEN ASSISTWATCH_SHARDS unset and a fleet whose passes take a fraction of the timeout
    WHEN the timer fires twice
    THEN nothing is dispatched; the first pass records what it took for the next estimate."""
    fleet = deploy("0")
    assert fleet.coordinate().shards == 0
    measure = fleet.store.read("fanout/measure").value
    assert measure["scopes"] == 4
    assert measure["api_calls"] > 0
    fleet.clock[0] = NOW + timedelta(minutes=1)
    assert fleet.coordinate().shards == 0


def test_a_last_pass_near_the_timeout_fans_the_next_one_out(deploy):
    """GIVEN ASSISTWATCH_SHARDS unset and a recorded pass of 4 scopes that took 90 s of a
    120 s function (76 s to poll)
    WHEN the timer fires
    THEN it fans out into enough shards for each to take ~40% of the budget, and says why."""
    fleet = deploy("0")
    fleet.store.write(
        "fanout/measure", {"seconds": 90.0, "api_calls": 40, "scopes": 4, "at": 0.0}, None
    )
    report = fleet.coordinate()
    assert report.shards == 3  # 90 s / (0.4 × 96 s) → 3 shards
    assert any("fan-out (estimated 90 s)" in n for n in report.notes)
    assert len(fleet.told()) == 5


def test_member_accounts_fan_out_and_each_shard_assumes_only_its_own_accounts(deploy):
    """GIVEN ASSISTWATCH_ACCOUNTS=* with one member account, two regions, and two shards
    WHEN the timer fires
    THEN the coordinator lists the directory once and assumes no role; the shard of the own
    account assumes none, the member's shard assumes the member's role once; each account's
    failures are told once, under its account."""
    fleet = deploy("2", members=(MEMBER,))

    report = fleet.coordinate()

    assert report.ok, report.errors
    assert report.shards == 2
    shards = sorted((r["regions"], r["api_calls"]) for r in fleet.shard_reports)
    assert [regions for regions, _ in shards] == [["cn-hangzhou", "cn-shanghai"]] * 2
    assert fleet.cloud.count("ListAccounts") == 1  # the coordinator's; shards do not list
    assert fleet.sts is not None
    assert fleet.sts.count() == 1  # the member's shard, once; the coordinator assumes none
    accounts = Counter(
        a.finding.account for m in fleet.receiver.sent for a in fleet.receiver.covered(m)
    )
    assert accounts == {"self": 2, MEMBER: 2}  # a failed deploy in each region, each account


def test_off_fc_a_configured_fan_out_polls_in_process_and_says_why(deploy):
    """GIVEN ASSISTWATCH_SHARDS=4 WHEN the timer pass runs where no FC function is named
    (a local run) THEN it polls every scope itself, tells everything once, and notes why."""
    fleet = deploy("4")
    invocation = Invocation("local-1", CREDENTIALS, timeout_seconds=float(TIMEOUT))

    report = fleet.app.run(Poll(origin="timer"), invocation)

    assert report.ok, report.errors
    assert report.shards == 0
    assert any("not on FC (no function name and region to invoke)" in n for n in report.notes)
    assert len(fleet.told()) == 5


def test_an_event_fc_delivers_twice_polls_its_scopes_once(deploy):
    """GIVEN FC delivers every shard's async event twice, both at once (at-least-once)
    WHEN the timer fans out into two shards
    THEN each scope is listed exactly as one in-process pass lists it, each failure is told
    once, and the duplicate of each shard says it polled nothing."""
    alone = _in_process(deploy)
    fleet = deploy("2")
    fleet.twice = True

    report = fleet.coordinate()

    assert report.shards == 2
    assert len(fleet.shard_reports) == 4
    assert fleet.listed() == alone.listed()
    assert fleet.told() == alone.told()
    idle = [r for r in fleet.shard_reports if any("nothing polled" in n for n in r["notes"])]
    assert len(idle) == 2
    assert all(r["records"] == 0 for r in idle)
