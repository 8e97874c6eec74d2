"""Status decides: Cloud Assistant records become Findings only for terminal failures."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lib.core.findings import (
    IN_FLIGHT_STATUSES,
    OUTPUT_LIMIT,
    findings_from_invocation,
    findings_from_results,
    findings_from_send_file,
    is_finding,
    is_terminal,
)
from lib.core.records.ecs import (
    Invocation,
    InvocationResult,
    InvocationResultsPage,
    InvocationsPage,
    SendFileInvocation,
    SendFileResultsPage,
)

EVENTS = Path(__file__).parent / "events"
WHERE: dict[str, Any] = {"account": "self", "region": "cn-hangzhou"}


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def invocation(*instances: dict[str, Any], **fields: Any) -> Invocation:
    return Invocation.model_validate(
        {
            "InvokeId": "t-1",
            "CommandName": "deploy",
            "CommandId": "c-1",
            "CommandType": "RunShellScript",
            "RepeatMode": "Once",
            "InvokeInstances": {"InvokeInstance": list(instances)},
            **fields,
        },
        context={"content_encoding": "Base64"},
    )


def send_file(*instances: dict[str, Any]) -> SendFileInvocation:
    return SendFileInvocation.model_validate(
        {
            "InvokeId": "f-1",
            "Name": "app.conf",
            "TargetDir": "/etc/app",
            "InvokeInstances": {"InvokeInstance": list(instances)},
        }
    )


def test_the_success_sample_carrying_an_error_code_is_not_a_finding():
    """GIVEN seed 003's sample: an instance in Success that says ErrorCode InstanceNotExists
    WHEN findings are built THEN there are none (status decides)."""
    page = InvocationsPage.model_validate(event("ecs_describe_invocations.json"))
    assert page.invocations[0].invoke_instances[0].error_code == "InstanceNotExists"
    assert findings_from_invocation(page.invocations[0], **WHERE) == []


@pytest.mark.parametrize(
    "name", ["ecs_describe_send_file_results.json", "ecs_describe_send_file_results_en.json"]
)
def test_the_send_file_success_samples_are_not_findings(name: str):
    """GIVEN seed 000's sample: Success with ErrorCode InstanceNotExists WHEN built THEN none."""
    page = SendFileResultsPage.model_validate(event(name))
    assert findings_from_send_file(page.invocations[0], **WHERE) == []


def test_the_failed_results_sample_is_one_exit_code_nonzero_finding():
    """GIVEN seed 004's sample: Failed, ExitCode 1, ExitCodeNonzero WHEN built THEN one
    finding on that instance, classified ExitCodeNonzero, with its times."""
    page = InvocationResultsPage.model_validate(event("ecs_describe_invocation_results.json"))
    [finding] = findings_from_results(page.results, **WHERE)
    assert (finding.invoke_id, finding.instance_id) == (
        "t-hz0jdfwd9f****",
        "i-bp1i7gg30r52z2em****",
    )
    assert (finding.kind, finding.provider, finding.status) == ("command", "ecs", "Failed")
    assert (finding.error_code, finding.exit_code) == ("ExitCodeNonzero", 1)
    assert finding.classification.code == "ExitCodeNonzero"
    assert finding.command_id == "c-hz0jdfwcsr****"
    assert finding.started_at is not None
    assert finding.finished_at is not None
    assert finding.finished_at > finding.started_at


@pytest.mark.parametrize("status", ["Invalid", "Aborted", "Failed", "Error", "Timeout"])
def test_every_terminal_failure_status_is_a_finding(status: str):
    inv = invocation({"InstanceId": "i-1", "InvocationStatus": status})
    [finding] = findings_from_invocation(inv, **WHERE)
    assert finding.status == status


@pytest.mark.parametrize(
    "status", ["Success", "Pending", "Running", "Scheduled", "Stopping", "Cancelled", "Terminated"]
)
def test_success_in_flight_and_cancelled_statuses_are_not_findings_by_default(status: str):
    inv = invocation(
        {"InstanceId": "i-1", "InvocationStatus": status, "ErrorCode": "ClientNotRunning"}
    )
    assert findings_from_invocation(inv, **WHERE) == []
    assert (
        findings_from_results(
            [inv_result(InvocationStatus=status, ErrorCode="ClientNotRunning")], **WHERE
        )
        == []
    )


