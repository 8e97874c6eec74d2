"""Hostile input gets one clear line and a failed report, or is told as sanitised data.

Each story below escaped as a traceback before (so FC retried bad input), or stopped every
run: a lone surrogate in an event's ids, regions or resource group; a lone surrogate in a
CommandName from the API; a receiver URL that passes the https check but no HTTP client can
use; an API rate so small the limiter sleeps for years; a routing file nested 10,000 deep or
growing through aliases; a region with a trailing newline. The hypothesis strategies at the
end generate each family.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.app.config import load_config, parse_config
from lib.cloud.aliyun.ratelimit import RateLimiter
from lib.core.triggers import TASK_COMPLETED, Poll, Targets, Watch, parse_event
from lib.edges.entry import handle
from lib.support.errors import BadInput, ConfigError
from lib.support.settings import load_settings
from lib.support.text import lone_surrogate_at
from lib.support.urls import require_secure_url
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import command, run
from tests.fakes.scenario import EXPECTED_ALERTS, demo_dataset
from tests.fakes.webhook import WebhookSink
from tests.test_fuzz import refusal
from tests.test_security import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    STS_TOKEN,
    context,
    fresh_entry,  # noqa: F401  # autouse: every story starts from a cold entry
)

FUZZ = settings(
    max_examples=int(os.environ.get("ASSISTWATCH_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONE = "\ud800"


@pytest.fixture
def cloud() -> Iterator[CloudAssistantFake]:
    dataset = demo_dataset(datetime.now(timezone.utc))
    dataset.add(  # one more failure, its name carrying a lone surrogate as the API sends it
        command(
            name=f"deploy{LONE}.sh",
            invoke="t-hzhostilename01",
            created=datetime.now(timezone.utc),
            instances=[run("i-hostile000000000001", "Failed", error_code="ExitCodeNonzero")],
        )
    )
    with CloudAssistantFake(
        {ACCESS_KEY_ID: ACCESS_KEY_SECRET},
        security_tokens={ACCESS_KEY_ID: STS_TOKEN},
        dataset=dataset,
    ) as fake:
        yield fake


def _environ(tmp_path: Path, cloud: CloudAssistantFake, sink: WebhookSink) -> dict[str, str]:
    return {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
        "ASSISTWATCH_WEBHOOK_URL": sink.url,
    }


def _handle(event: Any, environ: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report the entry returned (never raised) and the log lines it wrote."""
    logs = io.StringIO()
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    answer = handle(raw, context(), environ=environ, stream=logs)
    assert isinstance(answer, str)
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    return json.loads(answer), lines


def _one_clear_line(report: dict[str, Any], lines: list[dict[str, Any]], *words: str) -> None:
    assert report["ok"] is False
    assert len(report["errors"]) == 1
    (error,) = report["errors"]
    assert "\n" not in error
    assert "Traceback" not in json.dumps(lines)
    for word in words:
        assert word in error


def _stored(tmp_path: Path) -> list[Path]:
    state = tmp_path / "state"
    return [path for path in state.rglob("*") if path.is_file()] if state.exists() else []


# --- stories ----------------------------------------------------------------------------

HOSTILE_EVENTS = {
    "an EventBridge event's invokeId": (
        {
            "specversion": "1.0",
            "type": TASK_COMPLETED,
            "source": "acs.ecs",
            "id": "e-1",
            "data": {"invokeId": f"t-{LONE}", "instanceId": "i-1"},
        },
        "data.invokeId",
    ),
    "a watch's region": (
        {"action": "watch", "provider": "ecs", "region": f"cn-{LONE}", "invokeIds": ["t-1"]},
        "region",
    ),
    "a poll's region": ({"action": "poll", "regions": [f"cn-hangzhou{LONE}"]}, "regions[0]"),
    "a poll's resourceGroupId": ({"action": "poll", "resourceGroupId": f"rg-{LONE}"}, "resource"),
    "a timer payload's region": (
        {"triggerTime": "2026-12-06T00:00:00Z", "payload": json.dumps({"regions": [LONE]})},
        "regions[0]",
    ),
    "a poll's region with a trailing newline": (
        {"action": "poll", "regions": ["cn-hangzhou\n"]},
        "not a region id",
    ),
    "a watch's region with a trailing newline": (
        {"action": "watch", "provider": "ecs", "region": "cn-hangzhou\n", "invokeIds": ["t-1"]},
        "not a region id",
    ),
}


