"""EfloAssistant asks eflo-controller about one InvokeId, keys answers by it, and turns
failed Lingjun nodes into findings; an id eflo does not know is None, not an error."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr

from lib.cloud.cloudassist.eflo import EFLO_VERSION, EfloAssistant, eflo_client
from lib.core.findings import findings_from_eflo_invocation, findings_from_eflo_send_file
from lib.core.records.eflo import EfloInvocationsPage
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiRequestError, ApiTransientError
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset, eflo_command, eflo_file_send, node_id, run, target

KEY_ID, SECRET = "LTAI-eflo-test", "eflo-test-secret"
REGION = "cn-wulanchabu"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CREDS = Credentials(KEY_ID, SecretStr(SECRET))


@pytest.fixture
def fake(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset) as server:
        yield server


def assistant(http: httpx.Client, fake: CloudAssistantFake, creds: Credentials = CREDS) -> Any:
    caller = eflo_client(http, REGION, creds, endpoint=fake.url, sleep=lambda _s: None)
    return EfloAssistant(caller, REGION)


class CannedCaller:
    """Answers every call with one canned answer and records what it was asked."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, object]]] = []

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        return self.answer


def test_a_node_that_failed_a_command_is_an_eflo_finding_with_its_output(fake, dataset, http):
    # GIVEN a training command that failed on one Lingjun node and succeeded on another
    gpu1, gpu2 = node_id("gpu-1"), node_id("gpu-2")
    dataset.add(
        eflo_command(
            created=NOW - timedelta(minutes=5),
            name="train.sh",
            invoke="t-bj0train",
            nodes=[
                run(gpu1, "Failed", error_code="ExitCodeNonzero", exit_code=137, output="killed"),
                run(gpu2),
            ],
        )
    )
    # WHEN the watcher asks eflo about the id and builds findings
    inv = assistant(http, fake).invocations("t-bj0train")
    findings = findings_from_eflo_invocation(
        inv, invoke_id="t-bj0train", account="self", region=REGION
    )
    # THEN one finding on the failed node: provider eflo, the node as instance, its output
    [found] = findings
    assert (found.provider, found.kind, found.region) == ("eflo", "command", REGION)
    assert (found.invoke_id, found.instance_id, found.status) == ("t-bj0train", gpu1, "Failed")
    assert (found.exit_code, found.output, found.name) == (137, "killed", "train.sh")
    assert found.classification.code == "ExitCodeNonzero"
    # ... and eflo's +08:00 millisecond times came out as aware datetimes, equal to the truth
    assert found.finished_at == dataset.eflo_commands[0].instances[0].finish_time
    assert inv.creation_time.utcoffset() == timedelta(hours=8)
    # ... asked the eflo way: one DescribeInvocations with output, no RegionId
    [(action, params)] = fake.calls
    assert action == "DescribeInvocations"
    assert params == {
        "InvokeId": "t-bj0train",
        "IncludeOutput": "true",
        "ContentEncoding": "Base64",
    }


def test_agent_faults_on_nodes_stay_ordinary_findings(fake, dataset, http):
    # GIVEN a command that never reached a node because its agent was down
    gpu = node_id("gpu-3")
    dataset.add(
        eflo_command(
            created=NOW,
            invoke="t-bj0agent",
            nodes=[run(gpu, "Aborted", error_code="ClientNotRunning")],
        )
    )
    # WHEN asked and built
    inv = assistant(http, fake).invocations("t-bj0agent")
    [found] = findings_from_eflo_invocation(
        inv, invoke_id="t-bj0agent", account="self", region=REGION
    )
    # THEN a plain finding on the node, explained as an agent fault (nothing to fold it into)
    assert (found.instance_id, found.error_code) == (gpu, "ClientNotRunning")
    assert found.classification.category == "agent"