@pytest.mark.parametrize("status", ["Cancelled", "Terminated"])
def test_cancelled_and_terminated_are_findings_when_asked_for(status: str):
    inv = invocation({"InstanceId": "i-1", "InvocationStatus": status})
    [finding] = findings_from_invocation(inv, include_cancelled=True, **WHERE)
    assert finding.classification.category == "cancelled"
    assert (
        findings_from_invocation(
            invocation({"InstanceId": "i-1", "InvocationStatus": "Success"}),
            include_cancelled=True,
            **WHERE,
        )
        == []
    )


def test_one_finding_per_failed_instance_with_the_invocations_details():
    """GIVEN one task on three instances: Success, Failed (exit 2), ClientNotRunning
    WHEN built THEN two findings, each carrying the command's name, type and repeat mode."""
    inv = invocation(
        {"InstanceId": "i-ok", "InvocationStatus": "Success", "ExitCode": 0},
        {
            "InstanceId": "i-bad",
            "InvocationStatus": "Failed",
            "ExitCode": 2,
            "StartTime": "2024-03-01T10:00:00Z",
            "FinishTime": "2024-03-01T10:00:05Z",
            "Output": base64.b64encode(b"No space left on device\n").decode(),
            "Dropped": 0,
        },
        {
            "InstanceId": "i-agent",
            "InvocationStatus": "Aborted",
            "ErrorCode": "ClientNotRunning",
            "ErrorInfo": "the aliyun service is not running on the instance",
            "UpdateTime": "2024-03-01T10:01:00Z",
        },
        Timed=True,
    )
    bad, agent = findings_from_invocation(inv, account="1234", region="cn-beijing", provider="ecs")
    assert (bad.instance_id, agent.instance_id) == ("i-bad", "i-agent")
    assert bad.classification.code == "ExitCodeNonzero"
    assert bad.output == "No space left on device\n"
    assert (bad.name, bad.command_type, bad.repeat_mode) == ("deploy", "RunShellScript", "Once")
    assert bad.timed is True
    assert (bad.account, bad.region) == ("1234", "cn-beijing")
    assert agent.classification.category == "agent"
    assert agent.error_info == "the aliyun service is not running on the instance"
    assert agent.finished_at is not None  # falls back to UpdateTime when never finished


def test_the_recommended_status_field_wins_over_the_legacy_one():
    """GIVEN InvocationStatus Success but the legacy InstanceInvokeStatus Failed WHEN built
    THEN no finding; GIVEN only the legacy Failed THEN a finding."""
    both = invocation(
        {"InstanceId": "i-1", "InvocationStatus": "Success", "InstanceInvokeStatus": "Failed"}
    )
    assert findings_from_invocation(both, **WHERE) == []
    legacy_only = invocation({"InstanceId": "i-1", "InstanceInvokeStatus": "Failed"})
    assert [f.status for f in findings_from_invocation(legacy_only, **WHERE)] == ["Failed"]


def test_results_use_invocation_status_not_the_coarse_record_status():
    """GIVEN a result whose InvokeRecordStatus is Finished but InvocationStatus Timeout
    WHEN built THEN it is a Timeout finding."""
    [finding] = findings_from_results(
        [inv_result(InvocationStatus="Timeout", InvokeRecordStatus="Finished")], **WHERE
    )
    assert finding.status == "Timeout"
    assert finding.classification.code == "Status.Timeout"


def test_results_borrow_name_and_repeat_mode_from_the_matching_invocation_only():
    inv = invocation(RepeatMode="Period")
    mine, other = findings_from_results(
        [inv_result(InvokeId="t-1"), inv_result(InvokeId="t-other")], invocation=inv, **WHERE
    )
    assert (mine.name, mine.repeat_mode) == ("deploy", "Period")
    assert (other.name, other.repeat_mode) == (None, None)


def test_long_output_keeps_its_tail_within_the_limit():
    """GIVEN 10,000 characters of output ending in the error WHEN built THEN the finding keeps
    at most OUTPUT_LIMIT characters and the error at the end survives."""
    text = "x" * 10_000 + "FATAL: it broke"
    [finding] = findings_from_results(
        [inv_result(Output=base64.b64encode(text.encode()).decode(), Dropped=1234)], **WHERE
    )
    assert finding.output is not None
    assert len(finding.output) <= OUTPUT_LIMIT
    assert finding.output.endswith("FATAL: it broke")
    assert finding.dropped == 1234


def test_output_that_was_not_valid_base64_says_so():
    [finding] = findings_from_results([inv_result(Output="%%%not-base64")], **WHERE)
    assert finding.output is not None
    assert "not valid Base64" in finding.output
    assert finding.output.endswith("%%%not-base64")


