"""Bad input never crashes the watcher: hypothesis throws malformed events, settings and API
answers at the edges, and each edge answers with its one documented error.

- trigger parsing raises only BadInput (never retried by FC), with a one-line reason;
- configuration raises only ConfigError, one line, naming the variable, never its secret;
- API answers (mutations of the recorded seed answers, and raw bytes over HTTP) raise only
  ApiTransientError, through the very path CloudAssistant pages with;
- the handler, given any event and a broken environment, returns a failed report and logs
  one line instead of raising (a raise would make FC retry pointlessly).

Example counts come from a profile: ``ci`` (default, quick for ``make test``) or
``thorough`` (``ASSISTWATCH_FUZZ_PROFILE=thorough .venv/bin/python -m pytest tests/test_fuzz.py``).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from lib.cloud.aliyun.client import OpenApiClient, RetryPolicy
from lib.cloud.cloudassist.api import CloudAssistant
from lib.core.records.eflo import EfloSendFileResultsPage
from lib.core.triggers import TASK_COMPLETED, ParsedEvent, parse_event
from lib.edges.entry import handle, reset
from lib.support.credentials import Credentials
from lib.support.errors import ApiTransientError, BadInput, ConfigError
from lib.support.settings import Settings, load_settings

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FUZZ = settings(settings.get_profile(os.environ.get("ASSISTWATCH_FUZZ_PROFILE", "ci")))

EVENTS = Path(__file__).parent / "events"


def refusal(run: Callable[[], object], *allowed: type[Exception]) -> Exception | None:
    """Run; return the exception if it is one of ``allowed`` (anything else propagates)."""
    try:
        run()
    except allowed as error:
        return error
    return None


# --- strategies -----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Values people (and broken tools) actually put where strings are expected.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "1h",
            "90",
            "-5m",
            "1e400",
            "99999999999999999999w",
            "NaN",
            "cn-hangzhou",
            "ecs.command",
            "eflo.file",
            "t-hz0jdfwd9f0001",
            "i-bp1f4n9s3r5d1lq8x2k0",
            "true",
            "\x00",
            "\n",
            "\u202e",
            "💥",
        ]
    ),
)
loose = st.one_of(nasty_text, json_values, st.lists(nasty_text, max_size=3))


@st.composite
def timer_events(draw: st.DrawFn) -> Any:
    narrowed = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "regions": loose,
                "sources": loose,
                "resourceGroupId": loose,
                "lookback": loose,
            },
        )
    )
    payload = draw(st.one_of(st.just(json.dumps(narrowed)), loose, st.just(narrowed)))
    return {"triggerTime": draw(loose), "triggerName": draw(loose), "payload": payload}


@st.composite
def cloud_events(draw: st.DrawFn) -> Any:
    data = draw(
        st.one_of(
            loose,
            st.fixed_dictionaries(
                {},
                optional={
                    "invokeId": loose,
                    "InvokeId": loose,
                    "instanceId": loose,
                    "InstanceId": loose,
                    "regionId": loose,
                },
            ),
        )
    )
    event = {
        "specversion": "1.0",
        "type": draw(st.one_of(st.just(TASK_COMPLETED), loose)),
        "source": "acs.ecs",
        "data": data,
    }
    optional = draw(
        st.fixed_dictionaries({}, optional={"aliyunregionid": loose, "aliyunaccountid": loose})
    )
    return {**event, **optional}


@st.composite
def action_events(draw: st.DrawFn) -> Any:
    return draw(
        st.fixed_dictionaries(
            {"action": st.one_of(st.sampled_from(["poll", "watch"]), loose)},
            optional={
                "provider": st.one_of(st.sampled_from(["ecs", "eflo"]), loose),
                "region": loose,
                "invokeIds": loose,
                "kind": st.one_of(st.sampled_from(["command", "file"]), loose),
                "account": loose,
                "regions": loose,
                "sources": loose,
                "lookback": loose,
            },
        )
    )


inner_events = st.one_of(
    timer_events(),
    cloud_events(),
    st.lists(cloud_events(), max_size=3),
    action_events(),
    json_values,
)


@st.composite
def http_envelopes(draw: st.DrawFn) -> Any:
    body = json.dumps(draw(inner_events))
    encoded = draw(st.booleans())
    if encoded:
        body = base64.b64encode(body.encode()).decode()
    body = draw(st.one_of(st.just(body), loose))
    return {
        "version": "v1",
        "rawPath": "/",
        "headers": {},
        "body": body,
        "isBase64Encoded": draw(st.one_of(st.just(encoded), loose)),
        "requestContext": {},
    }


any_event = st.one_of(
    inner_events,
    http_envelopes(),
    inner_events.map(lambda e: json.dumps(e).encode()),
    st.binary(max_size=200),
    st.text(max_size=200),
)

# --- triggers -------------------------------------------------------------------------------


@FUZZ
@given(event=any_event)
def test_any_event_is_a_trigger_or_a_one_line_bad_input(event: Any) -> None:
    # GIVEN an event of any shape FC could hand over, well-formed or not
    # WHEN it is parsed
    parsed: list[ParsedEvent] = []
    error = refusal(lambda: parsed.append(parse_event(event)), BadInput)
    # THEN it is a trigger, or a refusal (BadInput: never retried) in one short line saying why
    if error is None:
        assert isinstance(parsed[0], ParsedEvent)
    else:
        assert "\n" not in str(error)
        assert 0 < len(str(error)) < 300


# --- configuration --------------------------------------------------------------------------

VARIABLES = [f"ASSISTWATCH_{name.upper()}" for name in Settings.model_fields]
SECRETS = {
    "ASSISTWATCH_DINGTALK_URL",
    "ASSISTWATCH_DINGTALK_SECRET",
    "ASSISTWATCH_WECOM_URL",
    "ASSISTWATCH_FEISHU_URL",
    "ASSISTWATCH_FEISHU_SECRET",
    "ASSISTWATCH_WEBHOOK_URL",
    "ASSISTWATCH_WEBHOOK_SECRET",
}
setting_values = st.one_of(
    nasty_text,
    st.from_regex(r"\Ahttps?://[a-z0-9.\-]{1,20}(:[0-9]{1,6})?/[a-z?=&]{0,20}\Z"),
    st.sampled_from(
        ["whsec_c2VjcmV0", "http://127.0.0.1:9", "0", "1001", "-1", "acs:ram::1:role/x"]
    ),
    # Secret-looking values carry a marker, so an echo of one is found in any message.
    st.from_regex(r"\Ahttps?://[a-z.]{1,12}(:[0-9]{1,5})?/\?access_token=tok3n[a-z0-9]{4,8}\Z"),
    st.from_regex(r"\A(whsec_)?tok3n[A-Za-z0-9+/=]{0,12}\Z"),
)
MARKER = "tok3n"
environments = st.dictionaries(st.sampled_from(VARIABLES), setting_values, min_size=1, max_size=6)


@FUZZ
@given(environ=environments)
def test_a_broken_setting_is_one_line_naming_the_variable_and_never_its_secret(
    environ: dict[str, str],
) -> None:
    # GIVEN any values in any ASSISTWATCH_* variables
    # WHEN the settings are loaded
    error = refusal(lambda: load_settings(environ), ConfigError)
    if error is not None:
        message = str(error)
        # THEN the refusal is one line that names a variable that was set
        assert "\n" not in message
        assert any(name in message for name in environ), message
        # AND no secret value is echoed back
        if not any(MARKER in value for name, value in environ.items() if name not in SECRETS):
            assert MARKER not in message


durations = st.one_of(
    st.from_regex(r"\A\s?[0-9]{1,30}(\.[0-9]{1,5})?\s?[smhdw]?\s?\Z"),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.booleans(),
    nasty_text,
)


@FUZZ
@given(value=durations)
def test_any_lookback_is_a_duration_or_a_clear_refusal(value: Any) -> None:
    # GIVEN a look-back as people, scripts and overflowing numbers write it
    # WHEN it arrives in the environment and in a manual poll
    bad_setting = refusal(lambda: load_settings({"ASSISTWATCH_LOOKBACK": str(value)}), ConfigError)
    bad_event = refusal(lambda: parse_event({"action": "poll", "lookback": value}), BadInput)
    # THEN a refusal names the variable, or the event's field (nothing else is raised)
    assert bad_setting is None or "ASSISTWATCH_LOOKBACK" in str(bad_setting)
    assert bad_event is None or str(bad_event).startswith("lookback:")


# --- API answers ----------------------------------------------------------------------------


def recorded(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """The recorded answer with some of its parts dropped, retyped or replaced."""
    choice = draw(st.integers(min_value=0, max_value=9))
    if choice == 0 and depth > 0:
        return draw(json_values)  # this part replaced by anything
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if draw(st.integers(min_value=0, max_value=7)) == 0:
                continue  # dropped
            out[key] = draw(mutated(inner, depth + 1))
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value]
        return items * draw(st.integers(min_value=0, max_value=2))
    if choice == 1:
        return str(value)  # a number or boolean sent as a string, or the reverse
    if choice == 2:
        return draw(scalars)
    return value


class Answering:
    """An ApiCaller that answers every call with the same JSON."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        return self.answer  # type: ignore[no-any-return]


