"""The signed OpenAPI client against httpx.MockTransport: wire format, retries, errors."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import httpx
import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from pydantic import SecretStr
from Tea.request import TeaRequest

from lib.cloud.aliyun.client import OpenApiClient, RateLimiter, RetryPolicy, endpoint_for
from lib.cloud.aliyun.params import flatten_params
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiRequestError, ApiTransientError, ConfigError

SECRET = "AccessKeySecret-very-secret-42"
TOKEN = "CAIS-sts-security-token-77"
CREDS = Credentials("STS.keyid", SecretStr(SECRET), SecretStr(TOKEN))
ECS = "https://ecs.cn-hangzhou.aliyuncs.com"


class Server:
    """A MockTransport handler that checks every request's ACS3 signature with the official
    SDK utility (from what arrived on the wire) and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.received: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.received.append(self.verify(request))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @staticmethod
    def verify(request: httpx.Request) -> dict[str, str]:
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        body = request.content
        signed = {
            k: v
            for k, v in request.headers.items()
            if k in ("host", "content-type") or k.startswith("x-acs-")
        }
        tea = TeaRequest()
        tea.method = request.method
        tea.pathname = request.url.path
        tea.query = query
        tea.headers = signed
        payload = hashlib.sha256(body).hexdigest()
        assert signed["x-acs-content-sha256"] == payload
        expected = OpenApiUtil.get_authorization(
            tea, "ACS3-HMAC-SHA256", payload, CREDS.access_key_id, SECRET
        )
        assert request.headers["authorization"] == expected
        if body:
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            return dict(parse_qsl(body.decode(), keep_blank_values=True))
        return query


def ok(payload: object = None) -> httpx.Response:
    return httpx.Response(200, json=payload if payload is not None else {"RequestId": "R-ok"})


def err(status: int, code: str, message: str = "m", request_id: str = "R-err") -> httpx.Response:
    return httpx.Response(status, json={"Code": code, "Message": message, "RequestId": request_id})


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def make(server: Server, *, endpoint: str = ECS, style="query", **kw):
    sleep = kw.pop("sleep", Recorder())
    counter = itertools.count()
    client = OpenApiClient(
        httpx.Client(transport=httpx.MockTransport(server)),
        endpoint,
        "2014-05-26",
        kw.pop("credentials", CREDS),
        style=style,
        sleep=sleep,
        rand=kw.pop("rand", lambda: 0.5),
        now=kw.pop("now", lambda: datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)),
        nonce=kw.pop("nonce", lambda: f"nonce-{next(counter)}"),
        **kw,
    )
    return client, sleep


# ------------------------------------------------------------------ wire format


def test_query_style_call_sends_signed_flattened_params_and_returns_json():
    """GIVEN an ECS client and nested params
    WHEN DescribeInvocations is called
    THEN one signed POST carries the flattened params in the query (verified by the
    official SDK utility from the wire), and the JSON answer comes back."""
    server = Server(ok({"RequestId": "R1", "Invocations": {"Invocation": []}}))
    client, _ = make(server)

    data = client.call(
        "DescribeInvocations",
        {
            "RegionId": "cn-hangzhou",
            "IncludeOutput": True,
            "MaxResults": 50,
            "InvokeStatus": None,
            "CommandName": "echo a b*~/+云",
            "Tag": [{"Key": "env", "Value": "prod"}],
        },
    )

    assert data["RequestId"] == "R1"
    assert client.calls == 1
    (request,) = server.requests
    assert request.method == "POST"
    assert request.content == b""
    assert request.headers["host"] == "ecs.cn-hangzhou.aliyuncs.com"
    assert request.headers["x-acs-action"] == "DescribeInvocations"
    assert request.headers["x-acs-version"] == "2014-05-26"
    assert request.headers["x-acs-security-token"] == TOKEN
    assert server.received[0] == {
        "RegionId": "cn-hangzhou",
        "IncludeOutput": "true",
        "MaxResults": "50",
        "CommandName": "echo a b*~/+云",
        "Tag.1.Key": "env",
        "Tag.1.Value": "prod",
    }


