"""AssumedRoles: another account's role is assumed once, reused until shortly before it
expires, refreshed after, and failures name the role but never a secret."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr

from lib.cloud.aliyun.client import OpenApiClient
from lib.cloud.aliyun.sts import (
    DEFAULT_ENDPOINT,
    REFRESH_BEFORE,
    STS_VERSION,
    AssumedRoles,
    sts_endpoint,
)
from lib.cloud.cloudassist.api import CloudAssistant
from lib.support.arn import account_of
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiRequestError, ApiTransientError, ConfigError
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset
from tests.fakes.sts import StsFake

ROLE = "acs:ram::1234567890123456:role/assistwatch-reader"
OTHER_ROLE = "acs:ram::6543210987654321:role/assistwatch-reader"
FN_KEY, FN_SECRET, FN_TOKEN = "STS.fn-key", "function-secret-value", "function-token-value"
BASE = Credentials(FN_KEY, SecretStr(FN_SECRET), SecretStr(FN_TOKEN))


class Clock:
    """A settable clock, shared by the fakes and the code under test."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cloud(clock: Clock) -> Iterator[CloudAssistantFake]:
    # The other account's ECS API: it knows no key until STS issues one.
    with CloudAssistantFake({}, dataset=Dataset(), clock=clock) as fake:
        yield fake


@pytest.fixture
def sts(clock: Clock, cloud: CloudAssistantFake) -> Iterator[StsFake]:
    with StsFake(
        {FN_KEY: FN_SECRET},
        security_tokens={FN_KEY: FN_TOKEN},
        grants={FN_KEY: [ROLE]},
        roles=[ROLE, OTHER_ROLE],
        targets=[cloud],
        clock=clock,
    ) as fake:
        yield fake


def roles(
    http: httpx.Client, sts: StsFake, clock: Clock, *, duration_seconds: int = 3600
) -> AssumedRoles:
    return AssumedRoles(
        http,
        endpoint=sts.url,
        clock=clock,
        sleep=lambda _s: None,
        duration_seconds=duration_seconds,
    )


def test_account_of_reads_the_account_id_and_refuses_what_is_no_role_arn():
    assert account_of(ROLE) == "1234567890123456"
    for wrong in (
        "acs:ram::1234567890123456:user/bob",
        "arn:aws:iam::1:role/x",
        "acs:ram::x:role/",
    ):
        with pytest.raises(ConfigError, match="not a RAM role ARN"):
            account_of(wrong)


def test_assumed_credentials_sign_calls_the_other_account_accepts(http, sts, cloud, clock):
    # GIVEN the function's own STS credentials, allowed to assume a reader role
    # WHEN the role is assumed
    assumed = roles(http, sts, clock).credentials_for(ROLE, BASE)
    # THEN a temporary key with its token comes back, not the function's own
    assert assumed.access_key_id.startswith("STS.")
    assert assumed.access_key_id != FN_KEY
    assert assumed.security_token is not None
    # ... and the other account's Cloud Assistant API accepts calls signed with it
    client = OpenApiClient(http, cloud.url, "2014-05-26", assumed, now=clock)
    pages = list(CloudAssistant(client, "cn-hangzhou").invocation_pages())
    assert pages[0].invocations == []
    # ... the AssumeRole request was RPC of STS 2015-04-01 with our session and duration
    [(action, params)] = sts.calls
    assert action == "AssumeRole"
    assert params == {
        "RoleArn": ROLE,
        "RoleSessionName": "assistwatch",
        "DurationSeconds": "3600",
    }
    assert STS_VERSION == "2015-04-01"


def test_a_cached_role_is_reused_for_many_uses(http, sts, clock):
    # GIVEN one AssumedRoles WHEN the same role is asked for many times within its validity
    assumed = roles(http, sts, clock)
    first = assumed.credentials_for(ROLE, BASE)
    clock.now += timedelta(minutes=30)
    again = [assumed.credentials_for(ROLE, BASE) for _ in range(20)]
    # THEN STS was asked once and every use got the same credentials
    assert sts.count() == 1
    assert assumed.calls == 1
    assert all(c == first for c in again)


