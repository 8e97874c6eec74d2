"""The outbox against the strict DingTalk fake: the 20-a-minute budget, digests, 130101 pauses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from lib.app.outbox import DeliveryTally, Outbox
from lib.core.alerts import Alert
from lib.notify.dingtalk import DingTalkReceiver
from lib.state.file import FileStore
from lib.support.log import get_logger
from tests.factories import T1, Clock, make_alert, make_finding
from tests.fakes.dingtalk import DingTalkFake

TOKEN = "0f3c1b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


@pytest.fixture
def fake(clock: Clock) -> Iterator[DingTalkFake]:
    with DingTalkFake(clock=clock) as server:
        yield server


def groups(count: int, *, start: int = 0) -> list[Alert]:
    """One failed instance in each of ``count`` invocations (so ``count`` groups)."""
    return [
        make_alert(
            make_finding(
                invoke_id=f"t-hz0jdfwd9f{n:04d}",
                instance_id=f"i-bp1i7gg30r52z2e{n:05d}",
                finished_at=T1 + timedelta(seconds=n),
            )
        )
        for n in range(start, start + count)
    ]


def run(
    store: FileStore,
    fake: DingTalkFake,
    http: httpx.Client,
    clock: Clock,
    alerts: list[Alert],
    *,
    owner: str,
) -> DeliveryTally:
    robot = DingTalkReceiver(
        "ops",
        SecretStr(fake.url_for(TOKEN)),
        SecretStr(SECRET),
        http=http,
        clock=clock,
        sleep=lambda seconds: None,
    )
    box = Outbox(
        store,
        {"ops": robot},
        owner=owner,
        lease_seconds=660,
        clock=clock,
        log=get_logger(),
    )
    tally = DeliveryTally()
    box.flush_pending(tally)
    box.deliver(box.claim({"ops": alerts}, tally), tally)
    return tally


def told(fake: DingTalkFake) -> str:
    return "\n".join(b["markdown"]["text"] for b in fake.received(TOKEN) if "markdown" in b)


def test_more_groups_than_the_budget_become_one_digest_naming_every_alert(
    tmp_path: Path, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN 30 invocations failed at once (30 groups, budget 20 a minute)
    WHEN one run delivers them THEN the robot gets a digest, never 130101, naming all 30."""
    fake.add_robot(TOKEN, secret=SECRET)
    tally = run(FileStore(tmp_path), fake, http, clock, groups(30), owner="run-1")
    assert tally.alerts_sent == 30
    assert tally.messages_sent < 20
    assert 130101 not in fake.answers(TOKEN)
    text = told(fake)
    for n in range(30):
        assert f"i-bp1i7gg30r52z2e{n:05d}" in text


def test_a_budget_spent_by_another_run_leaves_alerts_in_the_outbox_not_dropped(
    tmp_path: Path, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN an earlier run sent 20 groups in this minute (one message each)
    WHEN a second run, 10 s later, has a new failure THEN it sends nothing (no 130101),
    notes the deferral without calling it an error, and a run a minute later delivers it."""
    fake.add_robot(TOKEN, secret=SECRET)
    store = FileStore(tmp_path)
    first = run(store, fake, http, clock, groups(1), owner="run-1")
    assert first.messages_sent == 1
    for n in range(19):  # the rest of the minute's budget, one group at a time
        run(store, fake, http, clock, groups(1, start=100 + n), owner=f"run-fill-{n}")
    assert len(fake.received(TOKEN)) == 20
    clock.now += 10
    second = run(store, fake, http, clock, groups(1, start=500), owner="run-2")
    assert (second.messages_sent, second.deferred, second.errors) == (0, 1, [])
    assert any("budget" in note for note in second.notes)
    assert fake.answers(TOKEN).count(130101) == 0
    clock.now += 60
    third = run(store, fake, http, clock, [], owner="run-3")
    assert third.redelivered == 1
    assert "i-bp1i7gg30r52z2e00500" in told(fake)


def test_130101_pauses_the_robot_ten_minutes_for_every_run(
    tmp_path: Path, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN the robot was made to throttle by someone else (21 sends this minute)
    WHEN a run sends and gets 130101 THEN the alert waits; runs within ten minutes do not
    even call the robot; the first run after ten minutes delivers it once."""
    url = fake.add_robot(TOKEN)
    for _ in range(21):  # another tool sharing the robot
        httpx.post(url, json={"msgtype": "text", "text": {"content": "x"}})
    store = FileStore(tmp_path)
    first = run(store, fake, http, clock, groups(1), owner="run-1")
    assert first.deferred == 1
    assert "130101" in first.errors[0]
    calls = len(fake.answers(TOKEN))
    clock.now += 300
    during = run(store, fake, http, clock, groups(1, start=7), owner="run-2")
    assert during.messages_sent == 0
    assert len(fake.answers(TOKEN)) == calls  # the paused robot was not called at all
    clock.now += 301
    after = run(store, fake, http, clock, [], owner="run-3")
    assert after.alerts_sent == 2
    assert told(fake).count("i-bp1i7gg30r52z2e00000") == 1


def failing_tasks(commands: int, instances: int) -> list[Alert]:
    """``commands`` different commands (one invocation each), each failed on ``instances``."""
    return [
        make_alert(
            make_finding(
                name=f"job-{c:03d}.sh",
                invoke_id=f"t-hz0jdfwd9g{c:04d}",
                instance_id=f"i-bp1i7gg30r52z2f{c:03d}{i:02d}",
                finished_at=T1 + timedelta(seconds=c),
            )
        )
        for c in range(commands)
        for i in range(instances)
    ]


def assert_every_alert_named_with_its_task(text: str, alerts: list[Alert]) -> None:
    """Each alert's command name, invoke id and instance appear together in one entry."""
    entries = text.split("\n\n")
    for alert in alerts:
        finding = alert.finding
        assert any(
            (finding.name or "") in entry
            and finding.invoke_id in entry
            and finding.instance_id in entry
            for entry in entries
        ), f"{finding.instance_id} is told without its task {finding.name} {finding.invoke_id}"


def test_a_digest_of_45_failing_commands_names_the_command_of_every_failed_instance(
    tmp_path: Path, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN 45 commands failed at once, each on 2 instances (45 groups, budget 20 a minute)
    WHEN one run delivers them as a digest THEN every one of the 90 alerts is told with its
    command name and invoke id next to its instance, not as "`ExitCodeNonzero` × 70"."""
    fake.add_robot(TOKEN, secret=SECRET)
    alerts = failing_tasks(45, 2)
    tally = run(FileStore(tmp_path), fake, http, clock, alerts, owner="run-1")
    assert tally.alerts_sent == 90
    assert tally.messages_sent < 20
    assert_every_alert_named_with_its_task(told(fake), alerts)


def test_a_digest_too_big_for_one_message_is_split_between_tasks_never_dropping_one(
    tmp_path: Path, fake: DingTalkFake, http: httpx.Client, clock: Clock
) -> None:
    """GIVEN 150 commands failed on 12 instances each (1,800 alerts: far beyond 20,000 bytes)
    WHEN one run delivers them THEN the digest goes out in several messages, each within
    DingTalk's limit (the fake refuses bigger ones), and every alert is named with its task."""
    fake.add_robot(TOKEN, secret=SECRET)
    alerts = failing_tasks(150, 12)
    tally = run(FileStore(tmp_path), fake, http, clock, alerts, owner="run-1")
    assert (tally.alerts_sent, tally.errors) == (1800, [])
    assert 1 < tally.messages_sent < 20
    assert 460101 not in fake.answers(TOKEN)
    assert_every_alert_named_with_its_task(told(fake), alerts)
