"""Receivers from the environment and the routing file: DingTalk, WeCom, Feishu, webhook, console.

Only the receivers that are configured are imported (cold start); PyYAML only when
``ASSISTWATCH_CONFIG`` is set. Without any receiver, the console receiver is used so a local
run still shows what it would send.

Simple set-ups need only env vars (``ASSISTWATCH_DINGTALK_URL`` …, named ``dingtalk``,
``wecom``, ``feishu``, ``webhook``); the routing file adds more receivers, routes and
expected exit codes, and may route to the env-defined names too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lib.app.config import ReceiverSpec, load_config
from lib.support.errors import ConfigError
from lib.support.settings import Settings

if TYPE_CHECKING:
    import httpx

    from lib.core.links import ActionLinks
    from lib.core.routing import ExpectedExit, RoutingTable
    from lib.notify.base import Receiver
    from lib.notify.render import RenderOptions

__all__ = ["Delivery", "build_delivery", "build_receivers"]


@dataclass
class Delivery:
    """Everything about telling people, built once per cold start."""

    receivers: dict[str, Receiver]
    table: RoutingTable | None = None  # None: every receiver hears everything
    expected: tuple[ExpectedExit, ...] = ()
    fallback: str | None = None  # receiver for "assistwatch unhealthy"
    notes: list[str] = field(default_factory=list)


def _action_links(settings: Settings) -> ActionLinks | None:
    """Signed links in firing messages when ASSISTWATCH_PUBLIC_URL and _ACTIONS_SECRET are set."""
    if settings.public_url is None or settings.actions_secret is None:
        return None
    from lib.core.links import ActionLinks, Signer

    secret = settings.actions_secret.get_secret_value().encode()
    return ActionLinks(Signer(settings.public_url, secret))


def build_delivery(
    settings: Settings,
    *,
    http: httpx.Client,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Delivery:
    """Receivers, routing table, expected exit codes and fallback from env and file.

    Raises:
        ConfigError: a bad variable or routing file, naming the variable or FILE:LINE.
    """
    from lib.notify.render import RenderOptions

    env = os.environ if environ is None else environ
    options = RenderOptions(
        lang=settings.lang,
        timezone=settings.timezone,
        show_output=settings.show_output,
        actions=_action_links(settings),
    )
    receivers = {spec.name: _from_spec(spec, options, http, sleep) for spec in _env_specs(settings)}
    delivery = Delivery(receivers=receivers)
    if settings.config is not None:
        config = load_config(settings.config, environ=env, known=(*receivers, "console"))
        for spec in config.receivers:
            receivers[spec.name] = _from_spec(spec, options, http, sleep)
        table = config.table
        delivery.table = (
            table
            if table.routes
            or table.default_receivers
            or table.repeat_interval is not None
            or table.inhibit_rules is not None
            else None
        )
        delivery.expected = config.expected
        delivery.fallback = config.fallback
    if settings.console or not receivers:
        from lib.notify.console import ConsoleReceiver

        receivers["console"] = ConsoleReceiver("console", options=options)
    fallback = settings.fallback or delivery.fallback
    if fallback is not None and fallback not in receivers:
        raise ConfigError(f"ASSISTWATCH_FALLBACK: no receiver named {fallback!r}")
    delivery.fallback = fallback
    return delivery


def _env_specs(settings: Settings) -> list[ReceiverSpec]:
    """The receivers the ``ASSISTWATCH_*`` variables define (named dingtalk, wecom, …)."""
    from lib.core.overrides import Mentions

    specs = []
    if settings.dingtalk_url is not None:
        mentions = Mentions(
            mobiles=tuple(settings.dingtalk_at_mobiles),
            user_ids=tuple(settings.dingtalk_at_user_ids),
            all=settings.dingtalk_at_all,
        )
        specs.append(
            ReceiverSpec(
                "dingtalk",
                "dingtalk",
                settings.dingtalk_url,
                settings.dingtalk_secret,
                keyword=settings.dingtalk_keyword,
                mentions=mentions,
            )
        )
    if settings.wecom_url is not None:
        specs.append(ReceiverSpec("wecom", "wecom", settings.wecom_url))
    if settings.feishu_url is not None:
        specs.append(ReceiverSpec("feishu", "feishu", settings.feishu_url, settings.feishu_secret))
    if settings.webhook_url is not None:
        specs.append(
            ReceiverSpec("webhook", "webhook", settings.webhook_url, settings.webhook_secret)
        )
    return specs


def _from_spec(
    spec: ReceiverSpec,
    options: RenderOptions,
    http: httpx.Client,
    sleep: Callable[[float], None] | None,
) -> Receiver:
    """A receiver from the routing file, with its own language, zone and output switch."""
    from lib.support.log import register_secret

    # A robot's URL carries its token: neither it nor the signing secret may reach a log line.
    register_secret(
        *(value.get_secret_value() for value in (spec.url, spec.secret) if value is not None),
        lasting=True,
    )
    updates = {
        key: value
        for key, value in (
            ("lang", spec.lang),
            ("timezone", spec.timezone),
            ("show_output", spec.show_output),
        )
        if value is not None
    }
    from lib.core.overrides import Mentions
    from lib.notify.render import RenderOptions

    try:
        own = RenderOptions(
            **{**options.model_dump(), **updates},
            actions=options.actions,
            template=spec.template,
        )
    except ValueError as error:
        raise ConfigError(f"receiver {spec.name}: {error}") from None
    mentions = spec.mentions or Mentions()
    if spec.type == "console":
        from lib.notify.console import ConsoleReceiver

        return ConsoleReceiver(spec.name, options=own)
    assert spec.url is not None  # validated by lib.app.config
    if spec.type == "dingtalk":
        from lib.notify.dingtalk import DingTalkReceiver

        return DingTalkReceiver(
            spec.name,
            spec.url,
            spec.secret,
            http=http,
            options=own,
            keyword=spec.keyword,
            at_mobiles=mentions.mobiles,
            at_user_ids=mentions.user_ids,
            at_all=mentions.all,
            sleep=sleep,
        )
    if spec.type == "wecom":
        from lib.notify.wecom import WeComReceiver

        return WeComReceiver(
            spec.name,
            spec.url,
            http=http,
            options=own,
            keyword=spec.keyword,
            mentions=mentions,
            sleep=sleep,
        )
    if spec.type == "feishu":
        from lib.notify.feishu import FeishuReceiver

        return FeishuReceiver(
            spec.name,
            spec.url,
            spec.secret,
            http=http,
            options=own,
            keyword=spec.keyword,
            mentions=mentions,
            sleep=sleep,
        )
    from lib.notify.webhook import WebhookReceiver

    return WebhookReceiver(
        spec.name, spec.url.get_secret_value(), spec.secret, http=http, options=own, sleep=sleep
    )


def build_receivers(
    settings: Settings, *, http: httpx.Client, environ: Mapping[str, str] | None = None
) -> dict[str, Receiver]:
    """Name → receiver for every receiver the settings (and routing file) configure."""
    return build_delivery(settings, http=http, environ=environ).receivers
