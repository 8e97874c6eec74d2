"""The Cloud Assistant fake also speaks eflo-controller 2022-12-15, in eflo's own shapes.

Requests are signed by the official ``alibabacloud_openapi_util`` (tests/fakes/official_signer),
never by our client, so these tests pin the fake to the vendor's protocol.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import (
    Dataset,
    command,
    eflo_command,
    eflo_file_send,
    node_id,
    run,
    target,
)
from tests.fakes.official_signer import build_request

KEY_ID, SECRET = "LTAI-test", "test-secret"
EFLO = "2022-12-15"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CHINA_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")


@pytest.fixture
def fake(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset) as server:
        yield server


def send(
    http: httpx.Client,
    fake: CloudAssistantFake,
    action: str,
    form: dict[str, str],
    *,
    version: str = EFLO,
    **kw: Any,
) -> httpx.Response:
    sign: dict[str, Any] = {"access_key_id": KEY_ID, "secret": SECRET, **kw}
    return http.send(build_request(fake.url, action, {}, form=form, version=version, **sign))


def test_a_failed_node_command_answers_in_eflo_shape(fake, dataset, http):
    # GIVEN a command that failed on one of two Lingjun nodes
    gpu1, gpu2 = node_id("gpu-1"), node_id("gpu-2")
    dataset.add(
        eflo_command(
            created=NOW - timedelta(minutes=3),
            invoke="t-bj0train",
            nodes=[
                run(gpu1, "Failed", error_code="ExitCodeNonzero", exit_code=3, output="oom"),
                run(gpu2),
            ],
        )
    )
    # WHEN eflo DescribeInvocations is asked for it with output, in a form-encoded body
    response = send(
        http, fake, "DescribeInvocations", {"InvokeId": "t-bj0train", "IncludeOutput": "true"}
    )
    # THEN eflo's shape: nodes, +08:00 millisecond times, Timed a string, Output in Base64
    assert response.status_code == 200, response.text
    [inv] = response.json()["Invocations"]["Invocation"]
    assert (inv["InvokeId"], inv["InvocationStatus"]) == ("t-bj0train", "PartialFailed")
    assert CHINA_MS.match(inv["CreationTime"])
    assert "InvokeInstances" not in inv
    nodes = {n["NodeId"]: n for n in inv["InvokeNodes"]["InvokeNode"]}
    assert set(nodes) == {gpu1, gpu2}
    failed = nodes[gpu1]
    assert (failed["InvocationStatus"], failed["ExitCode"], failed["Timed"]) == (
        "Failed",
        3,
        "false",
    )
    assert base64.b64decode(failed["Output"]).decode() == "oom"
    assert CHINA_MS.match(failed["FinishTime"])
    assert failed["StartTime"].endswith("Z")


def test_output_only_comes_when_asked_and_node_id_narrows(fake, dataset, http):
    # GIVEN a command on two nodes
    gpu1, gpu2 = node_id("gpu-1"), node_id("gpu-2")
    dataset.add(
        eflo_command(
            created=NOW, invoke="t-bj0two", nodes=[run(gpu1, output="a"), run(gpu2, output="b")]
        )
    )
    # WHEN asked without IncludeOutput, and then for one node in plain text
    bare = send(http, fake, "DescribeInvocations", {"InvokeId": "t-bj0two"}).json()
    one = send(
        http,
        fake,
        "DescribeInvocations",
        {
            "InvokeId": "t-bj0two",
            "NodeId": gpu2,
            "IncludeOutput": "true",
            "ContentEncoding": "PlainText",
        },
    ).json()
    # THEN no Output at all, then only that node's, as sent
    [inv] = bare["Invocations"]["Invocation"]
    assert all("Output" not in n for n in inv["InvokeNodes"]["InvokeNode"])
    [only] = one["Invocations"]["Invocation"][0]["InvokeNodes"]["InvokeNode"]
    assert (only["NodeId"], only["Output"]) == (gpu2, "b")


def test_a_file_send_answers_in_seed_002_shape(fake, dataset, http):
    # GIVEN a file send refused on one node
    gpu1 = node_id("gpu-1")
    dataset.add(
        eflo_file_send(
            created=NOW,
            invoke="t-bj0conf",
            overwrite=True,
            nodes=[target(gpu1, "Failed", error_code="FileAlreadyExists")],
        )
    )
    # WHEN DescribeSendFileResults is asked for it
    body = send(http, fake, "DescribeSendFileResults", {"InvokeId": "t-bj0conf"}).json()
    # THEN TotalCount is a string, Overwrite a boolean, and the record names no InvokeId
    assert body["TotalCount"] == "1"
    [inv] = body["Invocations"]["Invocation"]
    assert "InvokeId" not in inv
    assert (inv["Overwrite"], inv["NodeCount"], inv["InvocationStatus"]) == (True, 1, "Failed")
    [node] = inv["InvokeNodes"]["InvokeNode"]
    assert (node["NodeId"], node["ErrorCode"]) == (gpu1, "FileAlreadyExists")
    assert node["ErrorInfo"] == "File already exists"


@pytest.mark.parametrize("action", ["DescribeInvocations", "DescribeSendFileResults"])
def test_an_unknown_invoke_id_is_not_found_and_a_missing_one_is_refused(fake, http, action):
    # GIVEN an empty dataset WHEN asked for an id nobody ran, and with no id at all
    unknown = send(http, fake, action, {"InvokeId": "t-bj0nobody"})
    missing = send(http, fake, action, {})
    # THEN 404 InvalidInvokeId.NotFound, and 400 MissingInvokeId (eflo has no listing)
    assert (unknown.status_code, unknown.json()["Code"]) == (404, "InvalidInvokeId.NotFound")
    assert (missing.status_code, missing.json()["Code"]) == (400, "MissingInvokeId")


def test_ecs_and_eflo_never_see_each_others_invocations(fake, dataset, http):
    # GIVEN an ECS command and an eflo command
    ecs = command(created=NOW, invoke="t-hzecs", instances=[run("web-1")])
    eflo = eflo_command(created=NOW, invoke="t-bj0eflo", nodes=[run(node_id("gpu-1"))])
    dataset.add(ecs, eflo)
    # WHEN each API is asked for the other's id
    on_ecs = send(
        http,
        fake,
        "DescribeInvocations",
        {"RegionId": "cn-hangzhou", "InvokeId": "t-bj0eflo"},
        version="2014-05-26",
    )
    on_eflo = send(http, fake, "DescribeInvocations", {"InvokeId": "t-hzecs"})
    # THEN ECS lists nothing and eflo does not know the id
    assert on_ecs.json()["Invocations"]["Invocation"] == []
    assert on_eflo.json()["Code"] == "InvalidInvokeId.NotFound"


def test_an_unknown_version_is_refused(fake, http):
    response = send(http, fake, "DescribeInvocations", {"InvokeId": "t-1"}, version="2099-01-01")
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidVersion")


def test_a_key_added_at_run_time_is_accepted_with_its_token(fake, http):
    # GIVEN a running fake that did not know an STS key
    sts = {"access_key_id": "STS.new", "secret": "sts-secret", "security_token": "tok-1"}
    before = send(http, fake, "DescribeInvocations", {"InvokeId": "t-1"}, **sts)
    # WHEN the key is added with its token
    fake.add_key("STS.new", "sts-secret", security_token="tok-1")
    after = send(http, fake, "DescribeInvocations", {"InvokeId": "t-1"}, **sts)
    # THEN it was unknown before and is accepted (past the signature) after
    assert before.json()["Code"] == "InvalidAccessKeyId.NotFound"
    assert after.json()["Code"] == "InvalidInvokeId.NotFound"
    assert "sts-secret" not in repr(fake)
    assert "tok-1" not in repr(fake)


def test_eflo_builders_insist_on_node_ids():
    # GIVEN a run on an ECS-style id WHEN built into an eflo command THEN refused with a hint
    with pytest.raises(ValueError, match="node_id"):
        eflo_command(created=NOW, nodes=[run("web-1")])