def test_a_file_send_is_keyed_by_the_id_asked_for(fake, dataset, http):
    # GIVEN a file send that found the file already on one node
    gpu1, gpu2 = node_id("gpu-1"), node_id("gpu-2")
    dataset.add(
        eflo_file_send(
            created=NOW,
            name="nccl.conf",
            invoke="t-bj0conf",
            target_dir="/etc/nccl",
            nodes=[target(gpu1, "Failed", error_code="FileAlreadyExists"), target(gpu2)],
        )
    )
    # WHEN asked (the answer carries no InvokeId)
    inv = assistant(http, fake).send_file_results("t-bj0conf")
    # THEN the record is keyed by the id asked for, and the failed node is a file finding
    assert inv.invoke_id == "t-bj0conf"
    assert (inv.overwrite, inv.node_count, inv.invocation_status) == (False, 2, "PartialFailed")
    [found] = findings_from_eflo_send_file(
        inv, invoke_id="t-bj0conf", account="self", region=REGION
    )
    assert (found.kind, found.instance_id, found.error_code) == ("file", gpu1, "FileAlreadyExists")
    assert (found.name, found.target_dir) == ("nccl.conf", "/etc/nccl")
    assert fake.calls == [("DescribeSendFileResults", {"InvokeId": "t-bj0conf"})]


def test_an_id_eflo_does_not_know_is_none_for_both_calls(fake, http):
    # GIVEN nothing ran WHEN asked about an id THEN None, not an error (the watch forgets it)
    eflo = assistant(http, fake)
    assert eflo.invocations("t-bj0gone") is None
    assert eflo.send_file_results("t-bj0gone") is None
    assert [a for a, _ in fake.calls] == ["DescribeInvocations", "DescribeSendFileResults"]


def test_an_answer_without_any_invocation_is_none_too():
    # GIVEN an answer that lists nothing (eflo may say "unknown" this way too)
    caller = CannedCaller({"RequestId": "r", "Invocations": {"Invocation": []}})
    # WHEN asked THEN None
    assert EfloAssistant(caller, REGION).invocations("t-bj0gone") is None
    assert EfloAssistant(caller, REGION).send_file_results("t-bj0gone") is None


def test_a_record_naming_another_id_is_not_taken_for_the_one_asked():
    caller = CannedCaller({"Invocations": {"Invocation": [{"InvokeId": "t-other"}]}})
    assert EfloAssistant(caller, REGION).invocations("t-bj0mine") is None


def test_node_id_narrows_the_question(fake, dataset, http):
    # GIVEN a command on two nodes WHEN asked about one of them
    gpu1, gpu2 = node_id("gpu-1"), node_id("gpu-2")
    dataset.add(eflo_command(created=NOW, invoke="t-bj0two", nodes=[run(gpu1), run(gpu2)]))
    inv = assistant(http, fake).invocations("t-bj0two", node_id=gpu2, include_output=False)
    # THEN only that node is there, and the request named it
    assert [n.node_id for n in inv.invoke_nodes] == [gpu2]
    assert fake.calls[0][1]["NodeId"] == gpu2
    assert fake.calls[0][1]["IncludeOutput"] == "false"


def test_the_request_is_signed_form_encoded_rpc_of_version_2022_12_15():
    # GIVEN a transport that records the request
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"RequestId": "r", "Invocations": {"Invocation": []}})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        caller = eflo_client(http, REGION, CREDS)
        # WHEN one call is made
        EfloAssistant(caller, REGION).invocations("t-bj0x")
    # THEN it goes to the region's eflo-controller endpoint, params in the body, not the query
    [request] = seen
    assert request.url.host == f"eflo-controller.{REGION}.aliyuncs.com"
    assert request.url.query == b""
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["x-acs-version"] == EFLO_VERSION == "2022-12-15"
    assert request.headers["x-acs-action"] == "DescribeInvocations"
    assert dict(parse_qsl(request.content.decode()))["InvokeId"] == "t-bj0x"


def test_a_rejected_key_is_an_auth_error_without_the_secret(fake, http):
    # GIVEN the right key id with a wrong secret
    wrong = Credentials(KEY_ID, SecretStr("not-the-secret"))
    # WHEN asked THEN ApiAuthError (not "unknown id"), and the secret is nowhere in it
    with pytest.raises(ApiAuthError) as caught:
        assistant(http, fake, wrong).invocations("t-bj0x")
    assert "not-the-secret" not in str(caught.value)
    assert "not-the-secret" not in repr(caught.value)


def test_other_request_errors_are_raised(fake, http):
    # GIVEN eflo refuses the request for another reason
    fake.fail_next(code="InvalidParameter.ContentEncoding", status=400)
    # WHEN asked THEN the error is raised, not mistaken for an unknown id
    with pytest.raises(ApiRequestError) as caught:
        assistant(http, fake).invocations("t-bj0x")
    assert caught.value.code == "InvalidParameter.ContentEncoding"