def test_the_role_is_assumed_again_shortly_before_it_expires(http, sts, clock):
    # GIVEN a role assumed for an hour
    assumed = roles(http, sts, clock)
    first = assumed.credentials_for(ROLE, BASE)
    expires = sts.issued[0].expiration
    # WHEN the clock reaches one second before the refresh margin THEN still cached
    clock.now = expires - REFRESH_BEFORE - timedelta(seconds=1)
    assert assumed.credentials_for(ROLE, BASE) == first
    # WHEN it reaches the margin THEN assumed again, and the new key is used from then on
    clock.now = expires - REFRESH_BEFORE
    second = assumed.credentials_for(ROLE, BASE)
    assert second.access_key_id != first.access_key_id
    assert sts.count() == 2
    assert assumed.credentials_for(ROLE, BASE) == second
    assert sts.count() == 2


def test_a_new_caller_key_assumes_afresh(http, sts, clock):
    # GIVEN FC rotated the function's own key (same secret for brevity, known to the fake)
    assumed = roles(http, sts, clock)
    assumed.credentials_for(ROLE, BASE)
    sts.add_key("STS.fn-key-2", FN_SECRET, security_token=FN_TOKEN, may_assume=[ROLE])
    rotated = Credentials("STS.fn-key-2", SecretStr(FN_SECRET), SecretStr(FN_TOKEN))
    # WHEN the role is asked for with the new key THEN STS is asked again
    assumed.credentials_for(ROLE, rotated)
    assert [issued.caller for issued in sts.issued] == [FN_KEY, "STS.fn-key-2"]


def test_concurrent_passes_share_one_assume(http, sts, clock):
    # GIVEN eight threads asking for the same role at once
    assumed = roles(http, sts, clock)
    start = threading.Barrier(8)
    got: list[Credentials] = []

    def ask() -> None:
        start.wait()
        got.append(assumed.credentials_for(ROLE, BASE))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    # THEN one AssumeRole served them all
    assert len(got) == 8
    assert len({c.access_key_id for c in got}) == 1
    assert sts.count() == 1


def test_a_role_the_function_may_not_assume_is_an_auth_error_naming_it(http, sts, clock):
    # GIVEN a role that exists but does not trust the function
    # WHEN assumed THEN ApiAuthError NoPermission naming the role, with no secret anywhere
    with pytest.raises(ApiAuthError) as caught:
        roles(http, sts, clock).credentials_for(OTHER_ROLE, BASE)
    error = caught.value
    assert (error.code, error.http_status) == ("NoPermission", 403)
    assert OTHER_ROLE in str(error)
    for secret in (FN_SECRET, FN_TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_a_role_that_does_not_exist_is_an_auth_error_too(http, sts, clock):
    missing = "acs:ram::1234567890123456:role/nobody"
    with pytest.raises(ApiAuthError) as caught:
        roles(http, sts, clock).credentials_for(missing, BASE)
    assert (caught.value.code, caught.value.http_status) == ("EntityNotExist.Role", 404)
    assert missing in str(caught.value)


def test_a_duration_over_the_roles_maximum_is_a_request_error(http, sts, clock):
    # GIVEN roles with a one-hour maximum session WHEN two hours are asked for
    with pytest.raises(ApiRequestError) as caught:
        roles(http, sts, clock, duration_seconds=7200).credentials_for(ROLE, BASE)
    # THEN STS's InvalidParameter.DurationSeconds, naming the role
    assert caught.value.code == "InvalidParameter.DurationSeconds"
    assert ROLE in str(caught.value)


def test_an_unknown_caller_key_is_an_auth_error(http, sts, clock):
    stranger = Credentials("LTAI-stranger", SecretStr("stranger-secret"))
    with pytest.raises(ApiAuthError) as caught:
        roles(http, sts, clock).credentials_for(ROLE, stranger)
    assert caught.value.code == "InvalidAccessKeyId.NotFound"
    assert "stranger-secret" not in str(caught.value)


def test_throttling_is_retried_then_the_role_is_assumed(http, sts, clock):
    # GIVEN STS throttles the first request
    sts.fail_next(code="Throttling.User")
    # WHEN assumed THEN the retry succeeds, and both requests are counted
    assumed = roles(http, sts, clock)
    assert assumed.credentials_for(ROLE, BASE).access_key_id.startswith("STS.")
    assert sts.count() == 2
    assert assumed.calls == 2


def test_sustained_throttling_is_transient(http, sts, clock):
    sts.fail_next(10, code="Throttling.User")
    with pytest.raises(ApiTransientError) as caught:
        roles(http, sts, clock).credentials_for(ROLE, BASE)
    assert ROLE in str(caught.value)


def test_an_answer_without_credentials_is_transient_and_shows_no_secret():
    # GIVEN an STS (mocked) whose answer lacks the token but carries a secret
    def answer(_request: httpx.Request) -> httpx.Response:
        creds = {"AccessKeyId": "STS.x", "AccessKeySecret": "leaked-secret", "Expiration": "x"}
        return httpx.Response(200, json={"RequestId": "r-9", "Credentials": creds})

    # WHEN assumed THEN ApiTransientError naming the missing field, not the secret
    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as http,
        pytest.raises(ApiTransientError) as caught,
    ):
        AssumedRoles(http).credentials_for(ROLE, BASE)
    assert caught.value.request_id == "r-9"
    assert "security_token" in str(caught.value) or "SecurityToken" in str(caught.value)
    assert "leaked-secret" not in str(caught.value)


