"""The ECS Cloud Assistant answers parse into typed records, as the references print them."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lib.core.records.ecs import (
    InvocationResultsPage,
    InvocationsPage,
    SendFileResultsPage,
    decode_text,
    parse_api_time,
)

EVENTS = Path(__file__).parent / "events"
UTC = timezone.utc


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def test_describe_invocations_sample_parses_with_every_documented_field():
    """GIVEN seed 003's sample WHEN parsed THEN invocation, instance and tags are typed."""
    page = InvocationsPage.model_validate(
        event("ecs_describe_invocations.json"), context={"content_encoding": "PlainText"}
    )
    assert (page.total_count, page.page_number, page.page_size) == (1, 1, 10)
    assert page.next_token == "AAAAAdDWBF2"
    assert page.request_id == "473469C7-AA6F-4DC5-B3DB-A3DC0DE3****"
    [inv] = page.invocations
    assert inv.invoke_id == "t-hz0jdfwd9f****"
    assert inv.invocation_status == "Running"
    assert inv.invoke_status == "Finished"
    assert inv.creation_time == datetime(2020, 1, 19, 9, 15, 46, tzinfo=UTC)
    assert (inv.repeat_mode, inv.frequency, inv.timed) == ("Once", "0 */20 * * * *", False)
    assert (inv.command_id, inv.command_name, inv.command_type) == (
        "c-hz0jdfwcsr****",
        "CommandTestName",
        "RunShellScript",
    )
    assert inv.command_description == "testDescription"
    assert inv.command_content is not None
    assert inv.command_content.text == "cnBtIC1xYSB8IGdyZXAgdnNm****"
    assert inv.parameters == "{}"
    assert (inv.username, inv.working_dir, inv.timeout) == ("test", "/home/", 60)
    assert inv.container_name == "test-container"
    assert inv.container_id is not None
    assert inv.termination_mode == "ProcessTree"
    assert inv.launcher == 'python3 -u {{ACS::ScriptFileName|Ext(".py")}}'
    assert [(t.tag_key, t.tag_value) for t in inv.tags] == [("owner", "zhangsan")]
    [inst] = inv.invoke_instances
    assert inst.instance_id == "i-bp1i7gg30r52z2em****"
    assert inst.invocation_status == "Success"
    assert inst.instance_invoke_status == "Finished"
    assert inst.creation_time == datetime(2019, 12, 20, 6, 15, 54, tzinfo=UTC)
    assert inst.start_time == datetime(2019, 12, 20, 6, 15, 55, tzinfo=UTC)
    assert inst.finish_time == datetime(2019, 12, 20, 6, 15, 56, tzinfo=UTC)
    assert inst.update_time == inst.stop_time == datetime(2020, 1, 19, 9, 15, 47, tzinfo=UTC)
    assert (inst.repeats, inst.exit_code, inst.dropped, inst.timed) == (0, 0, 0, False)
    assert inst.error_code == "InstanceNotExists"
    assert inst.error_info == "the specified instance does not exists"
    assert inst.output is not None
    assert inst.output.text == "OutPutTestmsg"


def test_describe_invocation_results_sample_parses_with_empty_strings_as_absent():
    """GIVEN seed 004's sample (Output "", StopTime "") WHEN parsed THEN those are None."""
    page = InvocationResultsPage.model_validate(event("ecs_describe_invocation_results.json"))
    assert page.request_id == "F416C43A-6581-4138-9503-4FBBC4EA1BB7"
    assert (page.invocation.total_count, page.invocation.page_size) == (5, 1)
    assert page.invocation.page_number == 1
    assert page.next_token is None
    [res] = page.results
    assert (res.invoke_id, res.instance_id) == ("t-hz0jdfwd9f****", "i-bp1i7gg30r52z2em****")
    assert (res.invocation_status, res.invoke_record_status) == ("Failed", "Finished")
    assert (res.exit_code, res.repeats, res.dropped) == (1, 1, 0)
    assert res.error_code == "ExitCodeNonzero"
    assert res.error_info == "the command execution exit code is not zero."
    assert res.command_id == "c-hz0jdfwcsr****"
    assert res.start_time == datetime(2020, 5, 11, 9, 1, 40, tzinfo=UTC)
    assert res.finished_time == datetime(2020, 5, 11, 9, 1, 41, tzinfo=UTC)
    assert res.output is None
    assert res.stop_time is None


@pytest.mark.parametrize(
    "name", ["ecs_describe_send_file_results.json", "ecs_describe_send_file_results_en.json"]
)
def test_describe_send_file_results_samples_parse(name: str):
    """GIVEN the zh and en samples (Overwrite "false" vs false) WHEN parsed THEN both agree."""
    page = SendFileResultsPage.model_validate(event(name))
    [inv] = page.invocations
    assert inv.overwrite is False
    assert inv.invocation_status == "Success"
    assert (inv.name, inv.target_dir, inv.content_type) == ("test.txt", "/home/user", "PlainText")
    assert (inv.file_owner, inv.file_group, inv.vm_count) == ("test", "test", 1)
    assert inv.file_mode in {"777", "0644"}
    assert inv.description == "This is a test file."
    assert inv.content
    [inst] = inv.invoke_instances
    assert inst.invocation_status == "Success"
    assert inst.instance_id.startswith("i-")
    assert inst.start_time is not None
    assert inst.start_time.tzinfo is not None
    assert inst.finish_time is not None
    assert inst.update_time is not None
    assert inst.creation_time is not None


def test_zh_send_file_sample_keeps_tags_error_code_and_paging():
    page = SendFileResultsPage.model_validate(event("ecs_describe_send_file_results.json"))
    assert (page.total_count, page.next_token) == (2, "AAAAAdDWBF2")
    [inv] = page.invocations
    assert [(t.tag_key, t.tag_value) for t in inv.tags] == [("owner", "zhangsan")]
    assert inv.invoke_instances[0].error_code == "InstanceNotExists"