@pytest.mark.parametrize(("event", "named"), HOSTILE_EVENTS.values(), ids=HOSTILE_EVENTS.keys())
def test_an_event_with_a_lone_surrogate_or_a_junk_region_is_refused_in_one_line(
    tmp_path, cloud, event, named
) -> None:
    # GIVEN a hostile event: valid JSON, but a field is no text (or no region id)
    with WebhookSink() as sink:
        # WHEN FC hands it to the function
        report, lines = _handle(event, _environ(tmp_path, cloud, sink))
    # THEN one line names the field, the report fails (not retried by FC), nothing is stored
    _one_clear_line(report, lines, named)
    assert _stored(tmp_path) == []


def test_a_command_name_with_a_lone_surrogate_does_not_stop_the_other_alerts(
    tmp_path, cloud
) -> None:
    # GIVEN the demo's 8 failures and a 9th whose CommandName carries a lone surrogate
    with WebhookSink() as sink:
        # WHEN the timer fires
        report, _ = _handle(
            {"triggerTime": "2026-12-06T00:00:00Z"}, _environ(tmp_path, cloud, sink)
        )
        told = [alert for payload in sink.payloads for alert in payload["alerts"]]
    # THEN all 9 are told, the hostile name as "deploy�.sh", and the run is ok
    assert report["ok"] is True, report["errors"]
    assert len(told) == len(EXPECTED_ALERTS) + 1
    assert "deploy\ufffd.sh" in json.dumps(told, ensure_ascii=False)
    assert report["deferred"] == 0


@pytest.mark.parametrize("url", ["https://robot.example.com:abc/hook", "https://xn--/hook"])
def test_a_receiver_url_no_http_client_can_use_is_refused_before_anything_is_claimed(
    tmp_path, cloud, url
) -> None:
    # GIVEN a webhook URL that is https (so passed the old check) but unusable
    with WebhookSink() as sink:
        environ = {**_environ(tmp_path, cloud, sink), "ASSISTWATCH_WEBHOOK_URL": url}
        # WHEN the timer fires
        report, lines = _handle({"triggerTime": "2026-12-06T00:00:00Z"}, environ)
    # THEN one line names the variable; nothing is claimed, so nothing waits in an outbox
    _one_clear_line(report, lines, "ASSISTWATCH_WEBHOOK_URL", "HTTP client can use")
    assert _stored(tmp_path) == []


def test_the_routing_file_refuses_a_receiver_url_no_http_client_can_use() -> None:
    # GIVEN a routing file whose webhook has a port that is no number
    text = (
        "receivers:\n  - name: ops\n    type: webhook\n    url: https://hooks.example.com:abc/x\n"
    )
    # WHEN it is read THEN one line names the receiver
    with pytest.raises(ConfigError, match="receiver ops url is not a URL an HTTP client can use"):
        parse_config(text)


@pytest.mark.parametrize("qps", ["1e-300", "1e-9", "0.01"])
def test_an_api_rate_so_small_a_run_would_sleep_for_years_is_refused_in_one_line(
    tmp_path, cloud, qps
) -> None:
    # GIVEN ASSISTWATCH_API_QPS far below one call per 10 s
    with WebhookSink() as sink:
        environ = {**_environ(tmp_path, cloud, sink), "ASSISTWATCH_API_QPS": qps}
        # WHEN the timer fires
        report, lines = _handle({"triggerTime": "2026-12-06T00:00:00Z"}, environ)
    # THEN one line names the variable (no OverflowError, no sleep)
    _one_clear_line(report, lines, "ASSISTWATCH_API_QPS")


