"""Inhibition, end to end (Alertmanager's inhibit_rules): an open agent-down alert holds the
command failures its agent caused on that instance, and they are told if they outlive it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lib.app.config import parse_config
from lib.support.errors import ConfigError
from tests.fakes.dataset import agent, command, run
from tests.test_instance_context import Pager, poll, watcher

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def failed(invoke: str, instance: str, code: str, *, name: str, status: str = "Failed"):
    return command(
        created=NOW - timedelta(minutes=5),
        name=name,
        invoke=invoke,
        instances=[run(instance, status, error_code=code, exit_code=None)],
    )


@pytest.fixture
def agent_down(dataset):
    # GIVEN the agent on i-app is down: a hotfix could not reach it (ClientNotRunning), and a
    # deploy to it and to a healthy instance timed out in delivery
    dataset.add(
        failed("hotfix", "i-app", "ClientNotRunning", name="hotfix.sh", status="Aborted"),
        failed("deploy", "i-app", "DeliveryTimeout", name="deploy.sh"),
        failed("deploy-web", "i-web", "DeliveryTimeout", name="deploy.sh"),
        agent("i-app", online=False),
    )
    return dataset


def told(app) -> set[tuple[str, str]]:
    inbox: Pager = app.receivers["people"]
    return {(a.subject, a.finding.instance_id) for a in inbox.alerts.values()}


def read(app) -> str:
    inbox: Pager = app.receivers["people"]
    text = inbox.read
    inbox.texts.clear()
    return text


def test_an_agent_down_alert_holds_the_delivery_failures_it_caused(cloud, agent_down, tmp_path):
    app = watcher(cloud, tmp_path)
    report = poll(app)
    text = read(app)
    # THEN people hear the cause once: the agent on i-app; and i-web's own failure
    assert "agent unhealthy on `i-app`" in text
    assert "`i-web`" in text
    # AND the deploy failure on i-app is held, not lost: counted and said in the report
    assert told(app) == {("agent", "i-app"), ("execution", "i-web")}
    assert report.inhibited == 1
    assert any(n.startswith("inhibited: 1 alert(s) held") for n in report.notes)


def test_a_held_failure_is_told_when_it_outlives_the_agent_alert(cloud, agent_down, tmp_path):
    app = watcher(cloud, tmp_path)
    poll(app)
    read(app)
    # WHEN the agent comes back
    agent_down.add(agent("i-app", online=True))
    report = poll(app)
    text = read(app)
    # THEN the agent alert resolves AND the deploy failure it held is told now
    assert "agent healthy again on `i-app`" in text
    assert "`deploy.sh`" in text
    assert "`i-app`" in text
    assert any("told now: they outlived" in n for n in report.notes)
    # AND only once
    poll(app)
    assert read(app) == ""


def test_a_held_failure_stays_held_while_the_agent_is_still_down(cloud, agent_down, tmp_path):
    app = watcher(cloud, tmp_path)
    poll(app)
    read(app)
    poll(app)
    assert "deploy.sh" not in read(app)


def test_an_empty_inhibit_rules_list_turns_inhibition_off(cloud, agent_down, tmp_path):
    routing = tmp_path / "routing.yaml"
    routing.write_text("receivers: []\ninhibit_rules: []\n", encoding="utf-8")
    app = watcher(cloud, tmp_path, ASSISTWATCH_CONFIG=str(routing))
    report = poll(app)
    text = read(app)
    assert "agent unhealthy on `i-app`" in text
    assert text.count("`deploy.sh`") >= 1
    assert report.inhibited == 0


def test_a_rule_of_ones_own_holds_backups_while_a_disk_check_fails(cloud, dataset, tmp_path):
    # GIVEN a rule: a failing disk-check on an instance explains its backup failures
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "receivers: []\n"
        "inhibit_rules:\n"
        "  - source_matchers: {name: disk-check.sh}\n"
        "    target_matchers: {name: 'backup*'}\n"
        "    equal: [instance_id]\n",
        encoding="utf-8",
    )
    dataset.add(
        failed("disk", "i-db", "ExitCodeNonzero", name="disk-check.sh"),
        failed("bk", "i-db", "ExitCodeNonzero", name="backup.sh"),
        failed("bk2", "i-other", "ExitCodeNonzero", name="backup.sh"),
    )
    app = watcher(cloud, tmp_path, ASSISTWATCH_CONFIG=str(routing))
    report = poll(app)
    text = read(app)
    # THEN the disk check and the other instance's backup are told; i-db's backup is held
    assert "disk-check.sh" in text
    assert "`i-other`" in text
    inbox: Pager = app.receivers["people"]  # type: ignore[assignment]
    assert sorted(a.finding.name or "" for a in inbox.alerts.values()) == [
        "backup.sh",
        "disk-check.sh",
    ]
    assert report.inhibited == 1


def test_a_bad_inhibit_rule_is_one_line_naming_the_field():
    with pytest.raises(
        ConfigError, match=r"routing.yaml:3: inhibit_rules\[0\]\.equal: cannot compare colour"
    ):
        parse_config(
            "inhibit_rules:\n  - source_matchers: {subject: agent}\n    equal: [colour]\n",
            source="routing.yaml",
        )
