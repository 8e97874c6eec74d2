"""Every outward string passes one scrubber: registered secrets out, receiver URLs cut to host.

Outward strings: log lines, run reports, messages (the fallback's self-health report too) and
exception text. A webhook URL whose credential is a few short path segments (Slack-style) is
the case no pattern could catch: only knowing the configured URL does.
"""

from __future__ import annotations

import io
import json
from typing import Any

from lib.edges.entry import handle
from lib.support.errors import ReceiverConfigError
from lib.support.scrubber import register_secret, scrub, show_url
from tests.test_security import (  # the fixtures too: the same hostile world
    Echo,
    cloud,  # noqa: F401
    context,
    fresh_entry,  # noqa: F401
)

SLACK_PATH = "/services/T0AB12CD/B0EF34GH/xoxbSecretPart"
SLACK_PARTS = ("T0AB12CD", "B0EF34GH", "xoxbSecretPart")


def _run(environ: dict[str, str], request_id: str) -> tuple[str, dict[str, Any]]:
    logs = io.StringIO()
    answer = handle(
        b'{"triggerTime": "2026-11-23T00:00:00Z"}',
        context(request_id),
        environ=environ,
        stream=logs,
    )
    assert isinstance(answer, str)
    return logs.getvalue(), json.loads(answer)


def test_a_slack_style_webhook_answering_404_shows_its_host_only_to_the_fallback_group(
    tmp_path,
    cloud,  # noqa: F811  # the fixture imported above
) -> None:
    # GIVEN a webhook whose credential is its path (/services/T…/B…/secret) answering 404,
    # and a DingTalk group as the fallback that hears about the watcher's own health
    with Echo(404) as hook, Echo(200, robot_errcode=0) as group:
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_WEBHOOK_URL": f"{hook.url}{SLACK_PATH}",
            "ASSISTWATCH_DINGTALK_URL": f"{group.url}/robot/send?access_token=groupToken123456",
            "ASSISTWATCH_FALLBACK": "dingtalk",
        }
        # WHEN the timer fires
        logs, report = _run(environ, "req-slack")
        told = "\n".join(group.bodies)
    # THEN the run report and the group both name the failing webhook by scheme://host …
    origin = show_url(hook.url)
    assert any(f"HTTP 404 from {origin}" in error for error in report["errors"])
    assert f"HTTP 404 from {origin}" in told
    # … and no part of its path, anywhere: report, log lines, messages
    everything = "\n".join([logs, json.dumps(report), told])
    assert [part for part in SLACK_PARTS if part in everything] == []


def test_a_registered_secret_or_receiver_url_never_survives_an_exception_or_a_report() -> None:
    # GIVEN a receiver URL with its token in the path and query, registered as configuration
    url = "https://hooks.example.test/services/T9ZZ88YY/B7XX66WW/tokenPart?key=abcdefgh"
    register_secret(url, lasting=True)
    # WHEN any error names it, whole or in parts
    error = ReceiverConfigError(
        "webhook", f"refused {url} (path was /services/T9ZZ88YY/B7XX66WW/tokenPart)"
    )
    # THEN the error's text shows the host only and the path is gone
    assert str(error) == ("receiver webhook: refused https://hooks.example.test (path was /****)")
    assert "tokenPart" not in scrub(json.dumps({"errors": [f"{url}"]}))


def test_a_url_on_the_same_host_with_another_port_or_a_longer_host_is_left_alone() -> None:
    # GIVEN a registered robot URL
    register_secret("https://robot.example.test/send?access_token=t0k3n0000", lasting=True)
    # WHEN text names a look-alike host THEN nothing of it is cut (only the registered origin is)
    text = "see https://robot.example.test.evil.test/page and https://robot.example.testing/x"
    assert scrub(text) == text
    assert scrub("GET https://ROBOT.example.test/send?access_token=t0k3n0000 -> 500") == (
        "GET https://ROBOT.example.test -> 500"
    )


def test_a_message_sent_to_a_receiver_loses_a_registered_secret_in_its_body() -> None:
    # GIVEN a rendered message whose command output happens to quote a registered secret
    from lib.core.notification import Message, scrubbed_message

    register_secret("STS.tokenXYZ0123456789")
    message = Message(
        receiver="dingtalk",
        id="m1",
        title="deploy failed",
        text="env: STS.tokenXYZ0123456789",
        payload={"markdown": {"text": "env: STS.tokenXYZ0123456789"}, "at": {"atMobiles": []}},
    )
    # WHEN it passes the outward boundary THEN the secret is gone from text and payload
    clean = scrubbed_message(message)
    assert "tokenXYZ" not in clean.text
    assert "tokenXYZ" not in json.dumps(clean.payload)
    assert clean.id == message.id


def test_what_the_cli_prints_passes_the_scrubber_too() -> None:
    # GIVEN a registered receiver URL quoted in a report the CLI prints (replay, run, watch)
    import io

    from lib.edges.cli.common import print_json

    url = "https://hooks.example.test/services/T1CLI000/B2CLI000/cliSecretPart"
    register_secret(url, lasting=True)
    out = io.StringIO()
    # WHEN printed THEN only scheme://host is on stdout
    print_json({"ok": False, "errors": [f"receiver webhook: HTTP 404 from {url}"]}, out)
    assert "cliSecretPart" not in out.getvalue()
    assert "HTTP 404 from https://hooks.example.test" in out.getvalue()


def test_an_error_naming_a_robot_keeps_its_words_whatever_robots_came_before() -> None:
    """GIVEN robots on 127.0.0.1:4383 and 127.0.0.1:43831 registered in the same process (as
    a long-lived FC instance or a test run has them) WHEN an error names the second robot by
    scheme://host:port followed by ': 310000' THEN the line reads exactly so: the colon after
    the port is kept, and the shorter origin does not swallow the longer one's port."""
    register_secret("http://127.0.0.1:4383/robot/send?access_token=aaaaaaaaaaaa", lasting=True)
    register_secret("http://127.0.0.1:43831/robot/send?access_token=bbbbbbbbbbbb", lasting=True)

    line = "DingTalk robot http://127.0.0.1:43831: 310000 sign not match"

    assert scrub(line) == line
    assert scrub("see http://127.0.0.1:43831/robot/send?access_token=bbbbbbbbbbbb") == (
        "see http://127.0.0.1:43831"
    )
