"""CloudAssistant pages through the three APIs with NextToken and never loops forever."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from lib.cloud.cloudassist.api import CloudAssistant
from lib.support.errors import ApiTransientError, ConfigError


class FakeCaller:
    """Answers each call with the next canned answer and records what it was asked."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, object]]] = []

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        return self.answers.pop(0)


def invocations_page(ids: list[str], token: str = "") -> dict[str, Any]:
    return {
        "RequestId": "req",
        "NextToken": token,
        "Invocations": {"Invocation": [{"InvokeId": i} for i in ids]},
    }


def results_page(ids: list[str], token: str = "", output: str = "") -> dict[str, Any]:
    return {
        "RequestId": "req",
        "Invocation": {
            "NextToken": token,
            "InvocationResults": {
                "InvocationResult": [
                    {"InvokeId": i, "InstanceId": "i-1", "Output": output} for i in ids
                ]
            },
        },
    }


def send_file_page(ids: list[str], token: str = "") -> dict[str, Any]:
    return {"NextToken": token, "Invocations": {"Invocation": [{"InvokeId": i} for i in ids]}}


def test_invocation_pages_follow_next_token_until_it_is_empty():
    """GIVEN three pages linked by NextToken WHEN iterated THEN each page is asked for with
    the previous token and MaxResults 50, and iteration stops after the empty token."""
    caller = FakeCaller(
        invocations_page(["t-1", "t-2"], "tok-a"),
        invocations_page(["t-3"], "tok-b"),
        invocations_page(["t-4"], ""),
    )
    pages = list(CloudAssistant(caller, "cn-hangzhou").invocation_pages(status="Failed"))
    assert [[inv.invoke_id for inv in page.invocations] for page in pages] == [
        ["t-1", "t-2"],
        ["t-3"],
        ["t-4"],
    ]
    assert [params.get("NextToken") for _, params in caller.calls] == [None, "tok-a", "tok-b"]
    for action, params in caller.calls:
        assert action == "DescribeInvocations"
        assert params["MaxResults"] == 50
        assert params["RegionId"] == "cn-hangzhou"
        assert params["InvokeStatus"] == "Failed"


def test_pages_are_fetched_lazily_so_a_poll_can_stop_early():
    """GIVEN two pages WHEN the caller stops after the first THEN only one call is made."""
    caller = FakeCaller(invocations_page(["t-1"], "tok-a"), invocations_page(["t-2"]))
    pages = CloudAssistant(caller, "cn-hangzhou").invocation_pages()
    first = next(iter(pages))
    assert first.invocations[0].invoke_id == "t-1"
    assert len(caller.calls) == 1


def test_invocation_filters_are_sent_with_the_api_names_and_unset_ones_are_left_out():
    caller = FakeCaller(invocations_page([]))
    list(
        CloudAssistant(caller, "cn-shanghai").invocation_pages(
            instance_id="i-9",
            resource_group_id="rg-1",
            tags={"team": "ops", "env": ""},
            repeat_mode="Period",
            command_name="backup",
            include_output=True,
            page_size=20,
        )
    )
    [(_, params)] = caller.calls
    assert params == {
        "RegionId": "cn-shanghai",
        "InstanceId": "i-9",
        "ResourceGroupId": "rg-1",
        "Tag": [{"Key": "team", "Value": "ops"}, {"Key": "env", "Value": ""}],
        "RepeatMode": "Period",
        "CommandName": "backup",
        "IncludeOutput": True,
        "ContentEncoding": "Base64",
        "MaxResults": 20,
    }