def test_form_style_call_sends_params_in_a_signed_form_body():
    """GIVEN an eflo-controller style client (form)
    WHEN a call is made
    THEN the params travel as an x-www-form-urlencoded body, the query is empty, and the
    signature (over the body hash and content-type) verifies."""
    server = Server(ok())
    client, _ = make(
        server, endpoint="https://eflo-controller.cn-wulanchabu.aliyuncs.com", style="form"
    )

    client.call("DescribeSendFileResults", {"RegionId": "cn-wulanchabu", "InvokeId": "f-1 x"})

    (request,) = server.requests
    assert request.url.query == b""
    assert "content-type" in request.headers["authorization"]
    assert server.received[0] == {"RegionId": "cn-wulanchabu", "InvokeId": "f-1 x"}


def test_loopback_endpoint_over_http_signs_host_with_port():
    """GIVEN a loopback fake on a port over plain http
    WHEN a call is made
    THEN the Host header (with the port) is what was signed."""
    server = Server(ok())
    client, _ = make(server, endpoint="http://127.0.0.1:8080")
    client.call("DescribeInvocations", {"RegionId": "cn-hangzhou"})
    assert server.requests[0].headers["host"] == "127.0.0.1:8080"
    assert str(server.requests[0].url).startswith("http://127.0.0.1:8080/?")


def test_signing_date_is_utc_whatever_the_clock_zone():
    """GIVEN a clock in UTC+8
    WHEN a call is made
    THEN x-acs-date is the same moment written in UTC."""
    server = Server(ok())
    cst = timezone(timedelta(hours=8))
    client, _ = make(server, now=lambda: datetime(2024, 5, 1, 20, 0, 5, tzinfo=cst))
    client.call("DescribeInvocations", {})
    assert server.requests[0].headers["x-acs-date"] == "2024-05-01T12:00:05Z"


# ------------------------------------------------------------------ flattening


def test_flattening_follows_the_sdk_rpc_rules():
    """GIVEN params with bools, ints, None, lists and lists of dicts
    WHEN they are flattened
    THEN bools are true/false, None is dropped, lists are Name.N, dicts Name.N.Key."""
    flat = flatten_params(
        "A",
        {
            "Flag": False,
            "On": True,
            "Size": 0,
            "Gone": None,
            "Empty": "",
            "InstanceId": ["i-1", "i-2"],
            "Tag": [{"Key": "k", "Value": None}, {"Key": "k2", "Value": "v2"}],
            "Nested": {"A": [1, 2]},
            "NoItems": [],
        },
    )
    assert flat == {
        "Flag": "false",
        "On": "true",
        "Size": "0",
        "Empty": "",
        "InstanceId.1": "i-1",
        "InstanceId.2": "i-2",
        "Tag.1.Key": "k",
        "Tag.2.Key": "k2",
        "Tag.2.Value": "v2",
        "Nested.A.1": "1",
        "Nested.A.2": "2",
    }


