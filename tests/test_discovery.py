"""Fleets found rather than listed: every region ECS offers (``ASSISTWATCH_REGIONS=*``) and
every member of the Resource Directory (``ASSISTWATCH_ACCOUNTS=*``).

The real app against the Cloud Assistant fake (which also answers ECS DescribeRegions and
Resource Manager ListAccounts) and the STS fake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.app.discovery import directory_members
from lib.app.run import Pass
from lib.app.scopes import SELF_ACCOUNT
from lib.core.triggers import Poll
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.errors import ConfigError
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Dataset, command, run
from tests.fakes.resourcemanager_api import member
from tests.fakes.sts import StsFake

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)
OWN = "1000000000000001"  # the management account the function runs in
MEMBER_A, MEMBER_B = "2000000000000002", "3000000000000003"
ROLE = "ResourceDirectoryAccountAccessRole"


def failed_deploy(name: str) -> Dataset:
    return Dataset().add(
        command(
            created=NOW - timedelta(minutes=5),
            name=name,
            invoke=name,
            instances=[run(f"{name}-host", "Failed", error_code="ExitCodeNonzero")],
        )
    )


class Recorder(RecordingReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, str]] = []  # (account, region)

    def send(self, message: Any) -> None:
        self.told += [(a.finding.account, a.finding.region) for a in self.covered(message)]


@dataclass
class Org:
    cloud: CloudAssistantFake
    sts: StsFake
    app: App
    receiver: Recorder
    clock: list[datetime]
    runs: list[RunReport] = field(default_factory=list)

    def poll(self, *, home: str | None = "cn-hangzhou") -> RunReport:
        credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
        invocation = Invocation(f"run-{len(self.runs)}", credentials, region=home, account_id=OWN)
        report = self.app.run(Poll(origin="timer"), invocation)
        self.runs.append(report)
        return report


@pytest.fixture
def make_org(tmp_path: Path) -> Iterator[Callable[..., Org]]:
    opened: list[Any] = []

    def make(*, regions: str = "*", accounts: str = "", granted: tuple[str, ...] = ()) -> Org:
        cloud = CloudAssistantFake(
            regions={
                "cn-hangzhou": failed_deploy("hz-deploy"),
                "cn-shanghai": failed_deploy("sh-deploy"),
                "ap-southeast-1": failed_deploy("sg-deploy"),
            }
        )
        sts = StsFake(
            {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET},
            grants={DEMO_ACCESS_KEY_ID: [f"acs:ram::{a}:role/{ROLE}" for a in granted]},
            targets=[cloud],
        )
        cloud.start()
        sts.start()
        opened.extend([cloud, sts])
        env = {
            "ASSISTWATCH_REGIONS": regions,
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STS_ENDPOINT": sts.url,
            "ASSISTWATCH_RESOURCEMANAGER_ENDPOINT": cloud.url,
            "ASSISTWATCH_SHOW_OUTPUT": "false",
        }
        if accounts:
            env["ASSISTWATCH_ACCOUNTS"] = accounts
        clock = [NOW]

        def now() -> datetime:
            return clock[0]

        receiver = Recorder()
        app = build_app(
            load_settings(env),
            store=FileStore(tmp_path / f"state-{len(opened)}", clock=lambda: now().timestamp()),
            receivers={receiver.name: receiver},
            sleep=lambda _: None,
            clock=now,
        )
        return Org(cloud, sts, app, receiver, clock)

    yield make
    for server in opened:
        server.stop()


def test_every_region_ecs_offers_is_polled_and_the_list_is_asked_once_a_day(make_org):
    """GIVEN ASSISTWATCH_REGIONS=* and ECS offering Hangzhou, Shanghai and Singapore
    WHEN the timer runs, again a minute later, and again the next day after ECS opened a
    fourth region to the account
    THEN the first pass polls the three regions and tells each one's failure, asking
    DescribeRegions once; the second asks nothing; the next day's asks again and polls four."""
    org = make_org()

    first = org.poll()

    assert sorted(first.regions) == ["ap-southeast-1", "cn-hangzhou", "cn-shanghai"]
    assert sorted(org.receiver.told) == [
        ("self", "ap-southeast-1"),
        ("self", "cn-hangzhou"),
        ("self", "cn-shanghai"),
    ]
    assert org.cloud.count("DescribeRegions") == 1
    asked = next(params for action, params in org.cloud.calls if action == "DescribeRegions")
    assert "RegionId" not in asked  # DescribeRegionsRequest has no RegionId

    org.clock[0] = NOW + timedelta(minutes=1)
    assert org.poll().ok
    assert org.cloud.count("DescribeRegions") == 1

    org.cloud.offered_regions.append("eu-central-1")
    org.clock[0] = NOW + timedelta(days=1, minutes=1)
    later = org.poll()
    assert org.cloud.count("DescribeRegions") == 2
    assert "eu-central-1" in later.regions
    assert len(org.receiver.told) == 3  # nobody told twice


