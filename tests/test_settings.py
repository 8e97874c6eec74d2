"""Configuration: every variable validated at start-up, one line naming what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lib.support.errors import ConfigError
from lib.support.settings import load_settings


def test_defaults_watch_ecs_commands_and_files_with_a_one_hour_lookback():
    settings = load_settings({})
    assert settings.sources == ["ecs.command", "ecs.file"]
    assert settings.lookback == timedelta(hours=1)
    assert settings.api_qps == 10
    assert settings.state_url.startswith("file://")


def test_comma_lists_and_durations_are_read_as_people_write_them():
    settings = load_settings(
        {
            "ASSISTWATCH_REGIONS": "cn-hangzhou, cn-shanghai",
            "ASSISTWATCH_SOURCES": "ecs.command",
            "ASSISTWATCH_LOOKBACK": "30m",
            "ASSISTWATCH_ACCOUNTS": "acs:ram::1234567890123456:role/assistwatch",
        }
    )
    assert settings.regions == ["cn-hangzhou", "cn-shanghai"]
    assert settings.sources == ["ecs.command"]
    assert settings.lookback == timedelta(minutes=30)
    assert settings.accounts == ["acs:ram::1234567890123456:role/assistwatch"]


def test_the_process_environment_is_not_read_when_a_mapping_is_given(monkeypatch):
    monkeypatch.setenv("ASSISTWATCH_REGIONS", "cn-beijing")
    assert load_settings({}).regions == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ASSISTWATCH_REGIONS": "Hangzhou"}, "ASSISTWATCH_REGIONS"),
        ({"ASSISTWATCH_SOURCES": "ecs.cmd"}, "ASSISTWATCH_SOURCES"),
        ({"ASSISTWATCH_LOOKBACK": "a while"}, "ASSISTWATCH_LOOKBACK"),
        ({"ASSISTWATCH_API_QPS": "0"}, "ASSISTWATCH_API_QPS"),
        ({"ASSISTWATCH_API_QPS": "fast"}, "ASSISTWATCH_API_QPS"),
        (
            {"ASSISTWATCH_ECS_ENDPOINT": "http://ecs.cn-hangzhou.aliyuncs.com"},
            "ASSISTWATCH_ECS_ENDPOINT",
        ),
        ({"ASSISTWATCH_TIMEZONE": "Mars/Olympus"}, "ASSISTWATCH_TIMEZONE"),
        ({"ASSISTWATCH_ACCOUNTS": "1234567890"}, "ASSISTWATCH_ACCOUNTS"),
        ({"ASSISTWATCH_CONSOLE": "maybe"}, "ASSISTWATCH_CONSOLE"),
        ({"ASSISTWATCH_CONCURRENCY": "0"}, "ASSISTWATCH_CONCURRENCY"),
        ({"ASSISTWATCH_CONCURRENCY": "65"}, "ASSISTWATCH_CONCURRENCY"),
        ({"ASSISTWATCH_CONCURRENCY": "many"}, "ASSISTWATCH_CONCURRENCY"),
    ],
)
def test_a_bad_value_names_its_variable_in_one_line(env, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_a_receiver_url_over_plain_http_is_refused_without_showing_its_token():
    token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "ASSISTWATCH_DINGTALK_URL": f"http://oapi.dingtalk.com/robot/send?access_token={token}"
            }
        )
    assert "ASSISTWATCH_DINGTALK_URL" in str(caught.value)
    assert token not in str(caught.value)


def test_loopback_http_is_allowed_for_local_fakes():
    settings = load_settings({"ASSISTWATCH_ECS_ENDPOINT": "http://127.0.0.1:8080"})
    assert settings.ecs_endpoint == "http://127.0.0.1:8080"


def test_a_webhook_secret_must_be_a_standard_webhooks_secret():
    with pytest.raises(ConfigError, match="whsec_"):
        load_settings(
            {
                "ASSISTWATCH_WEBHOOK_URL": "https://hooks.example.com/in",
                "ASSISTWATCH_WEBHOOK_SECRET": "plain-secret-value",
            }
        )


def test_secrets_are_not_shown_in_the_settings_repr():
    settings = load_settings(
        {
            "ASSISTWATCH_DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=tok123456",
            "ASSISTWATCH_DINGTALK_SECRET": "SECabcdef123456",
        }
    )
    assert "tok123456" not in repr(settings)
    assert "SECabcdef123456" not in repr(settings)


def test_every_variable_is_documented_in_the_configuration_page():
    from pathlib import Path

    from lib.support.settings import Settings

    page = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"ASSISTWATCH_{name.upper()}"
        for name in Settings.model_fields
        if f"ASSISTWATCH_{name.upper()}" not in page
    ]
    assert missing == []