def test_secrets_and_tokens_never_show_in_reprs(http, sts, clock):
    # GIVEN a role assumed and cached
    assumed = roles(http, sts, clock)
    creds = assumed.credentials_for(ROLE, BASE)
    issued = sts.issued[0]
    # WHEN the objects are printed THEN no secret and no token appears
    shown = " ".join([repr(assumed), repr(creds), str(creds), repr(sts), repr(issued)])
    for secret in (issued.access_key_secret, issued.security_token, FN_SECRET, FN_TOKEN):
        assert secret not in shown
    assert ROLE in repr(assumed)


def test_bad_settings_fail_at_start_up(http):
    with pytest.raises(ConfigError, match="session name"):
        AssumedRoles(http, session_name="a")
    with pytest.raises(ConfigError, match="duration"):
        AssumedRoles(http, duration_seconds=600)
    with pytest.raises(ConfigError, match="https"):
        AssumedRoles(http, endpoint="http://sts.example.com")


def test_endpoints_default_public_regional_and_vpc():
    assert DEFAULT_ENDPOINT == sts_endpoint() == "https://sts.aliyuncs.com"
    assert sts_endpoint("cn-hangzhou") == "https://sts.cn-hangzhou.aliyuncs.com"
    assert sts_endpoint("cn-hangzhou", vpc=True) == "https://sts-vpc.cn-hangzhou.aliyuncs.com"
    with pytest.raises(ConfigError):
        sts_endpoint(vpc=True)


def test_the_default_endpoint_is_the_public_sts():
    # GIVEN a transport that records where the request went
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(403, json={"Code": "NoPermission", "Message": "no"})

    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as http,
        pytest.raises(ApiAuthError),
    ):
        AssumedRoles(http).credentials_for(ROLE, BASE)
    # THEN it went to sts.aliyuncs.com, signed, with the caller's token
    [request] = seen
    assert request.url.host == "sts.aliyuncs.com"
    assert request.headers["x-acs-action"] == "AssumeRole"
    assert request.headers["x-acs-version"] == "2015-04-01"
    assert request.headers["x-acs-security-token"] == FN_TOKEN
    assert request.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=STS.fn-key,")


def test_an_assumed_roles_secret_and_token_are_masked_in_any_log_line(http, sts, clock):
    # GIVEN a role assumed for another account
    assumed = roles(http, sts, clock).credentials_for(ROLE, BASE)
    secret = assumed.access_key_secret.get_secret_value()
    assert assumed.security_token is not None
    token = assumed.security_token.get_secret_value()
    # WHEN either turns up in a log line (an error quoting a request, say)
    from lib.support.log import scrub

    line = scrub(f"refused: {secret} {token}")
    # THEN neither is readable
    assert secret not in line
    assert token not in line
