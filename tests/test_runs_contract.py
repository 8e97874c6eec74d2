"""The state protocol end to end, on every backend: runs that overlap, die, or lose the store.

The same stories run against ``file://``, ``oss://`` (OSS fake, real SDK) and ``ots://``
(Table Store fake, real SDK), each through ``build_app`` as the handler builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, build_app
from lib.core.notification import Message
from lib.core.triggers import Poll
from lib.support.credentials import Credentials
from lib.support.errors import StateError
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.oss import OssFake
from tests.fakes.ots import FakeTableStore
from tests.fakes.scenario import EXPECTED_ALERTS, demo_dataset

BACKENDS = ["file", "oss", "ots"]
CREDENTIALS = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
EXPECTED = sorted((alert.invoke_id, alert.instance_id) for alert in EXPECTED_ALERTS)


class People(RecordingReceiver):
    """One receiver shared by every run: what the group chat would have shown."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, str]] = []
        self.die_before_send = False

    def send(self, message: Message) -> None:
        if self.die_before_send:
            raise KeyboardInterrupt("the process was killed between claim and send")
        with self.lock:
            for alert in self.covered(message):
                finding = alert.finding
                self.told.append((finding.invoke_id, finding.instance_id))


class Backend:
    """A state location and the environment that points the app at it."""

    def __init__(self, kind: str, tmp: Path, stack: list[Any]) -> None:
        self.kind = kind
        self.ots: FakeTableStore | None = None
        self.oss: OssFake | None = None
        if kind == "file":
            self.env = {"ASSISTWATCH_STATE_URL": f"file://{tmp / 'state'}"}
        elif kind == "oss":
            self.oss = OssFake(region="cn-hangzhou").__enter__()
            stack.append(self.oss)
            self.oss.add_key(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
            self.oss.add_bucket("aw-state")
            self.env = {
                "ASSISTWATCH_STATE_URL": "oss://aw-state/assistwatch",
                "ASSISTWATCH_OSS_ENDPOINT": self.oss.url,
            }
        else:
            self.ots = FakeTableStore(
                instance="assistwatch",
                access_key_id=DEMO_ACCESS_KEY_ID,
                access_key_secret=DEMO_ACCESS_KEY_SECRET,
            ).start()
            stack.append(self.ots)
            self.ots.create_table("assistwatch_state", ttl=3_715_200)
            self.env = {
                "ASSISTWATCH_STATE_URL": "ots://assistwatch/assistwatch_state",
                "ASSISTWATCH_OTS_ENDPOINT": self.ots.endpoint,
            }

    def outage(self, times: int) -> None:
        """Make the store fail the next ``times`` requests with 503."""
        if self.ots is not None:
            self.ots.fail(times)
        elif self.oss is not None:
            self.oss.fail_next(503, times)


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    stack: list[Any] = []
    now = datetime.now(timezone.utc)
    cloud = CloudAssistantFake(dataset=demo_dataset(now)).start()
    backend = Backend(request.param, tmp_path, stack)
    people = People()

    def make_app(namespace: str = "default", clock: Callable[[], datetime] | None = None) -> App:
        settings = load_settings(
            {
                "ASSISTWATCH_REGIONS": "cn-hangzhou",
                "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
                "ASSISTWATCH_NAMESPACE": namespace,
                "ASSISTWATCH_SHOW_OUTPUT": "false",
                **backend.env,
            }
        )
        return build_app(
            settings, receivers={people.name: people}, clock=clock, sleep=lambda _: None, environ={}
        )

    yield make_app, people, backend
    cloud.stop()
    for fake in stack:
        fake.__exit__(None, None, None)


def poll(app: App, name: str) -> Any:
    return app.run(Poll(origin="timer"), Invocation(name, CREDENTIALS, timeout_seconds=60))


def test_overlapping_runs_tell_each_failure_exactly_once(world):
    make_app, people, _ = world
    # GIVEN four timer runs at the same moment, each its own FC instance (own store client)
    apps = [make_app() for _ in range(4)]
    with ThreadPoolExecutor(len(apps)) as pool:
        reports = list(pool.map(poll, apps, [f"run-{n}" for n in range(len(apps))]))
    # THEN every failure reached people once, whoever won each claim
    assert sorted(people.told) == EXPECTED
    assert all(report.ok for report in reports), [r.errors for r in reports]
    assert sum(report.alerts_sent for report in reports) == len(EXPECTED)


def test_a_run_killed_between_claim_and_send_is_finished_by_a_later_run(world):
    make_app, people, _ = world
    # GIVEN a run that claims everything and dies before sending
    people.die_before_send = True
    with pytest.raises(KeyboardInterrupt):
        poll(make_app(), "run-dies")
    people.die_before_send = False
    # WHILE its lease runs, the next run does not send its claims
    poll(make_app(), "run-early")
    assert people.told == []
    # ONCE the lease has ended (timeout 60 s + 60 s), a later run delivers them, once
    later = datetime.now(timezone.utc) + timedelta(seconds=200)
    report = poll(make_app(clock=lambda: later), "run-late")
    assert sorted(people.told) == EXPECTED
    assert report.redelivered == len(EXPECTED)


def test_a_store_outage_fails_loudly_and_a_retry_loses_nothing(world):
    make_app, people, backend = world
    if backend.kind == "file":
        pytest.skip("a local directory has no outage to inject")
    # GIVEN the state store answers 503 for a while
    backend.outage(200)
    # WHEN the timer fires THEN the run raises (FC retries it) and tells nobody
    with pytest.raises(StateError):
        poll(make_app(), "run-outage")
    assert people.told == []
    # WHEN the store is back THEN the retry tells everything, once
    backend.outage(0)
    if backend.ots is not None:
        backend.ots._faults.clear()
    if backend.oss is not None:
        backend.oss._faults.clear()
    poll(make_app(), "run-retry")
    assert sorted(people.told) == EXPECTED


def test_two_deployments_sharing_the_store_never_see_each_others_state(world):
    make_app, people, _ = world
    poll(make_app(namespace="team-a"), "a-1")
    poll(make_app(namespace="team-b"), "b-1")
    # Each deployment tells its own people everything: neither thought it already done.
    assert sorted(people.told) == sorted(EXPECTED * 2)