def test_a_value_the_api_cannot_take_is_a_request_error():
    """GIVEN a parameter of an unsupported type
    WHEN it is flattened
    THEN an ApiRequestError names the parameter (nothing is sent)."""
    with pytest.raises(ApiRequestError, match="Bad"):
        flatten_params("DescribeInvocations", {"Bad": object()})


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize(
    "failure",
    [
        err(400, "Throttling.User"),
        err(400, "Throttling"),
        err(503, "ServiceUnavailable"),
        err(500, "InternalError"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ConnectTimeout("timed out"),
        httpx.RemoteProtocolError("connection reset"),
    ],
    ids=["throttling-user", "throttling", "503", "500", "502-html", "timeout", "reset"],
)
def test_transient_failure_is_retried_then_succeeds(failure):
    """GIVEN the API fails transiently twice, then answers
    WHEN a call is made
    THEN the answer is returned after 3 requests, waiting with jittered backoff between."""
    server = Server(failure, failure, ok({"RequestId": "R3"}))
    client, sleep = make(server)

    assert client.call("DescribeInvocations", {})["RequestId"] == "R3"
    assert client.calls == 3
    # rand() = 0.5 → half of base 0.5 * 2**n.
    assert sleep.sleeps == [0.25, 0.5]


def test_retries_exhausted_raise_transient_error_with_fresh_nonces():
    """GIVEN the API throttles every request
    WHEN a call is made
    THEN 4 signed requests go out (each with a new nonce), then ApiTransientError with
    the code, RequestId and how many attempts were made."""
    server = Server(err(400, "Throttling.Api", "Request was denied", "R-last"))
    client, sleep = make(server)

    with pytest.raises(ApiTransientError) as info:
        client.call("DescribeInvocationResults", {})

    exc = info.value
    assert exc.code == "Throttling.Api"
    assert exc.request_id == "R-last"
    assert exc.action == "DescribeInvocationResults"
    assert "4 attempts" in str(exc)
    assert exc.retryable
    assert client.calls == 4
    assert client.throttled == 4
    assert len(sleep.sleeps) == 3
    nonces = [r.headers["x-acs-signature-nonce"] for r in server.requests]
    assert len(set(nonces)) == 4


def test_backoff_grows_exponentially_and_is_capped():
    """GIVEN a policy with base 1s and cap 3s and the largest jitter draw
    WHEN the retry delays are computed
    THEN they double each time and never pass the cap; the smallest draw waits 0."""
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=3.0)
    assert [policy.delay(n, 1.0) for n in range(1, 6)] == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay(3, 0.0) == 0.0


# ------------------------------------------------------------------ errors not retried


@pytest.mark.parametrize(
    "answer",
    [
        err(404, "InvalidAccessKeyId.NotFound"),
        err(400, "InvalidAccessKeyId.Inactive"),
        err(400, "SignatureDoesNotMatch"),
        err(400, "IncompleteSignature"),
        err(400, "InvalidSecurityToken.Expired"),
        err(403, "Forbidden.RAM"),
        err(403, "NoPermission"),
        httpx.Response(401, text="Unauthorized"),
    ],
    ids=lambda r: r.json()["Code"] if r.headers["content-type"].endswith("json") else "401",
)
def test_auth_error_is_not_retried(answer):
    """GIVEN the API rejects the credentials or the permission
    WHEN a call is made
    THEN exactly one request is sent and ApiAuthError carries the API's code."""
    server = Server(answer)
    client, sleep = make(server)

    with pytest.raises(ApiAuthError) as info:
        client.call("DescribeInvocations", {})

    assert client.calls == 1
    assert sleep.sleeps == []
    assert not info.value.retryable
    assert info.value.http_status == answer.status_code


@pytest.mark.parametrize(
    "answer",
    [
        err(400, "InvalidParameter", "The specified parameter is not valid."),
        err(400, "MissingParameter"),
        err(404, "InvalidApi.NotFound"),
        err(400, "InvalidTimeStamp.Expired"),
    ],
)
def test_request_error_is_not_retried(answer):
    """GIVEN the API calls the request itself wrong
    WHEN a call is made
    THEN exactly one request is sent and ApiRequestError carries Code, Message, RequestId."""
    server = Server(answer)
    client, _ = make(server)

    with pytest.raises(ApiRequestError) as info:
        client.call("DescribeInvocations", {"RegionId": "cn-hangzhou"})

    body = answer.json()
    assert info.value.code == body["Code"]
    assert info.value.message == body["Message"]
    assert info.value.request_id == "R-err"
    assert client.calls == 1


def test_success_status_with_non_json_body_is_a_clear_transient_error():
    """GIVEN a 200 whose body is an HTML page (a proxy, a portal, a wrong endpoint)
    WHEN a call is made
    THEN ApiTransientError says the answer is not JSON, after a single request."""
    server = Server(
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})
    )
    client, _ = make(server)

    with pytest.raises(ApiTransientError, match="not a JSON object") as info:
        client.call("DescribeInvocations", {})
    assert info.value.code == "InvalidResponse"
    assert "text/html" in str(info.value)
    assert client.calls == 1