def test_en_send_file_sample_repair_only_adds_the_braces_the_page_lost():
    """GIVEN seed 001's sample as printed (not JSON: the page lost some braces) WHEN it is
    compared with the repaired event THEN they differ only in structural characters."""

    def data_only(text: str) -> str:
        return re.sub(r"[\s{}\[\],]", "", text)

    printed = (EVENTS / "ecs_describe_send_file_results_en.as_printed.txt").read_text("utf-8")
    repaired = (EVENTS / "ecs_describe_send_file_results_en.json").read_text("utf-8")
    with pytest.raises(json.JSONDecodeError):
        json.loads(printed)
    assert data_only(printed) == data_only(repaired)


def test_base64_output_is_decoded_with_the_requests_encoding():
    """GIVEN Output "MTU6MzA6MDEK" (the reference's example) and ContentEncoding Base64
    WHEN parsed THEN the text is decoded."""
    raw = {
        "Invocation": {"InvocationResults": {"InvocationResult": [_result(Output="MTU6MzA6MDEK")]}}
    }
    page = InvocationResultsPage.model_validate(raw, context={"content_encoding": "Base64"})
    output = page.results[0].output
    assert output is not None
    assert (output.text, output.encoding, output.decode_failed) == ("15:30:01\n", "Base64", False)


def test_plain_text_output_is_kept_as_is():
    raw = {
        "Invocation": {"InvocationResults": {"InvocationResult": [_result(Output="MTU6MzA6MDEK")]}}
    }
    page = InvocationResultsPage.model_validate(raw, context={"content_encoding": "PlainText"})
    output = page.results[0].output
    assert output is not None
    assert (output.text, output.encoding) == ("MTU6MzA6MDEK", "PlainText")


def test_bad_base64_output_is_kept_and_marked_rather_than_failing_the_page():
    """GIVEN Base64 asked but Output "not base64!" WHEN parsed THEN the page parses and the
    output keeps the raw text, marked decode_failed."""
    raw = {
        "Invocation": {"InvocationResults": {"InvocationResult": [_result(Output="not base64!")]}}
    }
    page = InvocationResultsPage.model_validate(raw, context={"content_encoding": "Base64"})
    output = page.results[0].output
    assert output is not None
    assert (output.text, output.decode_failed) == ("not base64!", True)


def test_output_that_is_not_utf8_is_decoded_with_replacement_characters():
    encoded = base64.b64encode(b"ok \xff\xfe done").decode()
    decoded = decode_text(encoded, "Base64")
    assert decoded.text == "ok \ufffd\ufffd done"
    assert not decoded.decode_failed


def test_outputs_and_contents_stay_out_of_reprs():
    """GIVEN output, command content, parameters and file content holding a password
    WHEN the records are printed THEN the password is not in the repr."""
    secret = "hunter2-Pa55w0rd"
    encoded = base64.b64encode(secret.encode()).decode()
    invocations = InvocationsPage.model_validate(
        {
            "Invocations": {
                "Invocation": [
                    {
                        "InvokeId": "t-1",
                        "CommandContent": encoded,
                        "Parameters": {"password": secret},
                        "InvokeInstances": {
                            "InvokeInstance": [{"InstanceId": "i-1", "Output": encoded}]
                        },
                    }
                ]
            }
        },
        context={"content_encoding": "Base64"},
    )
    files = SendFileResultsPage.model_validate(
        {"Invocations": {"Invocation": [{"InvokeId": "f-1", "Content": secret}]}}
    )
    inv = invocations.invocations[0]
    assert inv.invoke_instances[0].output is not None
    assert inv.invoke_instances[0].output.text == secret  # decoded, usable …
    for shown in (
        repr(invocations),
        str(invocations),
        repr(files),
        repr(inv.invoke_instances[0].output),
    ):
        assert secret not in shown  # … but never printed
        assert encoded not in shown


def test_unknown_fields_and_missing_wrappers_are_tolerated():
    """GIVEN fields the models do not know, null lists and a lone dict instead of a list
    WHEN parsed THEN nothing fails."""
    page = InvocationsPage.model_validate(
        {
            "BrandNewField": {"x": 1},
            "Invocations": {
                "Invocation": {
                    "InvokeId": "t-2",
                    "InvokeInstances": None,
                    "Tags": {},
                    "SomethingElse": 3,
                }
            },
            "TotalCount": "7",
            "NextToken": "",
        }
    )
    assert page.total_count == 7
    assert page.next_token is None
    assert page.invocations[0].invoke_instances == []
    assert page.invocations[0].tags == []


def test_an_empty_answer_is_an_empty_last_page():
    assert InvocationsPage.model_validate({}).invocations == []
    assert InvocationResultsPage.model_validate({"Invocation": None}).results == []
    assert SendFileResultsPage.model_validate({"Invocations": ""}).invocations == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-01-19T09:15:46Z", datetime(2020, 1, 19, 9, 15, 46, tzinfo=UTC)),
        ("2020-01-19T09:15:46", datetime(2020, 1, 19, 9, 15, 46, tzinfo=UTC)),
        (
            "2023-04-10T10:53:46.156+08:00\n",
            datetime(2023, 4, 10, 2, 53, 46, 156000, tzinfo=UTC),
        ),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_api_times_become_aware_datetimes(raw: str | None, expected: datetime | None):
    parsed = parse_api_time(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def _result(**fields: object) -> dict[str, object]:
    return {"InvokeId": "t-1", "InstanceId": "i-1", "InvocationStatus": "Failed", **fields}
