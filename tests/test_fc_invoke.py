"""FC 3.0 InvokeFunction: the ROA request our client signs, checked against the official
signer and the published vector; the local FC's signature check; the shard event's parsing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from pydantic import SecretStr
from Tea.request import TeaRequest

from lib.cloud.aliyun.client import OpenApiClient
from lib.cloud.fc import FC_VERSION, fc_endpoint, invoke_async
from lib.core.shards import Slot, shard_count, split
from lib.core.triggers import ShardTicket, parse_event
from lib.edges.fcinvoke import function_of, verify
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, BadInput, ConfigError
from tests.test_fake_acs3 import vector_request

KEY_ID, SECRET, TOKEN = "test-fc-invoke-key", "fc-invoke-secret-0000", "CAISfc0token0000"


def _client(handler, *, token: str | None = TOKEN) -> OpenApiClient:
    credentials = Credentials(KEY_ID, SecretStr(SECRET), SecretStr(token) if token else None)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenApiClient(
        http,
        "https://fcv3.cn-hangzhou.aliyuncs.com",
        FC_VERSION,
        credentials,
        now=lambda: datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc),
        nonce=lambda: "nonce-1",
        sleep=lambda _: None,
    )


def test_an_async_invoke_is_the_sdk_request_signed_as_the_official_signer_signs_it():
    """GIVEN the coordinator invoking its function with a shard's event
    THEN the request is POST /2023-03-30/functions/{name}/invocations?qualifier=…, the event
    as the body, x-fc-invocation-type Async, the STS token sent, and its Authorization is the
    one alibabacloud_openapi_util computes for the same request; FC's 202 with an empty body
    is success."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, headers={"x-fc-request-id": "r-1"})

    event = json.dumps({"action": "poll", "scopes": ["self/cn-hangzhou"]}).encode()
    invoke_async(_client(handler), "assistwatch", event, qualifier="prod")

    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/2023-03-30/functions/assistwatch/invocations"
    assert dict(request.url.params) == {"qualifier": "prod"}
    assert request.content == event
    assert request.headers["x-fc-invocation-type"] == "Async"
    assert request.headers["x-acs-action"] == "InvokeFunction"
    assert request.headers["x-acs-version"] == "2023-03-30"
    assert request.headers["x-acs-security-token"] == TOKEN
    tea = TeaRequest()
    tea.method, tea.pathname, tea.query = "POST", request.url.path, {"qualifier": "prod"}
    # the headers V3 signs (host, content-type, x-acs-*): the oracle signs all it is given
    tea.headers = {
        k: v
        for k, v in request.headers.items()
        if k in ("host", "content-type") or k.startswith("x-acs-")
    }
    oracle = OpenApiUtil.get_authorization(
        tea, "ACS3-HMAC-SHA256", request.headers["x-acs-content-sha256"], KEY_ID, SECRET
    )
    assert request.headers["authorization"] == oracle


