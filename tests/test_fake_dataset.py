"""The fake's dataset keeps statuses consistent the way the API does (seeds 000, 003, 004)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes.dataset import (
    MAX_OUTPUT,
    command,
    file_invoke_id,
    instance_id,
    invoke_id,
    overall_command_status,
    overall_file_status,
    record_status,
    run,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("statuses", "overall"),
    [
        (["Failed", "Failed", "Failed", "Success", "Success"], "PartialFailed"),
        (["Failed", "Timeout", "Aborted"], "Failed"),
        (["Success", "Cancelled"], "Success"),
        (["Failed", "Terminated"], "Failed"),
        (["Cancelled", "Terminated"], "Stopped"),
        (["Success", "Running", "Failed"], "Running"),
        (["Pending", "Running"], "Pending"),
        (["Scheduled", "Success"], "Scheduled"),
        (["Stopping", "Success"], "Stopping"),
    ],
)
def test_overall_command_status_follows_the_seed_aggregation(statuses, overall):
    assert overall_command_status(statuses) == overall


@pytest.mark.parametrize(
    ("statuses", "overall"),
    [
        (["Success", "Failed"], "PartialFailed"),
        (["Failed", "Timeout"], "Failed"),
        (["Success", "Success"], "Success"),
        (["Running", "Failed"], "Running"),
    ],
)
def test_overall_file_status_follows_the_seed_aggregation(statuses, overall):
    assert overall_file_status(statuses) == overall


def test_a_nonzero_exit_still_finished_while_a_timeout_failed():
    # seed 004: InvocationStatus Failed (exit 1) comes with InvokeRecordStatus Finished
    assert record_status("Failed") == "Finished"
    assert record_status("Timeout") == "Failed"
    assert record_status("Cancelled") == "Stopped"


def test_a_partial_failure_over_five_instances_reads_as_the_api_reports_it():
    # GIVEN a rollout where three of five instances fail
    c = command(
        created=NOW,
        instances=[
            run(f"n{i}", "Failed", error_code="ExitCodeNonzero", exit_code=3) for i in range(3)
        ]
        + [run("n3"), run("n4")],
    )
    # THEN the overall status is PartialFailed, the legacy InvokeStatus Finished,
    # and every failed run carries the API's ErrorInfo and its exit code
    assert c.invocation_status == "PartialFailed"
    assert c.invoke_status == "Finished"
    failed = [r for r in c.instances if r.status == "Failed"]
    assert {r.error_info for r in failed} == {"the command execution exit code is not zero"}
    assert {r.exit_code for r in failed} == {3}
    assert {r.exit_code for r in c.instances if r.status == "Success"} == {0}


def test_times_are_filled_from_the_creation_time_and_never_started_runs_have_no_start():
    c = command(
        created=NOW,
        instances=[run("a"), run("b", "Aborted", error_code="ClientNotRunning")],
    )
    ran, aborted = c.instances
    assert ran.start_time is not None
    assert ran.finish_time is not None
    assert NOW <= ran.start_time <= ran.finish_time
    assert aborted.start_time is None
    assert aborted.finish_time is not None
    assert aborted.repeats == 0


def test_output_beyond_24_kb_is_cut_and_counted_as_dropped():
    c = command(created=NOW, instances=[run("a", output="x" * (MAX_OUTPUT + 100))])
    (r,) = c.instances
    assert (len(r.output), r.dropped) == (MAX_OUTPUT, 100)


def test_periodic_tasks_count_their_executions_and_stay_timed_until_stopped():
    from tests.fakes.dataset import execution

    c = command(
        created=NOW - timedelta(hours=1),
        repeat_mode="Period",
        instances=[run("a", history=[execution("Failed"), execution("Success")])],
    )
    assert c.instances[0].repeats == 3
    assert [h.repeats for h in c.instances[0].history] == [1, 2]
    assert c.timed
    assert c.invoke_status == "Running"


def test_ids_look_like_the_real_ones_and_are_stable():
    assert re.fullmatch(r"i-bp1[0-9a-z]{17}", instance_id("web-1"))
    assert re.fullmatch(r"t-hz[0-9a-z]{14}", invoke_id("deploy"))
    assert re.fullmatch(r"f-hz[0-9a-z]{14}", file_invoke_id("conf"))
    assert instance_id("web-1") == instance_id("web-1") != instance_id("web-2")


def test_unknown_statuses_and_naive_times_are_refused():
    with pytest.raises(ValueError, match="status"):
        run("a", "Exploded")
    with pytest.raises(ValueError, match="timezone"):
        command(created=datetime(2024, 1, 1), instances=[run("a")])  # noqa: DTZ001