def test_success_status_with_json_that_is_not_an_object_is_refused():
    """GIVEN a 200 whose JSON is a list
    WHEN a call is made
    THEN it is not handed on as if it were an answer."""
    server = Server(httpx.Response(200, json=[1, 2]))
    client, _ = make(server)
    with pytest.raises(ApiTransientError, match="not a JSON object"):
        client.call("DescribeInvocations", {})


def test_server_error_with_non_json_body_is_retried_then_raised():
    """GIVEN a 502 HTML page every time
    WHEN a call is made
    THEN it is retried to the limit, then ApiTransientError with the HTTP status."""
    server = Server(httpx.Response(502, text="<html>Bad Gateway</html>"))
    client, _ = make(server)
    with pytest.raises(ApiTransientError) as info:
        client.call("DescribeInvocations", {})
    assert info.value.code == "HTTP502"
    assert info.value.http_status == 502
    assert client.calls == 4


# ------------------------------------------------------------------ secrets


def test_errors_and_client_never_show_secret_token_or_signature():
    """GIVEN a server whose error message echoes the secret, the token and the signature
    WHEN the call fails
    THEN str() and repr() of the error and repr() of the client contain none of them."""
    captured: list[str] = []

    def echo(request: httpx.Request) -> httpx.Response:
        signature = request.headers["authorization"].rsplit("Signature=", 1)[1]
        captured.append(signature)
        message = f"bad: {SECRET} {TOKEN} {signature}"
        return httpx.Response(400, json={"Code": "SignatureDoesNotMatch", "Message": message})

    client = OpenApiClient(
        httpx.Client(transport=httpx.MockTransport(echo)),
        ECS,
        "2014-05-26",
        CREDS,
        sleep=Recorder(),
    )
    with pytest.raises(ApiAuthError) as info:
        client.call("DescribeInvocations", {})

    texts = [str(info.value), repr(info.value), info.value.message, repr(client)]
    for text in texts:
        for secret in (SECRET, TOKEN, captured[0]):
            assert secret not in text


def test_network_error_message_carries_no_secret():
    """GIVEN a transport error whose text contains the secret (a misbehaving proxy lib)
    WHEN retries run out
    THEN the raised error does not repeat it."""
    server = Server(httpx.ConnectError(f"refused {SECRET}"))
    client, _ = make(server)
    with pytest.raises(ApiTransientError) as info:
        client.call("DescribeInvocations", {})
    assert info.value.code == "NetworkError"
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


# ------------------------------------------------------------------ endpoints


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://ecs.cn-hangzhou.aliyuncs.com",
        "http://10.0.0.1:80",
        "http://127.0.0.1.evil.example",
        "ftp://ecs.cn-hangzhou.aliyuncs.com",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(endpoint):
    """GIVEN an endpoint over plain http that is not loopback (or not http at all)
    WHEN a client is created
    THEN ConfigError: credentials and results never cross the network in clear text."""
    with pytest.raises(ConfigError):
        OpenApiClient(httpx.Client(), endpoint, "2014-05-26", CREDS)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:9000",
        "http://127.1.2.3",
        "http://localhost:8080",
        "http://[::1]:8080",
        "https://ecs.cn-hangzhou.aliyuncs.com",
        "ecs-vpc.cn-hangzhou.aliyuncs.com",
    ],
)
def test_https_and_loopback_endpoints_are_accepted(endpoint):
    """GIVEN an https endpoint, a bare host (https), or a loopback one over http
    WHEN a client is created
    THEN it is accepted."""
    OpenApiClient(httpx.Client(), endpoint, "2014-05-26", CREDS)


def test_endpoint_with_login_is_refused_without_echoing_it():
    """GIVEN an endpoint URL with user:password@
    WHEN a client is created
    THEN ConfigError, and the password is not in the message."""
    with pytest.raises(ConfigError) as info:
        OpenApiClient(
            httpx.Client(), "https://u:hunter2@ecs.cn-hangzhou.aliyuncs.com", "2014-05-26", CREDS
        )
    assert "hunter2" not in str(info.value)