def _alias_bomb(levels: int, fan: int) -> str:
    names = [f"l{n}" for n in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * fan) + "]"]
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_routing_file_is_refused_before_it_expands() -> None:
    # GIVEN a routing file of a few hundred bytes that expands to 9^9 values through aliases
    text = _alias_bomb(9, 9)
    assert len(text) < 600
    # WHEN it is read THEN one line says why, before anything is built
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        parse_config(text)


@pytest.mark.parametrize("shape", ["flow", "block"])
def test_a_routing_file_nested_thousands_deep_is_refused_in_one_line(shape: str) -> None:
    # GIVEN a routing file nested 10,000 deep in brackets, or 1,300 deep by indentation
    if shape == "flow":
        text = "routes: " + "[" * 10_000 + "]" * 10_000 + "\n"
    else:
        text = "".join(" " * depth + "k:\n" for depth in range(1_300))
    # WHEN it is read THEN ConfigError, one line, no RecursionError
    with pytest.raises(ConfigError, match="deep") as caught:
        parse_config(text)
    assert "\n" not in str(caught.value)


# --- hypothesis: the families of hostile input, generated ------------------------------

# Strings that are valid JSON but trouble for whatever stores, signs or sends them later.
lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
hostile_strings = st.one_of(
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=8), lone_surrogates, st.text(max_size=8)),
    st.builds(
        lambda r, end: r + end,
        st.sampled_from(["cn-hangzhou", "us-west-1"]),
        st.sampled_from(["\n", "\r\n", "\t", " ", "\x00", "\u202e", "\ufeff"]),
    ),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.text(max_size=300),
)
hostile_ids = st.one_of(hostile_strings, st.from_regex(r"\At-[a-z0-9]{8}\Z"))


@st.composite
def hostile_events(draw: st.DrawFn) -> dict[str, Any]:
    """An event of each family with hostile text where ids, regions and groups go."""
    family = draw(st.sampled_from(["event", "watch", "poll", "timer"]))
    text = draw(hostile_strings)
    if family == "event":
        return {
            "specversion": "1.0",
            "type": TASK_COMPLETED,
            "source": "acs.ecs",
            "id": "e",
            "aliyunregionid": draw(st.one_of(st.just("cn-hangzhou"), hostile_strings)),
            "data": {"invokeId": draw(hostile_ids), "instanceId": draw(hostile_ids)},
        }
    if family == "watch":
        return {
            "action": "watch",
            "provider": "ecs",
            "region": text,
            "invokeIds": draw(st.lists(hostile_ids, min_size=1, max_size=3)),
        }
    narrowed = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "regions": st.lists(hostile_strings, max_size=2),
                "resourceGroupId": hostile_strings,
            },
        )
    )
    if family == "poll":
        return {"action": "poll", **narrowed}
    return {"triggerTime": "2026-12-06T00:00:00Z", "payload": json.dumps(narrowed)}


def _regions_of(trigger: Any) -> tuple[str, ...]:
    if isinstance(trigger, Poll):
        return trigger.regions
    if isinstance(trigger, Watch | Targets):
        return (trigger.region,) if trigger.region else ()
    return ()


@FUZZ
@given(event=hostile_events())
def test_a_hostile_event_is_a_clean_trigger_or_one_line_of_bad_input(event: dict[str, Any]) -> None:
    # GIVEN any hostile event, as the bytes FC hands over (surrogates escaped, as JSON does)
    raw = json.dumps(event).encode()
    # WHEN parsed
    parsed: list[Any] = []
    error = refusal(lambda: parsed.append(parse_event(raw).trigger), BadInput)
    if error is not None:  # THEN either one line of bad input …
        assert "\n" not in str(error)
        return
    (trigger,) = parsed
    # … or a trigger holding only well-formed text and region ids that are region ids
    assert lone_surrogate_at(vars(trigger)) is None
    for region in _regions_of(trigger):
        assert region == region.strip()
        assert region.isascii()


