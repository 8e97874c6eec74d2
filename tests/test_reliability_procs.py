"""A few process schedules (SIGKILL, the real DingTalk path, watches, hostile content) in
``make test``; bench/reliability.py --processes runs hundreds (docs/reliability.md)."""

from __future__ import annotations

from bench.reliability_procs import run_proc_schedules


def test_processes_killed_at_random_and_a_robot_answering_late_lose_nothing_and_repeat_only_as_documented():
    # GIVEN schedules of runs SIGKILLed at random instants, late answers, 5xx, 130101,
    # overlapping processes, watch requests and hostile command names, on the file store
    results = run_proc_schedules(6, 7)
    # THEN every failure reached the group, nothing confirmed was sent again, and once the
    # faults stopped every run was ok
    assert [r.lost for r in results] == [0] * 6
    assert [r.beyond for r in results] == [0] * 6
    assert [r.settle_errors for r in results] == [[]] * 6
    # AND the schedules did meet the faults they claim to (processes were really killed)
    assert sum(r.kills for r in results) >= 1
