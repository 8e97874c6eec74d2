"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report.

``build_app`` assembles it once per cold start (settings, HTTP client, store, receivers) and
the handler caches it; credentials are never part of the cached app — each run gets them
with its :class:`Invocation`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lib.alerts import (
    Alert,
    decide,
    is_agent_fault,
)
from lib.app.agents import agent_alerts
from lib.app.events import targets
from lib.app.output import attach_output
from lib.app.reminding import remind_periodic
from lib.app.run import Pass, RunReport, describe, merge_tally
from lib.app.scopes import SELF_ACCOUNT, Scope, accounts_for, regions_for, scope_for
from lib.app.state import claim, due_for_refresh, load, move_states
from lib.app.tagging import tag_lookup
from lib.app.telling import count, unexpected
from lib.app.watching import check_watches, watch
from lib.errors import AssistwatchError, ConfigError
from lib.findings import Finding
from lib.log import get_logger
from lib.outbox import Outbox
from lib.settings import Settings, Source
from lib.state.base import Record
from lib.triggers import Poll, Targets, Trigger, Watch

if TYPE_CHECKING:
    import httpx

    from lib.aliyun.credentials import Credentials, CurrentCredentials
    from lib.aliyun.ratelimit import RateLimiter
    from lib.aliyun.sts import AssumedRoles
    from lib.app.run import Invocation
    from lib.health import HealthReporter
    from lib.notify.base import Receiver
    from lib.routing import ExpectedExit, RoutingTable
    from lib.state.base import StateStore

__all__ = ["App"]