hostile_urls = st.one_of(
    st.builds(
        "https://{}:{}/hook".format,
        st.sampled_from(["h.example.com", "127.0.0.1"]),
        st.one_of(st.text(max_size=6), st.integers(-10, 10**6).map(str)),
    ),
    st.builds(
        "https://{}/hook".format,
        st.one_of(
            st.sampled_from(["xn--", "xn--a", "a..b", "-a-.example", "[::1", "bü cher.de"]),
            hostile_strings,
        ),
    ),
    st.builds("https://robot.example.com/{}".format, hostile_strings),
)


@FUZZ
@given(url=hostile_urls)
def test_a_receiver_url_is_refused_in_one_line_or_is_one_an_http_client_can_send_to(
    url: str,
) -> None:
    # GIVEN any hostile receiver URL WHEN checked at start-up
    error = refusal(lambda: require_secure_url(url, what="receiver URL"), ValueError)
    if error is not None:  # THEN one line …
        assert "\n" not in str(error).replace("'\\n'", "")
        return
    # … or httpx builds the very request a send would
    httpx.Request("POST", url)


@FUZZ
@given(
    qps=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=1e-320, max_value=1.0)
    ).map(repr)
)
def test_any_api_rate_is_refused_in_one_line_or_keeps_every_wait_within_ten_seconds(
    qps: str,
) -> None:
    # GIVEN any ASSISTWATCH_API_QPS WHEN read at start-up
    loaded: list[float] = []
    error = refusal(
        lambda: loaded.append(load_settings({"ASSISTWATCH_API_QPS": qps}).api_qps), ConfigError
    )
    if error is not None:
        assert "ASSISTWATCH_API_QPS" in str(error)
        assert "\n" not in str(error)
        return
    (chosen,) = loaded
    # THEN the limiter it builds never waits more than 10 s for a token (nor overflows)
    waits: list[float] = []
    limiter = RateLimiter(chosen, burst=1, clock=lambda: 0.0, sleep=waits.append)
    limiter.acquire()
    limiter.acquire()
    assert all(math.isfinite(w) and w <= 10.0 for w in waits)


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    """Routing files built to exhaust the parser: deep nesting, alias bombs, both."""
    shape = draw(st.sampled_from(["flow", "block", "aliases", "mixed"]))
    if shape == "flow":
        depth = draw(st.integers(1, 20_000))
        return "routes: " + "[" * depth + "]" * depth + "\n"
    if shape == "block":
        return "".join(" " * d + "k:\n" for d in range(draw(st.integers(1, 1_400))))
    if shape == "aliases":
        return _alias_bomb(draw(st.integers(2, 12)), draw(st.integers(2, 12)))
    depth = draw(st.integers(1, 200))
    return _alias_bomb(4, 10) + "deep: " + "{a: " * depth + "1" + "}" * depth + "\n"


@FUZZ
@given(text=hostile_yaml())
def test_a_hostile_routing_file_is_one_config_error_line(text: str) -> None:
    # GIVEN a routing file built to exhaust the parser WHEN read
    # THEN it is refused in one line (or, when harmless, read), never a RecursionError
    error = refusal(lambda: parse_config(text), ConfigError)
    assert error is None or "\n" not in str(error)


def test_an_event_nested_beyond_the_json_parsers_stack_is_refused_in_one_line() -> None:
    # GIVEN an event nested 100,000 deep WHEN parsed THEN one line of bad input
    with pytest.raises(BadInput, match="nested too deeply"):
        parse_event(b"[" * 100_000 + b"]" * 100_000)


def test_a_region_setting_with_a_newline_is_trimmed_or_refused_naming_the_variable() -> None:
    # GIVEN ASSISTWATCH_REGIONS with a trailing newline (a heredoc, say) WHEN read
    # THEN it is trimmed; a newline inside a region is refused in one line
    chosen = load_settings({"ASSISTWATCH_REGIONS": "cn-hangzhou\n,cn-shanghai"}).regions
    assert chosen == ["cn-hangzhou", "cn-shanghai"]
    with pytest.raises(ConfigError, match="ASSISTWATCH_REGIONS"):
        load_settings({"ASSISTWATCH_REGIONS": "cn-hang\nzhou"})


