"""The demo scenario holds what its docstring promises the end-to-end tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.fakes.scenario import EXPECTED_ALERTS, SECRET_IN_OUTPUT, demo_dataset

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
FAILED = {"Invalid", "Aborted", "Failed", "Error", "Timeout"}


def failures_since(cutoff: datetime) -> set[tuple[str, str, str, str, str]]:
    ds = demo_dataset(NOW)
    found = set()
    for c in ds.commands:
        for r in c.instances:
            if r.status in FAILED and r.finish_time and r.finish_time >= cutoff:
                found.add(("command", c.invoke_id, r.instance_id, r.status, r.error_code))
    for f in ds.file_sends:
        for t in f.instances:
            if t.status in FAILED and t.finish_time and t.finish_time >= cutoff:
                found.add(("file", f.invoke_id, t.instance_id, t.status, t.error_code))
    return found


def test_the_failures_within_the_hour_are_exactly_the_expected_alerts():
    # GIVEN the demo scenario WHEN listing terminal failures of the last hour
    found = failures_since(NOW - timedelta(hours=1))
    # THEN they are the eight EXPECTED_ALERTS, in six invocations
    expected = {
        (a.kind, a.invoke_id, a.instance_id, a.status, a.error_code) for a in EXPECTED_ALERTS
    }
    assert found == expected
    assert len(expected) == 8
    assert len({a.invoke_id for a in EXPECTED_ALERTS}) == 6


def test_one_older_failure_lies_before_the_lookback():
    older = failures_since(NOW - timedelta(hours=4)) - failures_since(NOW - timedelta(hours=1))
    assert [(kind, code) for kind, _, _, _, code in older] == [("command", "ExitCodeNonzero")]


def test_the_migration_output_carries_the_fake_password_for_redaction_to_hide():
    ds = demo_dataset(NOW)
    outputs = [r.output for c in ds.commands for r in c.instances if r.exit_code == 2]
    assert any(f"password={SECRET_IN_OUTPUT}" in o for o in outputs)


def test_the_agent_behind_client_not_running_reports_false_and_the_others_true():
    ds = demo_dataset(NOW)
    (client,) = [a for a in EXPECTED_ALERTS if a.error_code == "ClientNotRunning"]
    assert not ds.agents[client.instance_id].online
    others = {a.instance_id for a in EXPECTED_ALERTS} - {client.instance_id}
    assert all(ds.agents[i].online for i in others)