PAGERS: dict[str, Callable[[CloudAssistant], Iterator[Any]]] = {
    "ecs_describe_invocations.json": lambda api: api.invocation_pages(),
    "ecs_describe_invocation_results.json": lambda api: api.invocation_result_pages(),
    "ecs_describe_send_file_results.json": lambda api: api.send_file_result_pages(),
    "ecs_describe_send_file_results_en.json": lambda api: api.send_file_result_pages(),
}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(PAGERS)))
def test_a_malformed_answer_is_a_transient_api_error_never_a_crash(
    data: st.DataObject, name: str
) -> None:
    # GIVEN a recorded Cloud Assistant answer with parts dropped, retyped or replaced
    answer = data.draw(mutated(recorded(name)))
    api = CloudAssistant(Answering(answer), "cn-hangzhou")
    # WHEN a poll pages through it (the same answer again: a repeated NextToken)
    pages: list[Any] = []
    error = refusal(lambda: pages.extend(itertools.islice(PAGERS[name](api), 3)), ApiTransientError)
    # THEN the pages parse, or the only failure is a transient API error (FC retries), one line
    assert pages if error is None else "\n" not in str(error)


@FUZZ
@given(answer=mutated(recorded("eflo_describe_send_file_results.json")))
def test_a_malformed_eflo_answer_fails_validation_only(answer: Any) -> None:
    # GIVEN a recorded eflo answer, mutated; WHEN it is parsed; THEN it parses, or fails
    # with the ValidationError the caller turns into ApiTransientError
    error = refusal(lambda: EfloSendFileResultsPage.model_validate(answer), ValidationError)
    assert error is None or isinstance(error, ValidationError)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.just(b""),
    ),
    status=st.sampled_from([200, 200, 200, 500, 502, 503]),
    content_type=st.sampled_from(
        ["application/json", "text/html", "application/json;charset=utf-8"]
    ),
)
def test_raw_bytes_from_the_endpoint_are_a_transient_api_error(
    body: bytes, status: int, content_type: str
) -> None:
    # GIVEN an endpoint (a proxy, a captive portal, a half-written answer) sending any bytes
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    client = OpenApiClient(
        httpx.Client(transport=httpx.MockTransport(answer)),
        "http://127.0.0.1:9",
        "2014-05-26",
        Credentials("LTAI-fuzz", SecretStr("fuzz-secret-value")),
        retry=RetryPolicy(attempts=2),
        sleep=lambda _: None,
    )
    api = CloudAssistant(client, "cn-hangzhou")
    # WHEN a poll asks for a page
    error = refusal(lambda: list(itertools.islice(api.invocation_pages(), 2)), ApiTransientError)
    # THEN it parses, or it is a transient API error that does not echo the secret
    assert error is None or "fuzz-secret-value" not in str(error)