def test_a_failed_file_send_is_a_file_finding_with_its_name_and_directory():
    """GIVEN a file send that failed with FileAlreadyExists on one instance WHEN built THEN
    one file finding naming the file, its directory and the code's explanation."""
    inv = send_file(
        {"InstanceId": "i-ok", "InvocationStatus": "Success", "ErrorCode": ""},
        {
            "InstanceId": "i-dup",
            "InvocationStatus": "Failed",
            "ErrorCode": "FileAlreadyExists",
            "ErrorInfo": "File already exists",
            "FinishTime": "2024-03-01T10:00:00Z",
        },
    )
    [finding] = findings_from_send_file(inv, provider="ecs", **WHERE)
    assert (finding.kind, finding.instance_id, finding.invoke_id) == ("file", "i-dup", "f-1")
    assert (finding.name, finding.target_dir) == ("app.conf", "/etc/app")
    assert finding.exit_code is None
    assert finding.classification.code == "FileAlreadyExists"
    assert finding.classification.category == "file"


def test_a_file_send_timeout_without_a_code_is_explained_by_status():
    [finding] = findings_from_send_file(
        send_file({"InstanceId": "i-1", "InvocationStatus": "Timeout"}), **WHERE
    )
    assert finding.classification.code == "Status.Timeout"


def test_terminal_and_in_flight_statuses():
    for status in (
        "Success",
        "Failed",
        "Invalid",
        "Aborted",
        "Error",
        "Timeout",
        "Cancelled",
        "Terminated",
    ):
        assert is_terminal(status), status
    for status in IN_FLIGHT_STATUSES:
        assert not is_terminal(status), status
        assert not is_finding(status, include_cancelled=True), status
    assert {"Pending", "Running", "Scheduled", "Stopping"} == IN_FLIGHT_STATUSES
    # A status nobody has seen yet keeps a watch asking rather than end it.
    assert not is_terminal("SomethingNew")
    assert not is_terminal(None)


def inv_result(**fields: Any) -> InvocationResult:
    raw = {"InvokeId": "t-1", "InstanceId": "i-1", "InvocationStatus": "Failed", **fields}
    page = InvocationResultsPage.model_validate(
        {"Invocation": {"InvocationResults": {"InvocationResult": [raw]}}},
        context={"content_encoding": "Base64"},
    )
    return page.results[0]


# --- how many instances the invocation targeted (issue #15's "37 of 200") -----------------------


def _instances(failed: int, total: int) -> list[dict[str, Any]]:
    return [
        {"InstanceId": f"i-{n}", "InvocationStatus": "Failed" if n < failed else "Success"}
        for n in range(total)
    ]


def test_each_failure_knows_how_many_instances_its_invocation_targeted():
    # GIVEN a DescribeInvocations record listing its 200 instances, 3 of them failed
    found = findings_from_invocation(invocation(*_instances(3, 200)), **WHERE)
    # THEN three findings, each knowing the invocation targeted 200
    assert [(f.instance_id, f.targeted) for f in found] == [(f"i-{n}", 200) for n in range(3)]


def test_a_file_send_takes_its_vm_count_and_never_less_than_it_lists():
    sent = send_file(*_instances(1, 3)).model_copy(update={"vm_count": 12})
    assert [f.targeted for f in findings_from_send_file(sent, **WHERE)] == [12]
    odd = sent.model_copy(update={"vm_count": 2})  # fewer than listed: the list is the truth
    assert [f.targeted for f in findings_from_send_file(odd, **WHERE)] == [3]
    absent = sent.model_copy(update={"vm_count": None})
    assert [f.targeted for f in findings_from_send_file(absent, **WHERE)] == [3]


def test_results_know_the_total_only_from_their_invocation():
    # DescribeInvocationResults pages list executions, not an invocation's instances
    alone = findings_from_results([inv_result(InvokeId="t-1")], **WHERE)
    assert [f.targeted for f in alone] == [None]
    borrowed = findings_from_results(
        [inv_result(InvokeId="t-1")], invocation=invocation(*_instances(1, 40)), **WHERE
    )
    assert [f.targeted for f in borrowed] == [40]


def test_a_stored_finding_from_before_reads_with_no_total():
    # GIVEN an alert stored in the outbox by the previous version (no "targeted" key)
    stored = findings_from_invocation(invocation(*_instances(1, 5)), **WHERE)[0]
    old = stored.model_dump(mode="json")
    del old["targeted"]
    # THEN it loads, its total unknown
    assert type(stored).model_validate(old).targeted is None