def test_endpoint_for_public_and_vpc():
    """GIVEN a product and a region
    WHEN the endpoint is derived
    THEN it follows the documented public and VPC patterns."""
    assert endpoint_for("ecs", "cn-hangzhou") == "https://ecs.cn-hangzhou.aliyuncs.com"
    assert endpoint_for("ecs", "cn-hangzhou", vpc=True) == (
        "https://ecs-vpc.cn-hangzhou.aliyuncs.com"
    )
    assert endpoint_for("eflo", "cn-wulanchabu") == (
        "https://eflo-controller.cn-wulanchabu.aliyuncs.com"
    )
    assert endpoint_for("eflo", "ap-southeast-1", vpc=True) == (
        "https://eflo-controller-vpc.ap-southeast-1.aliyuncs.com"
    )


@pytest.mark.parametrize("region", ["", "cn hangzhou", "evil.com/x", "CN-HANGZHOU"])
def test_endpoint_for_refuses_what_is_not_a_region(region):
    """GIVEN a region id that is not one
    WHEN the endpoint is derived
    THEN ConfigError (a typo must not send calls to an unexpected host)."""
    with pytest.raises(ConfigError):
        endpoint_for("ecs", region)


# ------------------------------------------------------------------ rate limiting


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_paces_calls_to_qps_after_the_burst():
    """GIVEN a limiter of 5 calls/s with a burst of 1, on a fake clock
    WHEN 11 calls acquire one after the other
    THEN the first goes at once and each next one waits 0.2 s: 2 s in all."""
    clock = FakeClock()
    limiter = RateLimiter(5, burst=1, clock=clock, sleep=clock.sleep)

    waits = [limiter.acquire() for _ in range(11)]

    assert waits[0] == 0
    assert waits[1:] == pytest.approx([0.2] * 10)
    assert clock.now - 100.0 == pytest.approx(2.0)


def test_rate_limiter_allows_a_burst_of_qps_after_a_quiet_spell():
    """GIVEN a limiter of 10/s, unused for a while
    WHEN 10 calls come at once
    THEN they all go without waiting, and the 11th waits 0.1 s."""
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    clock.now += 60
    assert [limiter.acquire() for _ in range(10)] == [0.0] * 10
    assert limiter.acquire() == pytest.approx(0.1)


def test_rate_limiter_reserves_distinct_slots_for_concurrent_threads():
    """GIVEN a frozen clock, 1 call/s, and 8 threads acquiring at once
    WHEN they all acquire
    THEN each got its own slot: the waits are exactly 0, 1, … 7 seconds."""
    frozen = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    limiter = RateLimiter(1, burst=1, clock=frozen, sleep=record)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])


@pytest.mark.parametrize("qps", [0, -1, 1e-300, 1e-9, 0.09, float("nan"), 1e6])
def test_rate_limiter_refuses_a_rate_no_run_could_live_with(qps):
    """GIVEN ASSISTWATCH_API_QPS of zero or less, so small a run would sleep for years (or
    overflow the sleep), or absurdly high
    WHEN the limiter is built
    THEN ConfigError names the variable."""
    with pytest.raises(ConfigError, match="ASSISTWATCH_API_QPS"):
        RateLimiter(qps)


def test_client_takes_a_token_for_every_attempt_retries_included():
    """GIVEN a client sharing a 2/s limiter (burst 1) and a server that throttles once
    WHEN a call is made
    THEN both attempts went through the limiter."""
    clock = FakeClock()
    limiter = RateLimiter(2, burst=1, clock=clock, sleep=clock.sleep)
    server = Server(err(400, "Throttling.User"), ok())
    client, _ = make(server, limiter=limiter, rand=lambda: 0.0)

    client.call("DescribeInvocations", {})

    assert client.calls == 2
    assert clock.now - 100.0 == pytest.approx(0.5)


def test_json_error_without_code_uses_http_status():
    """GIVEN a 403 with an empty JSON object
    WHEN a call is made
    THEN ApiAuthError with code HTTP403."""
    server = Server(httpx.Response(403, content=json.dumps({}).encode()))
    client, _ = make(server)
    with pytest.raises(ApiAuthError) as info:
        client.call("DescribeInvocations", {})
    assert info.value.code == "HTTP403"
