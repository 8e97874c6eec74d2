"""Configuration from the environment (prefix ``ASSISTWATCH_``), validated at start-up.

A bad value stops the run with one line naming the variable (``load_settings``), never a
traceback. Secrets are ``SecretStr``. The variables are a public contract: each is in the
README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lib.support.errors import ConfigError
from lib.support.urls import require_secure_url

__all__ = [
    "SOURCES",
    "Settings",
    "Source",
    "load_settings",
    "parse_duration",
    "parse_repeat_interval",
]

Source = Literal["ecs.command", "ecs.file", "eflo.command", "eflo.file"]
SOURCES: tuple[Source, ...] = ("ecs.command", "ecs.file", "eflo.command", "eflo.file")
_DEFAULT_SOURCES: list[Source] = ["ecs.command", "ecs.file"]
_ROLE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # fullmatch, as _REGION
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")  # fullmatch: "$" lets "cn-hangzhou\n" in
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MIN_ACTIONS_SECRET_BYTES = 32  # lib.core.links.MIN_SECRET_BYTES (support imports nothing of ours)
_MIN_ACTIONS_SECRET_DISTINCT = 10  # base64 or hex of 32 random bytes has far more
_MAX_DURATION_SECONDS = 100 * 604800  # far beyond any history Cloud Assistant keeps (6 weeks)


def parse_duration(value: object) -> timedelta:
    """Parse ``90``, ``90s``, ``15m``, ``1h``, ``2d`` or ``1w`` into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration such as 90s, 15m, 1h or 2d")
        number, unit = match.groups()
        seconds = float(number) * _UNIT_SECONDS[unit]
    # NaN, negative and absurdly long durations are bad input, not a crash (timedelta would
    # raise OverflowError, which no caller expects).
    if not 0 <= seconds <= _MAX_DURATION_SECONDS:
        raise ValueError("expected a duration between 0 and 100 weeks, such as 90s, 15m or 2d")
    return timedelta(seconds=seconds)


_MIN_REPEAT = timedelta(minutes=1)


