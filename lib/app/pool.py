"""Scopes polled at once: a bounded pool of threads, one forked bookkeeping per scope, joined in order.

Each (account, region) is worked on a fork of the run's :class:`Pass`: its own report, alerts,
claims tally, claimed alerts and state updates; the caches (API clients, scopes, credentials,
eflo clients, instance tags, described instances, open alerts for inhibition) and the outbox
are shared, and each of their entries belongs to one
scope, so no two threads write the same one. Forks are joined in scope order, whatever finished
first, so a concurrent pass decides, claims and writes what a sequential pass would. A scope
whose work raises is reported (and logged with its scope) while the others complete; log lines
written while a scope is worked carry its account and region, in whichever thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from lib.app.instances import instance_lookup
from lib.app.run import Pass, RunReport
from lib.app.spread import spread
from lib.app.tagging import tag_lookup
from lib.support.errors import AssistwatchError
from lib.support.log import bound

if TYPE_CHECKING:
    from lib.app.context import Context

__all__ = ["fork", "join", "run_scopes"]

Work = Callable[[str, str, Pass], None]
"""(account, region, the scope's forked pass): poll that scope."""

# Report fields a fork never counts: the run's own totals, taken from the shared clients.
_RUN_ONLY = frozenset({"api_calls", "throttled", "duration_ms"})


def fork(state: Pass) -> Pass:
    """A scope's own bookkeeping over the run's shared caches and outbox."""
    return Pass(
        report=RunReport(trigger=state.report.trigger),
        started=state.started,
        deadline=state.deadline,
        clients=state.clients,
        scopes=state.scopes,
        credentials=state.credentials,
        eflo=state.eflo,
        outbox=state.outbox,
        tags=state.tags,
        # Instance context and inhibition (issue #15): keyed by scope or fingerprint, so each
        # entry is one scope's, shared like the caches above.
        instances=state.instances,
        open_alerts=state.open_alerts,
        checked_scopes=state.checked_scopes,
        released_scopes=state.released_scopes,
    )


def join(state: Pass, child: Pass) -> None:
    """Add a fork's counts, notes, errors, alerts, claims and state updates to the run's."""
    for name in RunReport.model_fields:
        value = getattr(child.report, name)
        if name in _RUN_ONLY or isinstance(value, bool):
            continue
        if isinstance(value, int):
            setattr(state.report, name, getattr(state.report, name) + value)
        elif isinstance(value, list):
            getattr(state.report, name).extend(value)
    for item in dataclasses.fields(child.tally):
        value = getattr(child.tally, item.name)
        if isinstance(value, int):
            setattr(state.tally, item.name, getattr(state.tally, item.name) + value)
        elif isinstance(value, list):
            getattr(state.tally, item.name).extend(value)
    state.alerts.extend(child.alerts)
    state.updates.extend(child.updates)
    for receiver, won in child.won.items():
        state.won.setdefault(receiver, []).extend(won)


def run_scopes(
    app: Context, keys: list[tuple[str, str]], work: Work, state: Pass
) -> list[tuple[str, str, AssistwatchError]]:
    """Work every (account, region) of ``keys``, at most ``ASSISTWATCH_CONCURRENCY`` at once.

    Returns the scopes that failed with their error, in scope order; the run's report holds
    what every scope found, the failed ones' up to their failure.
    """
    tag_lookup(app, state, [])  # the run's instance tags, built once and shared by the scopes
    instance_lookup(app, state, [])  # likewise the run's DescribeInstances answers
    children = [fork(state) for _ in keys]

    def one(index: int) -> AssistwatchError | None:
        account, region = keys[index]
        with bound(account=account, region=region):
            try:
                work(account, region, children[index])
            except AssistwatchError as error:
                return error
        return None

    outcomes = spread(one, len(keys), app.settings.concurrency)
    failed: list[tuple[str, str, AssistwatchError]] = []
    for (account, region), child, error in zip(keys, children, outcomes, strict=True):
        join(state, child)
        if error is not None:
            failed.append((account, region, error))
    return failed
