"""What every step of a pass is given: the assembled watcher's parts (settings, HTTP client,
state store, receivers, rate limiter, clock, routing table, health reporter).

Steps (polling, events, watching, telling, …) take a :class:`Context`; the :class:`~lib.app.core.App`
that runs a pass is a Context that also knows the order of the steps. So a step never needs
to import the pass that calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from lib.cloud.aliyun.budgets import ApiBudgets
from lib.core.reminders import shortest_interval
from lib.support.log import get_logger

if TYPE_CHECKING:
    import httpx

    from lib.app.health import HealthReporter
    from lib.cloud.aliyun.ratelimit import RateLimiter
    from lib.cloud.aliyun.sts import AssumedRoles
    from lib.core.routing import ExpectedExit, RoutingTable
    from lib.notify.base import Receiver
    from lib.state.base import StateStore
    from lib.support.credentials import CurrentCredentials
    from lib.support.settings import Settings

__all__ = ["Context"]


class Context:
    """The assembled watcher's parts, shared by every step of every pass."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.Client,
        store: StateStore,
        receivers: Mapping[str, Receiver],
        limiter: RateLimiter,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        current_credentials: CurrentCredentials | None = None,
        table: RoutingTable | None = None,
        expected: tuple[ExpectedExit, ...] = (),
        health: HealthReporter | None = None,
    ) -> None:
        self.settings = settings
        self.current_credentials = current_credentials
        self.table = table
        self.expected = expected
        self.health = health
        self.roles: AssumedRoles | None = None  # STS, built when ASSISTWATCH_ACCOUNTS is set
        self.http = http
        self.store = store
        self.receivers = dict(receivers)
        self.limiter = limiter  # STS and anything not tied to one account and region
        self.budgets = ApiBudgets(settings.api_qps)  # per account, region and product
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep
        self.log = get_logger()
        # The shortest repeat interval configured anywhere (None: nothing ever reminds).
        self.shortest_reminder = shortest_interval(settings.repeat_interval, table)