def test_the_local_fc_accepts_our_signature_and_refuses_a_changed_body_or_key():
    """GIVEN a signed InvokeFunction request WHEN the local FC checks it
    THEN it passes with the right key pair, and fails on another body, key or secret."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    invoke_async(_client(handler), "assistwatch", b"{}")
    (request,) = seen
    path, headers = request.url.path, {k.lower(): v for k, v in request.headers.items()}

    def check(body: bytes = b"{}", key_id: str = KEY_ID, secret: str = SECRET) -> str | None:
        return verify(path=path, query={}, headers=headers, body=body, key_id=key_id, secret=secret)

    assert function_of("POST", path) == "assistwatch"
    assert check() is None
    assert check(body=b"{ }") == "x-acs-content-sha256 is not the body's"
    assert check(key_id="LTAIother") == "unknown AccessKey id"
    assert check(secret="wrong") == "the signature does not match"


def test_the_local_fc_check_agrees_with_the_published_vector():
    """The V3 vector from Alibaba Cloud's signature documentation (/work/shared/VECTORS.md)."""
    request = vector_request()
    headers = {name: values[0] for name, values in request.headers.items()}
    headers["authorization"] = (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;"
        "x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )
    query = dict(pair.split("=", 1) for pair in request.query.split("&"))
    ok = verify(
        path="/",
        query=query,
        headers=headers,
        body=b"",
        key_id="YourAccessKeyId",
        secret="YourAccessKeySecret",
    )
    assert ok is None


def test_a_refused_invoke_is_an_auth_error_that_names_the_code_and_hides_the_secret():
    """GIVEN FC answers 403 (no fc:InvokeFunction on the function)
    THEN the coordinator gets ApiAuthError at once (no retries), without the secret."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        body = {"Code": "AccessDenied", "Message": f"denied for {SECRET}", "RequestId": "r"}
        return httpx.Response(403, json=body)

    with pytest.raises(ApiAuthError) as raised:
        invoke_async(_client(handler), "assistwatch", b"{}")
    assert len(calls) == 1
    assert "AccessDenied" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_names_and_regions_that_are_not_ones_are_refused_before_any_request():
    with pytest.raises(ConfigError, match="not a Function Compute function name"):
        invoke_async(_client(lambda r: httpx.Response(202)), "../etc", b"{}")
    with pytest.raises(ConfigError, match="not a region id"):
        fc_endpoint("cn-hangzhou.evil.com/x")
    assert fc_endpoint("cn-shanghai") == "https://fcv3.cn-shanghai.aliyuncs.com"


def test_a_shard_event_is_a_poll_of_its_scopes_with_its_ticket():
    poll = parse_event(
        {
            "action": "poll",
            "scopes": ["self/cn-hangzhou", "1234/cn-beijing"],
            "shard": {"slot": 3, "token": "abc"},
        }
    ).trigger
    assert poll.scopes == (("self", "cn-hangzhou"), ("1234", "cn-beijing"))  # type: ignore[union-attr]
    assert poll.shard == ShardTicket(3, "abc")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "poll", "scopes": ["cn-hangzhou"]}, "scopes: 'cn-hangzhou' is not a scope"),
        ({"action": "poll", "scopes": ["a/b"], "shard": {"slot": -1, "token": "t"}}, "slot"),
        ({"action": "poll", "scopes": ["a/b"], "shard": {"slot": 0}}, "token"),
        ({"action": "poll", "shard": {"slot": 0, "token": "t"}}, "a shard needs its scopes"),
    ],
)
def test_a_malformed_shard_event_is_one_clear_error(event, message):
    with pytest.raises(BadInput, match=message):
        parse_event(event)


def test_scopes_split_into_balanced_contiguous_shards():
    keys = [("self", f"r{n}") for n in range(5)]
    assert [len(p) for p in split(keys, 2)] == [3, 2]
    assert [key for part in split(keys, 9) for key in part] == keys
    assert len(split(keys, 9)) == 5


@pytest.mark.parametrize(
    ("configured", "estimate", "expected"),
    [
        (1, 999.0, 1),  # never
        (4, None, 4),  # always that many
        (0, None, 1),  # nothing measured yet: in-process
        (0, 60.0, 1),  # 60 s of a 96 s budget: fits
        (0, 90.0, 3),  # past 70%: shards of ~40% each
        (0, 10_000.0, 10),  # never more shards than scopes
    ],
)
def test_how_many_shards(configured, estimate, expected):
    assert shard_count(configured, estimate, 96.0, 10) == expected


def test_a_slot_starts_once_per_token_and_never_under_a_live_runner():
    slot = Slot("t1", ["self/r"], "dispatched", lease_until=100.0)
    assert slot.may_start("t1", "req-a", now=50.0)
    assert not slot.may_start("t0", "req-a", now=50.0)  # superseded by a later coordinator
    slot.status, slot.runner = "running", "req-a"
    assert not slot.may_start("t1", "req-b", now=50.0)  # FC delivered the event twice
    assert slot.may_start("t1", "req-b", now=150.0)  # the first run died: its retry goes on
    slot.status = "done"
    assert not slot.may_start("t1", "req-a", now=50.0)


def test_the_coordinator_invokes_the_function_and_version_fc_ran_it_as():
    """FC's python3.12 context names the function and its qualifier in ``function``; 3.10
    keeps the qualifier in ``service`` (FC's Context page)."""
    from types import SimpleNamespace

    from lib.edges.entry import invocation_from_context

    meta = SimpleNamespace(name="assistwatch", timeout=300, qualifier="prod")
    py312 = SimpleNamespace(request_id="r", function=meta, region="cn-hangzhou")
    got = invocation_from_context(py312, {})
    assert (got.function_name, got.qualifier) == ("assistwatch", "prod")
    py310 = SimpleNamespace(
        request_id="r",
        function=SimpleNamespace(name="assistwatch", timeout=300),
        service=SimpleNamespace(qualifier="LATEST"),
    )
    assert invocation_from_context(py310, {}).qualifier == "LATEST"


def test_the_local_fc_runs_a_sync_invoke_at_once_and_answers_its_result(tmp_path):
    """GIVEN `make serve`'s local FC WHEN a signed InvokeFunction without the Async header
    arrives THEN the entry runs now with the named function in its context, and the caller
    gets the entry's answer; with no AccessKey configured it is FC's 403."""
    from tests.test_serve import Recorder, Server

    recorder = Recorder(answer=json.dumps({"ok": True, "alerts": 0}))
    keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    with Server(tmp_path, keys, recorder) as server, httpx.Client() as http:
        credentials = Credentials(KEY_ID, SecretStr(SECRET))
        client = OpenApiClient(http, server.url, FC_VERSION, credentials, sleep=lambda _: None)
        path = "/2023-03-30/functions/assistwatch/invocations"
        answer = client.send("InvokeFunction", path, b'{"action": "poll"}')
        assert answer == {"ok": True, "alerts": 0}
        ((event, context),) = recorder.calls
        assert event == b'{"action": "poll"}'
        assert context.function.name == "assistwatch"
    with Server(tmp_path, {}, recorder) as bare, httpx.Client() as http:
        client = OpenApiClient(http, bare.url, FC_VERSION, credentials, sleep=lambda _: None)
        with pytest.raises(ApiAuthError, match="InvalidSignature"):
            client.send("InvokeFunction", path, b"{}")