def parse_repeat_interval(value: object) -> timedelta | None:
    """A reminder interval: a duration of at least a minute, or ``0``/``off`` for none.

    Returns None when not set (inherit), ``timedelta(0)`` when explicitly off.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return timedelta(0)  # YAML reads a bare ``off`` as false
    every = parse_duration(value)
    if timedelta(0) < every < _MIN_REPEAT:
        raise ValueError("a repeat interval is at least 1m (or 0/off for no reminders)")
    return every


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseModel):
    """Every ``ASSISTWATCH_*`` variable; see the README's configuration table.

    A plain pydantic model filled by :func:`load_settings`, the one place the environment is
    read: pydantic-settings would add ~80 ms and ~15 MB to every cold start (its cloud
    secret-store providers import eagerly) for parsing we do in ten lines. See
    docs/decisions.md.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    regions: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=lambda: list(_DEFAULT_SOURCES))
    ecs_endpoint: str | None = None
    eflo_endpoint: str | None = None
    sts_endpoint: str | None = None  # STS for ASSISTWATCH_ACCOUNTS (default sts.aliyuncs.com)
    vpc_endpoints: bool = False
    state_url: str = "file://.assistwatch-state"
    namespace: str | None = None  # keeps deployments sharing a table apart; default: function name
    oss_endpoint: str | None = None
    ots_endpoint: str | None = None
    lookback: timedelta = timedelta(hours=1)
    repeat_interval: timedelta | None = None  # remind of alerts still open this often
    # Missed runs of periodic tasks: overdue after two scheduled runs plus this (None: off).
    missed_run_grace: timedelta | None = timedelta(minutes=10)
    # ≥ 0.1: one call every 10 s at the least; below that a run sleeps past any FC timeout
    # (1e-9 would sleep for years, 1e-300 overflows the sleep), so it is refused at start.
    api_qps: float = Field(default=10.0, ge=0.1, le=1000)  # per account, region and product
    concurrency: int = Field(default=16, ge=1, le=64)  # scopes (account × region) polled at once
    shards: int = Field(default=0, ge=0, le=100)  # fan-out: 0 estimate, 1 never, N always N
    fc_endpoint: str | None = (
        None  # FC 3.0 OpenAPI for fan-out (default fcv3.{region}.aliyuncs.com)
    )
    accounts: list[str] = Field(default_factory=list)  # role ARNs, or "*": the directory's members
    member_role: str = "ResourceDirectoryAccountAccessRole"  # assumed in each member (ACCOUNTS=*)
    resourcemanager_endpoint: str | None = None  # ListAccounts (default the central endpoint)
    dingtalk_url: SecretStr | None = None
    dingtalk_secret: SecretStr | None = None
    dingtalk_keyword: str | None = None
    dingtalk_at_mobiles: list[str] = Field(default_factory=list)
    dingtalk_at_user_ids: list[str] = Field(default_factory=list)
    dingtalk_at_all: bool = False
    wecom_url: SecretStr | None = None
    feishu_url: SecretStr | None = None
    feishu_secret: SecretStr | None = None
    webhook_url: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    fallback: str | None = None  # the receiver told when assistwatch itself is unhealthy
    console: bool = False
    config: Path | None = None
    lang: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    include_cancelled: bool = False
    show_output: bool = True
    # Signed links in messages (lib.core.links): on only when both are set.
    public_url: str | None = None
    actions_secret: SecretStr | None = None

    @field_validator(
        "regions",
        "sources",
        "accounts",
        "dingtalk_at_mobiles",
        "dingtalk_at_user_ids",
        mode="before",
    )
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        if value == ["*"]:  # every region ECS offers the account (lib.app.discovery)
            return value
        bad = [region for region in value if not _REGION.fullmatch(region)]
        if bad:
            raise ValueError(f"not a region id: {', '.join(bad)} (expected e.g. cn-hangzhou)")
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        if value and value != ["*"]:  # "*": every member of the Resource Directory
            from lib.support.arn import account_of

            try:
                for arn in value:
                    account_of(arn)
            except ConfigError:
                raise ValueError(
                    "expected RAM role ARNs such as acs:ram::1234567890123456:role/assistwatch"
                ) from None
        return value

    @field_validator("member_role")
    @classmethod
    def _member_role(cls, value: str) -> str:
        if not _ROLE_NAME.fullmatch(value):
            raise ValueError("a RAM role name: 1-64 letters, digits, '.', '-' or '_'")
        return value

    @field_validator("lookback", mode="before")
    @classmethod
    def _lookback(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("missed_run_grace", mode="before")
    @classmethod
    def _missed_run_grace(cls, value: object) -> timedelta | None:
        if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
            return None
        return parse_duration(value)

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _repeat_interval(cls, value: object) -> timedelta | None:
        return parse_repeat_interval(value)

    @field_validator(
        "ecs_endpoint",
        "eflo_endpoint",
        "oss_endpoint",
        "ots_endpoint",
        "sts_endpoint",
        "resourcemanager_endpoint",
        "fc_endpoint",
    )
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else require_secure_url(value, what="endpoint")

    @field_validator("dingtalk_url", "webhook_url", "wecom_url", "feishu_url")
    @classmethod
    def _receiver_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            require_secure_url(value.get_secret_value(), what="receiver URL")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = require_secure_url(value.strip(), what="public URL")
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc:
            # Links are served at /act on the trigger's domain (the route `/*`): a path, a
            # query or a user would make every link miss it.
            raise ValueError(
                "must be the base URL alone, e.g. https://alerts.example.com (no path, "
                f"query or user; links are served at /act on it), got {parts.scheme}://"
                f"{parts.hostname}…"
            )
        return url.rstrip("/")

    @field_validator("actions_secret")
    @classmethod
    def _actions_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        how = "e.g. openssl rand -base64 32"
        if len(secret.encode("utf-8")) < _MIN_ACTIONS_SECRET_BYTES:
            raise ValueError(
                f"must be at least {_MIN_ACTIONS_SECRET_BYTES} bytes of random text ({how})"
            )
        if len(set(secret)) < _MIN_ACTIONS_SECRET_DISTINCT:
            # 32 × "x", "changeme" repeated: long enough, guessable; never echoed.
            raise ValueError(
                f"looks like a placeholder, not random (fewer than "
                f"{_MIN_ACTIONS_SECRET_DISTINCT} different characters; {how})"
            )
        return value

    @property
    def actions_on(self) -> bool:
        """Whether messages carry signed action links: both settings present. With one alone
        actions are off and nothing else changes (`assistwatch check` warns)."""
        return self.public_url is not None and self.actions_secret is not None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.dingtalk_secret is not None and self.dingtalk_url is None:
            raise ValueError("ASSISTWATCH_DINGTALK_SECRET is set without ASSISTWATCH_DINGTALK_URL")
        if self.feishu_secret is not None and self.feishu_url is None:
            raise ValueError("ASSISTWATCH_FEISHU_SECRET is set without ASSISTWATCH_FEISHU_URL")
        if self.webhook_secret is not None and self.webhook_url is None:
            raise ValueError("ASSISTWATCH_WEBHOOK_SECRET is set without ASSISTWATCH_WEBHOOK_URL")
        if (
            self.webhook_secret is not None
            and not self.webhook_secret.get_secret_value().startswith("whsec_")
        ):
            raise ValueError(
                "ASSISTWATCH_WEBHOOK_SECRET must be a Standard Webhooks secret (whsec_…)"
            )
        return self


def _describe(error: ValidationError) -> str:
    """One line per problem, each naming its variable, no input values (they may be secrets)."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item.get("loc", ()) if not isinstance(part, int)]
        name = f"ASSISTWATCH_{loc[0].upper()}" if loc else "configuration"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigError naming each bad variable.

    ``environ`` defaults to the process environment; tests pass their own mapping.
    """
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {
        key[len("ASSISTWATCH_") :].lower(): value
        for key, value in source.items()
        # An empty value is unset: s.yaml cannot leave out a variable, only give it ''.
        if key.upper().startswith("ASSISTWATCH_") and value.strip() != ""
    }
    values.update(overrides)
    # A value that is not valid UTF-8 reaches os.environ with lone surrogates in it; kept, it
    # would fail far later (signing, a message) after the claims: refuse it here.
    from lib.support.text import lone_surrogate_at

    unreadable = [
        f"ASSISTWATCH_{name.upper()}" for name in values if lone_surrogate_at(values[name])
    ]
    if unreadable:
        raise ConfigError(
            f"bad configuration: {', '.join(sorted(unreadable))}: not valid UTF-8 text"
        )
    try:
        return Settings(**values)
    except ValidationError as error:
        raise ConfigError(f"bad configuration: {_describe(error)}") from None
