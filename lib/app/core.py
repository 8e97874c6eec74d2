"""The assembled watcher and its run: one pass from trigger to report, each step in its module.

``build_app`` (lib.app.build) assembles it once per cold start (settings, HTTP client, store,
receivers) and the handler caches it; credentials are never part of the cached app — each
run gets them with its :class:`Invocation`.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from lib.app.context import Context
from lib.app.events import targets
from lib.app.muting import hold_waiting
from lib.app.outbox import Outbox
from lib.app.output import attach_output
from lib.app.polling import poll
from lib.app.reminding import acknowledged_reminders
from lib.app.run import Pass, RunReport, describe, merge_tally
from lib.app.scopes import SELF_ACCOUNT
from lib.app.state import claim, move_states, silenced
from lib.app.tagging import tag_lookup
from lib.app.watching import watch
from lib.core.triggers import Targets, Trigger, Watch
from lib.state.tidy import tidy
from lib.support.errors import AssistwatchError, ConfigError

if TYPE_CHECKING:
    from lib.app.run import Invocation

__all__ = ["App"]


class App(Context):
    """One assembled watcher. ``run`` is safe to call again and again (warm FC instances)."""

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
            self.health.observe([*failures, *state.failures, *state.tally.failures])
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
        if self.settings.actions_on:  # the operator page's last runs and alert stories
            self._keep(state)
        summary = report.model_dump(exclude={"request_id"})
        if report.ok:
            self.log.info("run finished", **summary)
        else:
            self.log.error("run finished with errors", **summary)
        if raised is not None:
            raise raised
        return report

    def _keep(self, state: Pass) -> None:
        from lib.app.journal import keep_run

        try:
            keep_run(self, state)
        except AssistwatchError as error:  # the page is a view: never fail the pass for it
            state.report.notes.append(f"the operator page's journal was not updated: {error}")

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
            muted=lambda alerts: silenced(self, alerts, state),
            acked=lambda alerts: acknowledged_reminders(self, alerts, state),
            windows=(
                (lambda waiting: hold_waiting(self, state, waiting))
                if self.table is not None and self.table.has_windows
                else None
            ),
        )
        # Leave a fifth of the timeout (at least 20 s) to claim, send and write state.
        budget = invocation.timeout_seconds - max(20.0, invocation.timeout_seconds / 5)
        state.deadline = time.monotonic() + max(budget, 1.0)
        credentials = invocation.credentials
        if credentials is not None:  # redeliveries may need the account's instance tags
            state.credentials[SELF_ACCOUNT] = credentials
        completed = False
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
                poll(self, trigger, invocation, credentials, state)
            attach_output(self, state)
            claim(self, state)
            move_states(self, state)
            state.outbox.deliver(state.won, state.tally)
            # Tidying only: what a failed prune leaves, the next run prunes (lib.state.tidy).
            pruned = tidy("prune", lambda: self.store.prune(self.clock().timestamp()), -1)
            if pruned < 0:
                state.report.notes.append("prune failed (a warning is logged); the next run prunes")
            elif pruned:
                state.report.notes.append(f"pruned {pruned} expired state entries")
            completed = True
        finally:
            for finish in state.finishers:  # fan-out leases and pass timings
                finish(completed and not state.report.errors)
            merge_tally(state.report, state.tally)
            if state.tags is not None:
                state.report.notes.extend(state.tags.notes)
            if state.instances is not None:
                state.report.notes.extend(state.instances.notes)
