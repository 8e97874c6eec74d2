"""Receivers from the environment: a DingTalk robot, a webhook, the console.

Only the receivers that are configured are imported (cold start). Without any, the console
receiver is used so a local run still shows what it would send, and a note says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.settings import Settings

if TYPE_CHECKING:
    import httpx

    from lib.notify.base import Receiver

__all__ = ["build_receivers"]


def build_receivers(settings: Settings, *, http: httpx.Client) -> dict[str, Receiver]:
    """Name → receiver for every receiver the settings configure."""
    from lib.notify.render import RenderOptions

    options = RenderOptions(
        lang=settings.lang, timezone=settings.timezone, show_output=settings.show_output
    )
    receivers: dict[str, Receiver] = {}
    if settings.dingtalk_url is not None:
        from lib.notify.dingtalk import DingTalkReceiver

        receivers["dingtalk"] = DingTalkReceiver(
            "dingtalk",
            settings.dingtalk_url,
            settings.dingtalk_secret,
            http=http,
            options=options,
            keyword=settings.dingtalk_keyword,
        )
    if settings.webhook_url is not None:
        from lib.notify.webhook import WebhookReceiver

        receivers["webhook"] = WebhookReceiver(
            "webhook",
            settings.webhook_url.get_secret_value(),
            settings.webhook_secret,
            http=http,
            options=options,
        )
    if settings.console or not receivers:
        from lib.notify.console import ConsoleReceiver

        receivers["console"] = ConsoleReceiver("console", options=options)
    return receivers