def test_invocation_result_pages_read_the_token_inside_invocation_and_decode_output():
    """GIVEN DescribeInvocationResults pages (NextToken inside "Invocation") with Base64
    output WHEN iterated THEN both pages come back and the output is decoded."""
    encoded = base64.b64encode(b"disk full\n").decode()
    caller = FakeCaller(
        results_page(["t-1"], "tok-a", output=encoded), results_page(["t-2"], output=encoded)
    )
    pages = list(
        CloudAssistant(caller, "cn-hangzhou").invocation_result_pages(
            invoke_id="t-1", include_history=True
        )
    )
    assert [page.results[0].invoke_id for page in pages] == ["t-1", "t-2"]
    output = pages[0].results[0].output
    assert output is not None
    assert output.text == "disk full\n"
    first, second = (params for _, params in caller.calls)
    assert first == {
        "RegionId": "cn-hangzhou",
        "InvokeId": "t-1",
        "IncludeHistory": True,
        "ContentEncoding": "Base64",
        "MaxResults": 50,
    }
    assert second["NextToken"] == "tok-a"


def test_send_file_result_pages_page_and_filter():
    caller = FakeCaller(send_file_page(["f-1"], "tok-a"), send_file_page(["f-2"]))
    pages = list(
        CloudAssistant(caller, "cn-hangzhou").send_file_result_pages(
            name="app.conf", status="Failed", page_size=5
        )
    )
    assert [page.invocations[0].invoke_id for page in pages] == ["f-1", "f-2"]
    action, params = caller.calls[0]
    assert action == "DescribeSendFileResults"
    assert params == {
        "RegionId": "cn-hangzhou",
        "Name": "app.conf",
        "InvocationStatus": "Failed",
        "MaxResults": 5,
    }


def test_a_server_repeating_a_token_raises_instead_of_looping_forever():
    """GIVEN a server that answers tok-a, tok-b, then tok-a again WHEN iterated THEN
    ApiTransientError names the action after the third page."""
    caller = FakeCaller(
        send_file_page(["f-1"], "tok-a"),
        send_file_page(["f-2"], "tok-b"),
        send_file_page(["f-3"], "tok-a"),
        send_file_page(["f-4"]),
    )
    pages = CloudAssistant(caller, "cn-hangzhou").send_file_result_pages()
    seen = [next(pages).invocations[0].invoke_id for _ in range(3)]
    with pytest.raises(ApiTransientError) as err:
        next(pages)
    assert err.value.action == "DescribeSendFileResults"
    assert "DescribeSendFileResults" in str(err.value)
    assert seen == ["f-1", "f-2", "f-3"]
    assert len(caller.calls) == 3


def test_a_token_repeated_on_the_very_next_page_is_caught():
    caller = FakeCaller(results_page(["t-1"], "same"), results_page(["t-1"], "same"))
    with pytest.raises(ApiTransientError):
        list(CloudAssistant(caller, "cn-hangzhou").invocation_result_pages())


@pytest.mark.parametrize("page_size", [0, 51, 100])
def test_a_page_size_outside_1_to_50_is_refused_before_any_call(page_size: int):
    caller = FakeCaller()
    assist = CloudAssistant(caller, "cn-hangzhou")
    with pytest.raises(ConfigError):
        assist.invocation_pages(page_size=page_size)
    with pytest.raises(ConfigError):
        assist.invocation_result_pages(page_size=page_size)
    with pytest.raises(ConfigError):
        assist.send_file_result_pages(page_size=page_size)
    assert caller.calls == []


def test_output_without_an_invoke_or_instance_id_is_refused():
    """GIVEN IncludeOutput with neither InvokeId nor InstanceId (the API rejects that)
    WHEN asked THEN ConfigError, no call."""
    caller = FakeCaller()
    with pytest.raises(ConfigError):
        CloudAssistant(caller, "cn-hangzhou").invocation_pages(include_output=True)
    with pytest.raises(ConfigError):
        CloudAssistant(caller, "cn-hangzhou").invocation_result_pages(include_history=True)
    assert caller.calls == []


def test_an_answer_of_the_wrong_shape_is_a_transient_api_error_naming_the_action():
    caller = FakeCaller({"RequestId": "r-1", "Invocations": {"Invocation": [{"NoInvokeId": 1}]}})
    with pytest.raises(ApiTransientError) as err:
        list(CloudAssistant(caller, "cn-hangzhou").invocation_pages())
    assert err.value.action == "DescribeInvocations"
    assert err.value.request_id == "r-1"