# --- the handler end to end -----------------------------------------------------------------

BROKEN = [
    {"ASSISTWATCH_REGIONS": "Hangzhou!"},
    {"ASSISTWATCH_LOOKBACK": "an hour"},
    {"ASSISTWATCH_API_QPS": "0"},
    {"ASSISTWATCH_SOURCES": "ecs.commands"},
    {"ASSISTWATCH_DINGTALK_URL": "http://oapi.dingtalk.com/robot/send?access_token=abcdef123456"},
    {"ASSISTWATCH_WEBHOOK_URL": "https://hooks.example.com/x", "ASSISTWATCH_WEBHOOK_SECRET": "x"},
    {"ASSISTWATCH_TIMEZONE": "Mars/Olympus"},
    {"ASSISTWATCH_ACCOUNTS": "123456"},
]


@FUZZ
@given(event=any_event, broken=st.sampled_from(BROKEN))
def test_the_handler_answers_bad_input_and_broken_settings_with_a_failed_report(
    event: Any, broken: dict[str, str]
) -> None:
    # GIVEN a function whose environment has one broken setting, and any event at all
    reset()
    stream = io.StringIO()
    context = SimpleNamespace(request_id="fuzz-1", function=SimpleNamespace(timeout=60))
    # WHEN FC invokes it
    answer = handle(event, context, environ=broken, stream=stream)
    # THEN it returns a failed report instead of raising (FC would retry pointlessly)
    body = answer["body"] if isinstance(answer, dict) else answer
    report = json.loads(body)
    assert report["ok"] is False
    assert report["errors"]
    if isinstance(answer, dict):
        assert answer["statusCode"] in (400, 500)
    # AND it logged one line saying so
    refusals = [line for line in stream.getvalue().splitlines() if "run refused" in line]
    assert len(refusals) == 1
