"""CloudAssistantFake behaves like the ECS OpenAPI for Cloud Assistant, over real HTTP.

Requests are signed by the official ``alibabacloud_openapi_util`` (tests/fakes/official_signer),
never by our own client, so these tests pin the fake to the vendor's protocol.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import (
    Dataset,
    agent,
    command,
    execution,
    file_send,
    instance_id,
    run,
    target,
)
from tests.fakes.official_signer import build_request

KEY_ID, SECRET = "LTAI-test", "test-secret"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
REGION = {"RegionId": "cn-hangzhou"}


@pytest.fixture
def fake(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset, seed=7) as server:
        yield server


def send(
    http: httpx.Client, fake: CloudAssistantFake, action: str, params: dict[str, str], **kw: Any
) -> httpx.Response:
    sign: dict[str, Any] = {"access_key_id": KEY_ID, "secret": SECRET, **kw}
    return http.send(build_request(fake.url, action, {**REGION, **params}, **sign))


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def invocations(body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body["Invocations"]["Invocation"]
    return items


def many_commands(ds: Dataset, n: int) -> list[str]:
    for i in range(n):
        ds.add(
            command(
                invoke=f"story-{i}",
                name=f"job-{i}.sh",
                created=NOW - timedelta(minutes=n - i),
                instances=[run(f"host-{i}")],
            )
        )
    return [c.invoke_id for c in ds.commands]


# --- signatures and errors ---------------------------------------------------------------


def test_a_request_signed_by_the_official_util_gets_the_seed_shape(fake, dataset, http):
    # GIVEN one failed command on one instance
    dataset.add(
        command(
            invoke="deploy",
            created=NOW - timedelta(minutes=3),
            instances=[run("web-1", "Failed", error_code="ExitCodeNonzero", exit_code=2)],
        )
    )
    # WHEN DescribeInvocations is called with an officially signed request
    body = ok(send(http, fake, "DescribeInvocations", {"MaxResults": "10"}))
    # THEN the answer has seed 003's shape
    assert set(body) >= {"RequestId", "TotalCount", "PageSize", "PageNumber", "NextToken"}
    (inv,) = invocations(body)
    assert inv["InvocationStatus"] == "Failed"
    (inst,) = inv["InvokeInstances"]["InvokeInstance"]
    assert inst["InstanceId"] == instance_id("web-1")
    assert (inst["ErrorCode"], inst["ExitCode"], inst["InstanceInvokeStatus"]) == (
        "ExitCodeNonzero",
        2,
        "Finished",
    )
    assert inst["ErrorInfo"] == "the command execution exit code is not zero"


def test_a_wrong_secret_gets_the_real_error_shape_and_no_secret(fake, http):
    # WHEN a request is signed with the wrong secret
    response = send(http, fake, "DescribeInvocations", {}, secret="wrong-secret")
    # THEN HTTP 400 SignatureDoesNotMatch in the gateway's JSON shape
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "SignatureDoesNotMatch"
    assert "SignatureDoesNotMatch" in body["Recommend"]
    # AND neither secret leaks into the answer or the fake's repr
    assert SECRET not in response.text
    assert "wrong-secret" not in response.text
    assert SECRET not in repr(fake)


def test_an_unknown_key_is_404_not_found(fake, http):
    response = send(http, fake, "DescribeInvocations", {}, access_key_id="LTAI-other")
    assert (response.status_code, response.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_a_replayed_request_is_refused_for_its_used_nonce(fake, http):
    # GIVEN a signed request that was answered
    request = build_request(
        fake.url, "DescribeInvocations", REGION, access_key_id=KEY_ID, secret=SECRET
    )
    assert http.send(request).status_code == 200
    # WHEN the very same signed request is sent again (a naive retry)
    again = http.send(request)
    # THEN the gateway refuses the nonce it already saw
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")


def test_a_stale_date_is_refused_by_the_fake_clock(dataset, http):
    # GIVEN a fake whose clock is 20 minutes ahead of the client
    later = datetime.now(timezone.utc) + timedelta(minutes=20)
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset, clock=lambda: later) as fake:
        # WHEN the client signs with its own time
        response = send(http, fake, "DescribeInvocations", {})
    # THEN the date is expired
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_sts_credentials_must_bring_the_known_token(dataset, http):
    # GIVEN a fake that knows an STS key and its token
    with CloudAssistantFake(
        {"STS.abc": "sts-secret"}, security_tokens={"STS.abc": "tok-1"}, dataset=dataset
    ) as fake:
        sts = {"access_key_id": "STS.abc", "secret": "sts-secret"}
        # WHEN signed with the right token THEN accepted; with another THEN refused
        right = send(http, fake, "DescribeInvocations", {}, security_token="tok-1", **sts)
        wrong = send(http, fake, "DescribeInvocations", {}, security_token="tok-2", **sts)
    assert right.status_code == 200
    assert wrong.json()["Code"] == "InvalidSecurityToken.MismatchWithAccessKey"
    assert "tok-1" not in wrong.text


def test_an_unknown_action_is_invalid_action_not_found(fake, http):
    response = send(http, fake, "DescribeNothing", {})
    assert (response.status_code, response.json()["Code"]) == (404, "InvalidAction.NotFound")


def test_parameters_in_a_form_body_are_read(fake, dataset, http):
    # GIVEN two commands
    ids = many_commands(dataset, 2)
    # WHEN the InvokeId filter travels in a form-encoded body instead of the query
    body = ok(send(http, fake, "DescribeInvocations", {}, form={"InvokeId": ids[0]}))
    # THEN it filters all the same
    assert [i["InvokeId"] for i in invocations(body)] == [ids[0]]


# --- pagination ---------------------------------------------------------------------------


def walk(
    http: httpx.Client, fake: CloudAssistantFake, action: str, params: dict[str, str], size: int
) -> tuple[list[str], int]:
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = {**params, "MaxResults": str(size), **({"NextToken": token} if token else {})}
        body = ok(send(http, fake, action, query))
        seen += [i["InvokeId"] for i in invocations(body)]
        pages += 1
        token = body["NextToken"]
        if not token:
            return seen, pages


@pytest.mark.parametrize("order", ["newest", "shuffled"])
@pytest.mark.parametrize("shape", [(23, 5), (20, 4)], ids=["23-in-5", "20-in-4"])
def test_next_token_pagination_walks_every_record_exactly_once(fake, dataset, http, order, shape):
    count, expected_pages = shape
    # GIVEN `count` commands and the fake in either order
    ids = many_commands(dataset, count)
    fake.order = order
    # WHEN a client walks DescribeInvocations 5 at a time by NextToken
    seen, pages = walk(http, fake, "DescribeInvocations", {}, 5)
    # THEN every invocation comes exactly once, and no empty page trails a full one
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen)) == count
    assert pages == expected_pages
    newest_first = list(reversed(ids))
    if order == "newest":
        assert seen == newest_first
    else:
        assert seen != newest_first  # early-stop code must not rely on the order


def test_page_number_pagination_also_walks_every_record_once(fake, dataset, http):
    ids = many_commands(dataset, 12)
    seen = []
    for number in (1, 2, 3):
        body = ok(
            send(http, fake, "DescribeInvocations", {"PageSize": "5", "PageNumber": str(number)})
        )
        assert body["TotalCount"] == 12
        seen += [i["InvokeId"] for i in invocations(body)]
    assert seen == list(reversed(ids))


def test_next_token_is_opaque_and_bound_to_its_filter(fake, dataset, http):
    # GIVEN a first page and its token
    many_commands(dataset, 4)
    token = ok(send(http, fake, "DescribeInvocations", {"MaxResults": "2"}))["NextToken"]
    # THEN the token is not a page number or an offset in plain sight
    assert token
    assert not token.isdigit()
    # WHEN it is reused with another filter THEN it is refused
    other = send(http, fake, "DescribeInvocations", {"NextToken": token, "RepeatMode": "Period"})
    assert (other.status_code, other.json()["Code"]) == (400, "InvalidParameter.NextToken")
    # WHEN a made-up token is sent THEN it is refused
    bogus = send(http, fake, "DescribeInvocations", {"NextToken": "2"})
    assert bogus.json()["Code"] == "InvalidParameter.NextToken"


@pytest.mark.parametrize("value", ["51", "0", "ten"])
def test_max_results_outside_one_to_fifty_is_refused(fake, http, value):
    response = send(http, fake, "DescribeInvocations", {"MaxResults": value})
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidParameter.MaxResults")


def test_max_results_fifty_is_accepted(fake, http):
    assert ok(send(http, fake, "DescribeInvocations", {"MaxResults": "50"}))["PageSize"] == 50


# --- DescribeInvocations filters ------------------------------------------------------------


@pytest.fixture
def mixed(dataset: Dataset) -> dict[str, str]:
    """A failed once-task, a partial failure, a success, and a periodic task."""
    created = NOW - timedelta(minutes=30)
    records = {
        "failed": command(
            invoke="failed",
            name="fail.sh",
            created=created,
            instances=[run("a", "Failed", error_code="ExitCodeNonzero", output="oops\n")],
        ),
        "partial": command(
            invoke="partial",
            name="rollout.sh",
            created=created + timedelta(minutes=1),
            tags={"team": "shop"},
            instances=[run("a", "Timeout", error_code="ExecutionTimeout"), run("b")],
        ),
        "ok": command(
            invoke="ok",
            name="uptime",
            created=created + timedelta(minutes=2),
            resource_group_id="rg-1",
            instances=[run("b", output="up 3 days\n")],
        ),
        "periodic": command(
            invoke="periodic",
            name="health.sh",
            created=created + timedelta(minutes=3),
            repeat_mode="Period",
            frequency="0 */5 * * * *",
            instances=[
                run(
                    "a",
                    "Success",
                    output="healthy\n",
                    history=[
                        execution("Failed", error_code="ExitCodeNonzero", exit_code=1),
                        execution("Success"),
                    ],
                )
            ],
        ),
    }
    dataset.add(*records.values())
    return {name: c.invoke_id for name, c in records.items()}


def ids_for(http: httpx.Client, fake: CloudAssistantFake, params: dict[str, str]) -> set[str]:
    return {i["InvokeId"] for i in invocations(ok(send(http, fake, "DescribeInvocations", params)))}


def test_invoke_status_filters_the_overall_status(fake, mixed, http):
    # WHEN filtering by the overall status parameter InvokeStatus
    # THEN the aggregated InvocationStatus decides
    assert ids_for(http, fake, {"InvokeStatus": "Failed"}) == {mixed["failed"]}
    assert ids_for(http, fake, {"InvokeStatus": "PartialFailed"}) == {mixed["partial"]}
    assert ids_for(http, fake, {"InvokeStatus": "Success"}) == {mixed["ok"], mixed["periodic"]}


def test_invocation_status_is_not_a_request_parameter_and_filters_nothing(fake, mixed, http):
    # GIVEN a client that sends InvocationStatus (the response field) as a filter
    # THEN the API ignores it, as it ignores any unknown parameter
    assert ids_for(http, fake, {"InvocationStatus": "Failed"}) == set(mixed.values())


def test_instance_id_narrows_instances_and_their_overall_status(fake, mixed, http):
    # WHEN asking for instance b only
    body = ok(send(http, fake, "DescribeInvocations", {"InstanceId": instance_id("b")}))
    by_id = {i["InvokeId"]: i for i in invocations(body)}
    # THEN only invocations on b come back, listing b alone, with b's own status
    assert set(by_id) == {mixed["partial"], mixed["ok"]}
    partial = by_id[mixed["partial"]]
    assert [x["InstanceId"] for x in partial["InvokeInstances"]["InvokeInstance"]] == [
        instance_id("b")
    ]
    assert partial["InvocationStatus"] == "Success"


def test_name_repeat_mode_timed_tag_and_resource_group_filters(fake, mixed, http):
    assert ids_for(http, fake, {"CommandName": "uptime"}) == {mixed["ok"]}
    assert ids_for(http, fake, {"RepeatMode": "Period"}) == {mixed["periodic"]}
    assert ids_for(http, fake, {"Timed": "true"}) == {mixed["periodic"]}
    assert mixed["periodic"] not in ids_for(http, fake, {"Timed": "false"})
    assert ids_for(http, fake, {"Tag.1.Key": "team", "Tag.1.Value": "shop"}) == {mixed["partial"]}
    assert ids_for(http, fake, {"Tag.1.Key": "team", "Tag.1.Value": "ops"}) == set()
    assert ids_for(http, fake, {"ResourceGroupId": "rg-1"}) == {mixed["ok"]}


def test_command_name_is_ignored_when_instance_id_is_given(fake, mixed, http):
    # The docs: "如果同时设置了InstanceId参数,则该参数不生效"
    found = ids_for(http, fake, {"InstanceId": instance_id("b"), "CommandName": "nope"})
    assert found == {mixed["partial"], mixed["ok"]}


def test_bad_tag_parameters_get_the_documented_errors(fake, http):
    no_key = send(http, fake, "DescribeInvocations", {"Tag.1.Value": "x"})
    assert no_key.json()["Code"] == "MissingParameter.TagKey"
    too_many = send(http, fake, "DescribeInvocations", {"Tag.21.Key": "x"})
    assert too_many.json()["Code"] == "NumberExceed.Tags"


def outputs(body: dict[str, Any]) -> list[str | None]:
    return [
        x.get("Output") for i in invocations(body) for x in i["InvokeInstances"]["InvokeInstance"]
    ]


def test_include_output_is_only_honoured_with_invoke_id_or_instance_id(fake, mixed, http):
    # WHEN IncludeOutput is asked without InvokeId or InstanceId THEN no output comes back
    plain = ok(send(http, fake, "DescribeInvocations", {"IncludeOutput": "true"}))
    assert outputs(plain) == [None] * len(outputs(plain))
    # WHEN asked with the InvokeId THEN the output comes, Base64 by default
    one = {"IncludeOutput": "true", "InvokeId": mixed["failed"]}
    assert outputs(ok(send(http, fake, "DescribeInvocations", one))) == [
        base64.b64encode(b"oops\n").decode()
    ]
    # AND as plain text when ContentEncoding=PlainText
    text = ok(send(http, fake, "DescribeInvocations", {**one, "ContentEncoding": "PlainText"}))
    assert outputs(text) == ["oops\n"]


# --- DescribeInvocationResults ------------------------------------------------------------


def results(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    return rows


def test_invocation_results_show_periodic_history_only_when_asked(fake, mixed, http):
    query = {"InvokeId": mixed["periodic"]}
    # WHEN asked without IncludeHistory THEN only the latest execution
    latest = ok(send(http, fake, "DescribeInvocationResults", query))
    assert [r["InvocationStatus"] for r in results(latest)] == ["Success"]
    # WHEN asked with IncludeHistory THEN every execution, newest first, with its Repeats
    full = ok(send(http, fake, "DescribeInvocationResults", {**query, "IncludeHistory": "true"}))
    rows = results(full)
    assert sorted(r["Repeats"] for r in rows) == [1, 2, 3]
    assert [r["InvocationStatus"] for r in sorted(rows, key=lambda r: r["Repeats"])] == [
        "Failed",
        "Success",
        "Success",
    ]
    assert full["Invocation"]["TotalCount"] == 3


def test_invocation_results_filter_by_record_status_and_carry_the_seed_fields(fake, mixed, http):
    # WHEN asking for records that ended as "Failed" (never ran to the end)
    body = ok(send(http, fake, "DescribeInvocationResults", {"InvokeRecordStatus": "Failed"}))
    # THEN only the timeout (a non-zero exit still counts as "Finished", as in seed 004)
    (row,) = results(body)
    assert (row["InvokeId"], row["InvocationStatus"], row["ErrorCode"]) == (
        mixed["partial"],
        "Timeout",
        "ExecutionTimeout",
    )
    assert {"FinishedTime", "StartTime", "Output", "Dropped", "Repeats", "CommandId"} <= set(row)


def test_invocation_results_page_size_over_fifty_is_the_documented_403(fake, http):
    response = send(http, fake, "DescribeInvocationResults", {"PageSize": "51"})
    assert (response.status_code, response.json()["Code"]) == (403, "InvalidParam.PageSize")


# --- DescribeSendFileResults and DescribeCloudAssistantStatus -----------------------------


def test_send_file_results_have_the_seed_shape_and_filters(fake, dataset, http):
    # GIVEN a file that already exists on one of two instances, and a clean send
    exists = file_send(
        invoke="conf",
        name="nginx.conf",
        created=NOW - timedelta(minutes=5),
        targets=[target("web-1"), target("web-2", "Failed", error_code="FileAlreadyExists")],
    )
    clean = file_send(invoke="motd", name="motd", created=NOW, targets=[target("web-1")])
    dataset.add(exists, clean)
    # WHEN listing partial failures
    body = ok(send(http, fake, "DescribeSendFileResults", {"InvocationStatus": "PartialFailed"}))
    # THEN the nginx.conf send, in seed 000's shape
    (inv,) = invocations(body)
    assert (inv["InvokeId"], inv["Name"], inv["VmCount"]) == (exists.invoke_id, "nginx.conf", 2)
    failed = [x for x in inv["InvokeInstances"]["InvokeInstance"] if x["ErrorCode"]]
    assert [(x["InvocationStatus"], x["ErrorInfo"]) for x in failed] == [
        ("Failed", "File already exists")
    ]
    # AND Name filters by file name
    by_name = ok(send(http, fake, "DescribeSendFileResults", {"Name": "motd"}))
    assert [i["InvokeId"] for i in invocations(by_name)] == [clean.invoke_id]


def test_cloud_assistant_status_says_true_or_false_per_instance(fake, dataset, http):
    dataset.add(agent("web-1"), agent("db-1", online=False))
    query = {"InstanceId.1": instance_id("web-1"), "InstanceId.2": instance_id("db-1")}
    body = ok(send(http, fake, "DescribeCloudAssistantStatus", query))
    status = {
        s["InstanceId"]: s["CloudAssistantStatus"]
        for s in body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
    }
    assert status == {instance_id("web-1"): "true", instance_id("db-1"): "false"}


# --- faults and the call log ---------------------------------------------------------------


def test_fail_next_injects_errors_then_recovers(fake, http):
    # GIVEN two throttles and then a 503 queued
    fake.fail_next(2, code="Throttling.User")
    fake.fail_next(1, code="ServiceUnavailable", status=503)
    # WHEN four calls are made
    answers = [send(http, fake, "DescribeInvocations", {}) for _ in range(4)]
    # THEN they fail in that order with the real shape, then succeed
    assert [(a.status_code, a.json().get("Code")) for a in answers] == [
        (400, "Throttling.User"),
        (400, "Throttling.User"),
        (503, "ServiceUnavailable"),
        (200, None),
    ]


def test_fail_next_can_target_one_action(fake, http):
    fake.fail_next(1, code="Throttling", action="DescribeSendFileResults")
    assert send(http, fake, "DescribeInvocations", {}).status_code == 200
    assert send(http, fake, "DescribeSendFileResults", {}).json()["Code"] == "Throttling"


def test_drop_connection_next_closes_without_an_answer(fake, http):
    fake.drop_connection_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        send(http, fake, "DescribeInvocations", {})
    assert send(http, fake, "DescribeInvocations", {}).status_code == 200


def test_garbage_next_answers_200_with_invalid_json(fake, http):
    fake.garbage_next(1)
    response = send(http, fake, "DescribeInvocations", {})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_slow_delays_answers_through_the_injected_sleep(dataset, http):
    # GIVEN a fake whose sleep is recorded instead of waited
    waited: list[float] = []
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset, sleep=waited.append) as fake:
        fake.slow(2.5)
        send(http, fake, "DescribeInvocations", {})
        fake.slow(0)
        send(http, fake, "DescribeInvocations", {})
    # THEN only the first answer was delayed, by the asked amount
    assert waited == [2.5]


def test_calls_log_every_action_with_its_parameters(fake, http):
    send(http, fake, "DescribeInvocations", {"MaxResults": "5"})
    send(http, fake, "DescribeSendFileResults", {})
    assert [a for a, _ in fake.calls] == ["DescribeInvocations", "DescribeSendFileResults"]
    assert fake.calls[0][1] == {"RegionId": "cn-hangzhou", "MaxResults": "5"}
    assert fake.count("DescribeInvocations") == 1


def test_the_dataset_can_change_between_runs(fake, dataset, http):
    # GIVEN a running command
    dataset.add(command(invoke="job", created=NOW, instances=[run("a", "Running")]))
    first = invocations(ok(send(http, fake, "DescribeInvocations", {})))[0]["InvocationStatus"]
    # WHEN the test finishes it with a failure
    with dataset.lock:
        r = dataset.commands[0].instances[0]
        r.status, r.error_code, r.exit_code = "Failed", "ExitCodeNonzero", 1
    second = invocations(ok(send(http, fake, "DescribeInvocations", {})))[0]["InvocationStatus"]
    # THEN the next answer reflects it
    assert (first, second) == ("Running", "Failed")


# --- the instances an invocation targeted (lib.core.findings.targeted_count) -------------------


def test_an_invocations_instance_list_comes_whole_on_every_page(fake, dataset, http):
    # GIVEN a command on 200 instances beside a smaller one (only records are paged)
    wide = command(
        created=NOW - timedelta(minutes=5),
        name="rollout.sh",
        instances=[run(f"node-{n:03d}", "Failed" if n < 3 else "Success") for n in range(200)],
    )
    dataset.add(wide, command(created=NOW - timedelta(minutes=1), instances=[run("a")]))
    # WHEN listed one record a page, and asked by its invoke id
    first = ok(send(http, fake, "DescribeInvocations", {"MaxResults": "1"}))
    second = ok(
        send(
            http, fake, "DescribeInvocations", {"MaxResults": "1", "NextToken": first["NextToken"]}
        )
    )
    by_id = ok(send(http, fake, "DescribeInvocations", {"InvokeId": wide.invoke_id}))
    # THEN the wide record lists all 200 of its instances each time, whatever the page size
    for body in (second, by_id):
        (record,) = invocations(body)
        assert record["InvokeId"] == wide.invoke_id
        assert len(record["InvokeInstances"]["InvokeInstance"]) == 200
        assert record["InvocationStatus"] == "PartialFailed"


def test_a_file_send_counts_its_targets_and_takes_at_most_fifty(fake, dataset, http):
    # GIVEN 51 instance ids for one SendFile (the API takes 1 to 50)
    ids = {f"InstanceId.{n}": instance_id(f"web-{n}") for n in range(1, 52)}
    file = {"Name": "app.conf", "TargetDir": "/etc/app", "Content": "k=v"}
    refused = send(http, fake, "SendFile", {**file, **ids})
    assert refused.status_code == 400
    assert refused.json()["Code"] == "InvalidInstanceIds.ValueNotSupported"
    # AND 50 are sent, and DescribeSendFileResults says VmCount 50 with all 50 listed
    del ids["InstanceId.51"]
    sent = ok(send(http, fake, "SendFile", {**file, **ids}))
    body = ok(send(http, fake, "DescribeSendFileResults", {"InvokeId": sent["InvokeId"]}))
    (record,) = invocations(body)
    assert record["VmCount"] == 50
    assert len(record["InvokeInstances"]["InvokeInstance"]) == 50