class App:
    """One assembled watcher. ``run`` is safe to call again and again (warm FC instances)."""

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
        self.limiter = limiter
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep
        self.log = get_logger()
        self.reminding = settings.repeat_interval is not None or (
            table is not None
            and (
                table.repeat_interval is not None
                or any(r.repeat_interval is not None for r in table.routes)
            )
        )

    # -- the run ---------------------------------------------------------------------------

    def run(self, trigger: Trigger, invocation: Invocation) -> RunReport:
        """Run one pass; raise only retryable errors (after the report is logged)."""
        monotonic = time.monotonic()
        state = Pass(
            report=RunReport(trigger=describe(trigger), request_id=invocation.request_id),
            started=self.clock(),
        )
        raised: AssistwatchError | None = None
        if self.current_credentials is not None:
            self.current_credentials.set(invocation.credentials)
        failures: list[BaseException] = []
        try:
            self._run(trigger, invocation, state)
        except AssistwatchError as error:
            state.report.errors.append(str(error))
            failures.append(error)
            raised = error if error.retryable else None
        if self.health is not None:
            self.health.observe([*failures, *state.tally.failures])
        report = state.report
        report.api_calls = sum(client.calls for client in state.clients)
        report.throttled = sum(client.throttled for client in state.clients)
        if report.throttled:
            report.notes.append(
                f"{report.throttled} API call(s) were throttled and retried: the account's "
                "Cloud Assistant quota is under pressure (lower ASSISTWATCH_API_QPS, shard the "
                "poll, or ask for a higher quota)"
            )
        report.ok = not report.errors
        report.duration_ms = int((time.monotonic() - monotonic) * 1000)
        summary = report.model_dump(exclude={"request_id"})
        if report.ok:
            self.log.info("run finished", **summary)
        else:
            self.log.error("run finished with errors", **summary)
        if raised is not None:
            raise raised
        return report

    def _run(self, trigger: Trigger, invocation: Invocation, state: Pass) -> None:
        state.outbox = Outbox(
            self.store,
            self.receivers,
            owner=invocation.request_id or uuid.uuid4().hex,
            lease_seconds=invocation.timeout_seconds + 60.0,
            clock=lambda: self.clock().timestamp(),
            log=self.log,
            table=self.table,
            tags=lambda alerts: tag_lookup(self, state, [alert.finding for alert in alerts]),
        )
        # Leave a fifth of the timeout (at least 20 s) to claim, send and write state.
        budget = invocation.timeout_seconds - max(20.0, invocation.timeout_seconds / 5)
        state.deadline = time.monotonic() + max(budget, 1.0)
        credentials = invocation.credentials
        if credentials is not None:  # redeliveries may need the account's instance tags
            state.credentials[SELF_ACCOUNT] = credentials
        try:
            state.outbox.flush_pending(state.tally)
            if credentials is None:
                raise ConfigError(
                    "this invocation carries no credentials (FC passes them with each invocation); locally set "
                    "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                )
            if isinstance(trigger, Targets):
                targets(self, trigger, invocation, credentials, state)
            elif isinstance(trigger, Watch):
                watch(self, trigger, credentials, state)
            else:
                self._poll(trigger, invocation, credentials, state)
            attach_output(self, state)
            claim(self, state)
            move_states(self, state)
            state.outbox.deliver(state.won, state.tally)
            pruned = self.store.prune(self.clock().timestamp())
            if pruned:
                state.report.notes.append(f"pruned {pruned} expired state entries")
        finally:
            merge_tally(state.report, state.tally)
            if state.tags is not None:
                state.report.notes.extend(state.tags.notes)

    # -- finding failures ------------------------------------------------------------------

    def _poll(
        self, trigger: Poll, invocation: Invocation, credentials: Credentials, state: Pass
    ) -> None:
        regions = regions_for(self, trigger.regions, invocation)
        state.report.regions = regions
        sources = list(trigger.sources) or list(self.settings.sources)
        for source in sources:
            if source.startswith("eflo."):
                state.report.notes.append(
                    f"{source}: Lingjun nodes have no API that lists invocations; "
                    "they are watched by invoke id (watch requests), not by this poll"
                )
        for account in accounts_for(self, credentials, state):
            for region in regions:
                scope = scope_for(self, account, region, state)
                agent_faults: list[Finding] = []
                for source in sources:
                    if source.startswith("ecs."):
                        agent_faults += self._poll_source(scope, source, trigger, state)
                agent_faults += check_watches(self, scope, state)
                agent_alerts(self, scope, agent_faults, state)

    def _poll_source(
        self, scope: Scope, source: Source, trigger: Poll, state: Pass
    ) -> list[Finding]:
        """Poll one source of one region; return its agent faults (folded per region)."""
        from lib.poll import OVERLAP, PollState, SourcePoll, merge_poll_states
        from lib.state.records import rebase

        assistant = scope.assistant
        name = _poll_name(scope.account, scope.region, source, trigger.resource_group_id)
        now = state.started
        record = self._poll_record(name, now)
        old = load(PollState, record, name, state)
        first_run = old.seen_through is None and old.told_through is None
        agent_faults: list[Finding] = []
        windows: dict[str, datetime | None] = {}

        told: dict[str, datetime] = {}

        def tell(found: list[Finding], periodic: list[Alert]) -> None:
            decision = decide(unexpected(self, found, state), now=now, recent=old.recent, **windows)
            count(decision, state)
            told.update((a.fingerprint, a.starts_at) for a in decision.tell)
            agent_faults.extend(a.finding for a in decision.tell if is_agent_fault(a.finding))
            alerts = [a for a in decision.tell if not is_agent_fault(a.finding)] + periodic
            state.report.alerts += len(alerts)
            state.alerts.extend(alerts)

        def checkpoint(found: list[Finding]) -> None:  # a long pass: claim what it has so far
            tell(found, [])
            claim(self, state)

        poller = SourcePoll(
            assistant,
            account=scope.account,
            source=source,
            resource_group_id=trigger.resource_group_id,
            include_cancelled=self.settings.include_cancelled,
            log=self.log,
            deadline_reached=state.deadline_reached,
            checkpoint=checkpoint,
        )
        windows.update(baseline_until=now - self.settings.lookback, told_through=old.told_through)
        if old.baseline_until is not None:
            windows["baseline_until"] = old.baseline_until
        if trigger.lookback is not None:  # asked by hand: look again this far back
            windows.update(baseline_until=now - trigger.lookback, told_through=None)
        before, baseline_before = len(state.alerts), state.report.baseline
        result, new = poller.run(old, now=now, lookback=self.settings.lookback)
        result.alerts += remind_periodic(self, new.periodic, state)
        state.report.records += result.records
        state.report.notes.extend(result.notes)
        tell(result.findings, result.alerts)
        baseline = state.report.baseline - baseline_before
        if first_run and baseline:
            state.report.notes.append(
                f"first run for {assistant.region} {source}: {baseline} failure(s) "
                f"older than {self.settings.lookback} recorded as the baseline, not sent"
            )
        if result.complete and (first_run or len(state.alerts) > before or agent_faults):
            new.told_through = now - OVERLAP
            new.recent = {
                fp: when for fp, when in {**old.recent, **told}.items() if when >= new.told_through
            }
        if first_run or new != old or due_for_refresh(old.written_at, now):
            new.written_at = now

            def merged(current: dict[str, Any]) -> dict[str, Any]:
                theirs = load(PollState, Record(value=current), name, state)
                return merge_poll_states(old, new, theirs).model_dump(mode="json")

            wanted = new.model_dump(mode="json")
            state.updates.append((name, rebase(record.value, wanted, merged)))
        return agent_faults

    def _poll_record(self, name: str, now: datetime) -> Record:
        """A filter's poll state; on its first run, the window is written before the pass.

        If that run fails, its retry keeps the same baseline instead of letting failures age
        into it.
        """
        from lib.poll import PollState

        record = self.store.read(name)
        if record.version is None:
            start = PollState(baseline_until=now - self.settings.lookback)
            self.store.write(name, start.model_dump(mode="json"), None)
            record = self.store.read(name)
        return record

    # -- state -----------------------------------------------------------------------------


def _poll_name(account: str, region: str, source: str, group: str | None) -> str:
    """The poll state's record: keyed by the whole filter (DESIGN "State protocol")."""
    return f"poll/{account}/{region}/{source}/{group or '*'}"
