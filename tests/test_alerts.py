"""The decision core: which failures people are told about, and which stay silent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lib.core.alerts import AgentTrack, decide, fingerprint, forget_closed_agents
from tests.factories import T1, make_finding

NOW = T1 + timedelta(minutes=5)


def test_a_new_failure_becomes_one_alert_grouped_by_its_invoke_id():
    finding = make_finding()
    decision = decide([finding], now=NOW, baseline_until=None, told_through=None)
    assert [alert.finding for alert in decision.tell] == [finding]
    alert = decision.tell[0]
    assert alert.group == finding.invoke_id
    assert alert.firing == 1
    assert "ExitCodeNonzero" in alert.reason


def test_the_same_failure_seen_twice_in_one_pass_is_told_once():
    finding = make_finding()
    decision = decide([finding, finding], now=NOW, baseline_until=None, told_through=None)
    assert len(decision.tell) == 1


def test_a_first_run_keeps_failures_older_than_the_lookback_as_a_silent_baseline():
    # GIVEN a failure that finished 3 hours ago and one 5 minutes ago
    old = make_finding(instance_id="i-old", finished_at=NOW - timedelta(hours=3))
    fresh = make_finding(instance_id="i-new", finished_at=NOW - timedelta(minutes=5))
    # WHEN the first run decides with a 1 hour look-back
    decision = decide(
        [old, fresh], now=NOW, baseline_until=NOW - timedelta(hours=1), told_through=None
    )
    # THEN only the fresh one is told; the old one is counted as baseline
    assert [alert.finding.instance_id for alert in decision.tell] == ["i-new"]
    assert decision.baseline == (old,)


def test_failures_an_earlier_pass_handled_are_not_asked_about_again():
    earlier = make_finding(instance_id="i-1", finished_at=NOW - timedelta(minutes=30))
    later = make_finding(instance_id="i-2", finished_at=NOW - timedelta(minutes=1))
    decision = decide(
        [earlier, later], now=NOW, baseline_until=None, told_through=NOW - timedelta(minutes=10)
    )
    assert [alert.finding.instance_id for alert in decision.tell] == ["i-2"]
    assert decision.known == (earlier,)


def test_a_fingerprint_names_account_region_kind_invocation_and_instance():
    base = make_finding()
    assert fingerprint(base) == fingerprint(make_finding(output="other output"))
    for change in (
        {"account": "acs:ram::1:role/x"},
        {"region": "cn-shanghai"},
        {"kind": "file"},
        {"invoke_id": "t-other"},
        {"instance_id": "i-other"},
        {"provider": "eflo"},
    ):
        assert fingerprint(make_finding(**change)) != fingerprint(base), change


def test_agent_tracks_closed_longer_ago_than_any_history_are_forgotten() -> None:
    # GIVEN an open track, one closed a week ago and one closed seven weeks ago
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    open_track = AgentTrack(open=True, firing=1)
    recent = AgentTrack(open=False, firing=1, resolved_at=now - timedelta(weeks=1))
    ancient = AgentTrack(open=False, firing=3, resolved_at=now - timedelta(weeks=7))
    # WHEN the agents record is tidied
    kept = forget_closed_agents({"i-1": open_track, "i-2": recent, "i-3": ancient}, now=now)
    # THEN the open and the recently closed stay (the latter still guards against old evidence)
    assert sorted(kept) == ["i-1", "i-2"]
