"""The two variables that turn on acting on an alert, as a new user meets them (README, the
configuration table): actions are off unless both are set and nothing else changes then; a
bad value is one line naming the variable, never the value; `check` says where links stand.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lib.edges.cli.actions_check import action_lines
from lib.edges.cli.check import checks, report
from lib.support.errors import ConfigError
from lib.support.settings import load_settings
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dingtalk import DingTalkFake

KEY = "Zq3+vN8/xL2mR7tY1wE5uI9oP4aS6dF0gH=="  # what `openssl rand -base64 32` looks like
URL = "https://alerts.example.com"
TOKEN = "act0cfg0robot0token000000000000000000000000000000000000000000000"


@pytest.mark.parametrize(
    "environ",
    [{"ASSISTWATCH_PUBLIC_URL": URL}, {"ASSISTWATCH_ACTIONS_SECRET": KEY}],
    ids=["public URL alone", "secret alone"],
)
def test_one_of_the_two_alone_leaves_actions_off_and_changes_nothing_else(environ):
    """GIVEN only one of the two variables WHEN the settings load THEN they load (the function
    still alerts, as before) with actions off; `check` warns, naming the missing one."""
    settings = load_settings(environ)

    assert not settings.actions_on
    [line] = action_lines(settings)
    assert line.level == "warn"
    missing = "ASSISTWATCH_ACTIONS_SECRET" if "ASSISTWATCH_PUBLIC_URL" in environ else "PUBLIC_URL"
    assert f"without ASSISTWATCH_{missing.removeprefix('ASSISTWATCH_')}" in line.detail
    assert KEY not in line.detail


def test_neither_variable_adds_no_check_line_and_both_say_on():
    assert action_lines(load_settings({})) == []
    [line] = action_lines(
        load_settings({"ASSISTWATCH_PUBLIC_URL": URL, "ASSISTWATCH_ACTIONS_SECRET": KEY})
    )
    assert (line.level, line.detail) == ("ok", f"on: messages carry signed links to {URL}/act")
    assert KEY not in line.detail


def test_check_warns_when_the_public_url_is_fcs_default_domain():
    """GIVEN PUBLIC_URL on the trigger's fcapp.run address WHEN check THEN a warning says the
    pages would download there and a custom domain is needed."""
    settings = load_settings(
        {
            "ASSISTWATCH_PUBLIC_URL": "https://assistwatch-abcdefghij.cn-hangzhou.fcapp.run",
            "ASSISTWATCH_ACTIONS_SECRET": KEY,
        }
    )
    [line] = action_lines(settings)
    assert line.level == "warn"
    assert "custom domain" in line.detail


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tooshort-but-secret-ish", "must be at least 32 bytes of random text"),
        ("x" * 40, "looks like a placeholder, not random"),
        ("changeme" * 5, "looks like a placeholder, not random"),
    ],
    ids=["short", "one character", "a word repeated"],
)
def test_a_weak_secret_is_one_line_naming_the_variable_and_never_the_value(value, message):
    with pytest.raises(ConfigError) as caught:
        load_settings({"ASSISTWATCH_PUBLIC_URL": URL, "ASSISTWATCH_ACTIONS_SECRET": value})

    text = str(caught.value)
    assert f"ASSISTWATCH_ACTIONS_SECRET: {message}" in text
    assert "openssl rand -base64 32" in text
    assert value not in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://alerts.example.com", "public URL must be https"),
        ("alerts.example.com", "public URL must be https"),
        ("https://alerts.example.com/aw?token=hunter2hunter2", "must be the base URL alone"),
        ("https://alerts.example.com/#frag", "must be the base URL alone"),
        ("https://ops:hunter2hunter2@alerts.example.com", "must be the base URL alone"),
    ],
    ids=["plain http", "no scheme", "path and query", "fragment", "user and password"],
)
def test_a_public_url_links_could_not_use_is_refused_naming_the_variable(value, message):
    """GIVEN a public URL that is not https, or carries a path, query, fragment or user (every
    link would then miss /act on the trigger's domain) WHEN the settings load THEN one line
    names ASSISTWATCH_PUBLIC_URL and shows no more than its scheme and host."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"ASSISTWATCH_PUBLIC_URL": value, "ASSISTWATCH_ACTIONS_SECRET": KEY})

    text = str(caught.value)
    assert f"ASSISTWATCH_PUBLIC_URL: {message}" in text
    assert "hunter2" not in text
    assert KEY not in text


@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:9000", "http://localhost:9000/", "https://alerts.example.com/"]
)
def test_loopback_http_and_a_trailing_slash_are_fine(value):
    settings = load_settings({"ASSISTWATCH_PUBLIC_URL": value, "ASSISTWATCH_ACTIONS_SECRET": KEY})
    assert settings.actions_on
    assert not settings.public_url.endswith("/")  # type: ignore[union-attr]


def test_check_prints_the_actions_line_and_no_secret(tmp_path: Path):
    """GIVEN a complete configuration with the public URL but the secret forgotten WHEN
    `assistwatch check` THEN it passes (alerts still work) and says actions are off, why."""
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        environ = {
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN),
            "ASSISTWATCH_PUBLIC_URL": URL,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }
        results = checks(environ, [])
    out = io.StringIO()

    assert report(results, out) == 0, out.getvalue()
    assert "warn  actions" in out.getvalue()
    assert "ASSISTWATCH_PUBLIC_URL is set without ASSISTWATCH_ACTIONS_SECRET" in out.getvalue()