def test_a_half_written_answer_is_a_transient_error():
    # GIVEN an answer whose node has no NodeId
    caller = CannedCaller(
        {"RequestId": "r-1", "Invocations": {"Invocation": [{"InvokeNodes": {"InvokeNode": [{}]}}]}}
    )
    # WHEN asked THEN ApiTransientError naming the field (FC retries the event)
    with pytest.raises(ApiTransientError) as caught:
        EfloAssistant(caller, REGION).invocations("t-bj0x")
    assert caught.value.code == "UnexpectedAnswer"
    assert "NodeId" in caught.value.message
    assert caught.value.request_id == "r-1"


def test_eflo_types_are_coerced_by_the_models():
    # GIVEN an answer in eflo's own types: +08:00 ms times with a stray newline, Timed and
    # ExitCode as strings, Output in Base64, the legacy per-node status only
    raw = {
        "Invocations": {
            "Invocation": [
                {
                    "InvokeId": "t-bj0x",
                    "CreationTime": "2023-04-10T10:53:46.156+08:00\n",
                    "CommandContent": base64.b64encode(b"nvidia-smi").decode(),
                    "InvokeNodes": {
                        "InvokeNode": [
                            {
                                "NodeId": "e01-cn-9lb3c15m81j",
                                "NodeInvokeStatus": "Timeout",
                                "Timed": "false",
                                "ExitCode": "124",
                                "Output": base64.b64encode("超时".encode()).decode(),
                                "FinishTime": "2023-04-10T10:54:46.000+08:00",
                            }
                        ]
                    },
                }
            ]
        }
    }
    # WHEN parsed with the request's encoding
    page = EfloInvocationsPage.model_validate(raw, context={"content_encoding": "Base64"})
    [inv] = page.invocations
    [node] = inv.invoke_nodes
    # THEN the values are typed, the legacy status is used, and secrets stay out of the repr
    assert inv.creation_time == datetime(
        2023, 4, 10, 2, 53, 46, 156000, tzinfo=timezone.utc
    ).astimezone(timezone(timedelta(hours=8)))
    assert (node.timed, node.exit_code, str(node.output)) == (False, 124, "超时")
    assert str(inv.command_content) == "nvidia-smi"
    assert "nvidia-smi" not in repr(inv)
    assert "超时" not in repr(inv)
    [found] = findings_from_eflo_invocation(inv, invoke_id="t-bj0x", account="a", region=REGION)
    assert (found.status, found.classification.code) == ("Timeout", "Status.Timeout")
    assert json.dumps(found.model_dump(mode="json"), ensure_ascii=False)  # serialisable


def test_a_success_node_with_an_error_code_is_no_finding():
    # GIVEN a Success node that still carries an ErrorCode (as the references' samples do)
    raw = {
        "Invocations": {
            "Invocation": [
                {
                    "InvokeNodes": {
                        "InvokeNode": [
                            {
                                "NodeId": "e01-cn-1",
                                "InvocationStatus": "Success",
                                "ErrorCode": "AccountNotExists",
                            }
                        ]
                    }
                }
            ]
        }
    }
    [inv] = EfloInvocationsPage.model_validate(raw).invocations
    # WHEN built THEN status decides: nothing to tell
    assert findings_from_eflo_invocation(inv, invoke_id="t-1", account="a", region=REGION) == []


@pytest.mark.parametrize(
    "code", ["NodeNotExists", "NodeReleased", "NodeNotRunning", "ClientNeedUpgrade"]
)
def test_node_error_codes_on_commands_are_explained(code):
    # GIVEN the eflo DescribeInvocations reference's node codes WHEN a command fails with one
    raw = {
        "Invocations": {
            "Invocation": [
                {
                    "InvokeNodes": {
                        "InvokeNode": [
                            {"NodeId": "e01-cn-1", "InvocationStatus": "Invalid", "ErrorCode": code}
                        ]
                    }
                }
            ]
        }
    }
    [inv] = EfloInvocationsPage.model_validate(raw).invocations
    [found] = findings_from_eflo_invocation(inv, invoke_id="t-1", account="a", region=REGION)
    # THEN the catalogue explains it (not the "unrecognised code" entry)
    assert found.classification.code == code
    assert found.classification.category != "unknown"