def test_a_setting_that_is_not_utf8_is_refused_naming_the_variable() -> None:
    # GIVEN a keyword set from bytes that are not UTF-8 (os.environ keeps them as lone
    # surrogates, so it would fail only when the first message is signed and sent)
    environ = {"ASSISTWATCH_DINGTALK_KEYWORD": "al\udcffert"}
    # WHEN read at start-up THEN one line names the variable
    with pytest.raises(ConfigError, match="ASSISTWATCH_DINGTALK_KEYWORD: not valid UTF-8"):
        load_settings(environ)


def test_a_routing_file_with_a_lone_surrogate_escape_or_non_utf8_bytes_is_refused(
    tmp_path: Path,
) -> None:
    # GIVEN a receiver keyword written as "\ud800" in a double-quoted YAML scalar
    text = (
        "receivers:\n  - name: ops\n    type: dingtalk\n"
        "    url: https://oapi.dingtalk.com/robot/send?access_token=abc\n"
        '    keyword: "alert\\ud800"\n'
    )
    # WHEN read THEN one line names the field
    with pytest.raises(ConfigError, match=r"receivers\[0\]\.keyword is not valid Unicode"):
        parse_config(text)
    # AND a file that is not UTF-8 at all is one line too, not a UnicodeDecodeError
    path = tmp_path / "routing.yml"
    path.write_bytes(b"receivers: \xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)


class _Refusing:
    """A receiver whose HTTP library refuses the request it built (as httpx does for a URL
    it cannot use), then one that works: the same receiver name, fixed by the operator."""

    name = "ops"

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.sent: list[Any] = []

    def render(self, notification: Any) -> list[Any]:
        from lib.notify.console import ConsoleReceiver

        return ConsoleReceiver("ops").render(notification)

    def send(self, message: Any) -> None:
        if self.refuse:
            raise httpx.InvalidURL("Invalid port: 'abc'")
        self.sent.append(message)


def test_a_library_refusing_a_send_after_the_claims_keeps_them_for_the_next_run(
    tmp_path: Path,
) -> None:
    from lib.app.outbox import DeliveryTally, Outbox
    from lib.state.file import FileStore
    from lib.support.log import get_logger
    from tests.factories import Clock, make_notification

    clock = Clock()
    alerts = {"ops": list(make_notification(2, receiver="ops").alerts)}

    def outbox(receiver: _Refusing, owner: str) -> Outbox:
        store = FileStore(tmp_path)
        return Outbox(
            store, {"ops": receiver}, owner=owner, lease_seconds=60, clock=clock, log=get_logger()
        )

    # GIVEN a receiver whose HTTP library raises something that is no DeliveryError
    broken, tally = outbox(_Refusing(refuse=True), "run-1"), DeliveryTally()
    # WHEN the run claims and sends THEN it does not raise: one line, both alerts kept
    broken.deliver(broken.claim(alerts, tally), tally)
    assert tally.deferred == 2
    assert [error for error in tally.errors if "InvalidURL while sending" in error] == tally.errors
    assert len(tally.errors) == 1
    # AND the next run (receiver fixed) tells both at once, without waiting for a lease
    fixed = _Refusing(refuse=False)
    again = DeliveryTally()
    outbox(fixed, "run-2").flush_pending(again)
    assert again.alerts_sent == 2


api_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFFFF), max_size=20)
api_answers = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), api_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(api_text, inner, max_size=4)
    ),
    max_leaves=30,
)


@FUZZ
@given(answer=api_answers)
def test_an_api_answer_with_lone_surrogates_is_told_as_encodable_text(answer: Any) -> None:
    # GIVEN any API answer, lone surrogates (Cloud Assistant's JSON may escape them) anywhere
    from lib.support.text import without_lone_surrogates

    # WHEN sanitised as the client does THEN it is UTF-8 encodable, same shape, and an
    # answer without surrogates is unchanged
    clean = without_lone_surrogates(answer)
    json.dumps(clean, ensure_ascii=False).encode("utf-8")
    assert lone_surrogate_at(clean) is None
    if lone_surrogate_at(answer) is None:
        assert clean == answer
