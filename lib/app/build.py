"""Assembly: ``build_app`` builds the watcher once per cold start, every seam injectable."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from lib.app.core import App
from lib.support.log import get_logger

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from lib.notify.base import Receiver
    from lib.state.base import StateStore
    from lib.support.settings import Settings

__all__ = ["build_app"]


def build_app(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    store: StateStore | None = None,
    clock: Callable[[], datetime] | None = None,
    receivers: Mapping[str, Receiver] | None = None,
    sleep: Callable[[float], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> App:
    """Assemble the watcher once; every seam can be injected (tests, demo, benchmarks)."""
    import httpx

    from lib.app.receivers import build_delivery
    from lib.cloud.aliyun.ratelimit import RateLimiter
    from lib.state import open_store
    from lib.support.credentials import CurrentCredentials

    env = os.environ if environ is None else environ
    http = httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
    current = CurrentCredentials()
    chosen_store = store or open_store(
        settings.state_url,
        environ=env,
        namespace=settings.namespace or env.get("FC_FUNCTION_NAME") or "default",
        credentials=current,
        endpoint=settings.ots_endpoint or settings.oss_endpoint,
        region=env.get("FC_REGION") or next((r for r in settings.regions if r != "*"), None),
    )
    delivery = build_delivery(settings, http=http, environ=env, sleep=sleep)
    chosen_receivers = receivers if receivers is not None else delivery.receivers
    health = None
    if delivery.fallback is not None and delivery.fallback in chosen_receivers:
        from lib.app.health import HealthReporter

        health = HealthReporter(
            chosen_receivers[delivery.fallback],
            store=chosen_store,
            clock=(lambda: clock().timestamp()) if clock else None,
            log=get_logger(),
        )
    return App(
        settings,
        http=http,
        store=chosen_store,
        receivers=chosen_receivers,
        limiter=RateLimiter(settings.api_qps),
        clock=clock,
        sleep=sleep,
        current_credentials=current,
        table=delivery.table,
        expected=delivery.expected,
        health=health,
    )