def test_when_describe_regions_fails_yesterdays_list_is_polled_and_said(make_org):
    """GIVEN regions discovered yesterday
    WHEN DescribeRegions fails today (throttled past the retries)
    THEN the pass polls yesterday's regions and its report says why."""
    org = make_org()
    org.poll()
    org.clock[0] = NOW + timedelta(days=1, minutes=1)
    org.cloud.fail_next(10, code="ServiceUnavailable", status=503, action="DescribeRegions")

    report = org.poll()

    assert report.ok
    assert sorted(report.regions) == ["ap-southeast-1", "cn-hangzhou", "cn-shanghai"]
    assert any("DescribeRegions failed (ServiceUnavailable)" in n for n in report.notes)


def test_regions_star_without_a_home_region_is_one_clear_error(make_org):
    """GIVEN ASSISTWATCH_REGIONS=* run outside FC with no FC_REGION
    WHEN it polls
    THEN the run fails with one line saying what to set, and asks nothing."""
    org = make_org()

    report = org.poll(home=None)

    assert not report.ok
    assert len(report.errors) == 1
    assert report.errors[0].startswith("ASSISTWATCH_REGIONS=* asks ECS in the function's own")
    assert org.cloud.count("DescribeRegions") == 0


def test_every_member_of_the_directory_is_watched_through_its_access_role(make_org):
    """GIVEN ASSISTWATCH_ACCOUNTS=* in the directory's management account, two members
    (one whose ResourceDirectoryAccountAccessRole this function may assume, one it may not)
    and the management account itself listed among them
    WHEN the timer runs
    THEN the assumable member's failure is told under its account id, the other member is
    one report error (the rest goes on), and the function's own account is not assumed."""
    org = make_org(regions="cn-hangzhou", accounts="*", granted=(MEMBER_A,))
    org.cloud.members = [member(OWN), member(MEMBER_A), member(MEMBER_B)]

    report = org.poll()

    assert sorted(org.receiver.told) == [(MEMBER_A, "cn-hangzhou"), ("self", "cn-hangzhou")]
    assert [e for e in report.errors if e.startswith(f"account {MEMBER_B}:")]
    assert len(report.errors) == 1
    assumed = [params.get("RoleArn") for _, params in org.sts.calls]
    assert sorted(assumed) == [
        f"acs:ram::{MEMBER_A}:role/{ROLE}",
        f"acs:ram::{MEMBER_B}:role/{ROLE}",
    ]


def test_a_function_that_may_not_list_the_directory_still_watches_its_own_account(make_org):
    """GIVEN ASSISTWATCH_ACCOUNTS=* in an account that may not call ListAccounts
    WHEN the timer runs
    THEN its own account is polled and told, and the report names the refusal."""
    org = make_org(regions="cn-hangzhou", accounts="*", granted=(MEMBER_A,))
    org.cloud.members = [member(MEMBER_A)]
    org.cloud.fail_next(1, code="NoPermission", status=403, action="ListAccounts")

    report = org.poll()

    assert org.receiver.told == [("self", "cn-hangzhou")]
    assert len(report.errors) == 1
    assert report.errors[0].startswith("Resource Directory members: ListAccounts failed")
    assert "NoPermission" in report.errors[0]


def test_members_are_read_page_by_page_up_to_the_total(make_org):
    """GIVEN a directory of 230 members
    WHEN its members are listed
    THEN three ListAccounts pages of at most 100 are read, and every member once, in order."""
    org = make_org(regions="cn-hangzhou", accounts="*")
    ids = [f"{5000000000000000 + n}" for n in range(230)]
    org.cloud.members = [member(account) for account in ids]
    state = Pass(report=RunReport(), started=NOW)
    state.credentials[SELF_ACCOUNT] = Credentials(
        DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET)
    )

    assert directory_members(org.app, state) == ids
    pages = [
        (params["PageNumber"], params["PageSize"])
        for action, params in org.cloud.calls
        if action == "ListAccounts"
    ]
    assert pages == [("1", "100"), ("2", "100"), ("3", "100")]


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"ASSISTWATCH_MEMBER_ROLE": "no/slashes"}, "ASSISTWATCH_MEMBER_ROLE"),
        ({"ASSISTWATCH_REGIONS": "*,cn-hangzhou"}, "ASSISTWATCH_REGIONS"),
        ({"ASSISTWATCH_ACCOUNTS": "*,acs:ram::1:role/x"}, "ASSISTWATCH_ACCOUNTS"),
    ],
)
def test_a_bad_discovery_setting_is_one_clear_error(env, error):
    with pytest.raises(ConfigError, match=error):
        load_settings(env)
