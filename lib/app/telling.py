"""From findings to this pass's alerts: expected exits dropped, the report counted, news decided."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.tagging import tag_lookup
from lib.core.alerts import Decision, decide, is_agent_fault

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.findings import Finding

__all__ = ["count", "tell_now", "unexpected"]


def unexpected(app: Context, findings: list[Finding], state: Pass) -> list[Finding]:
    """Drop exits the routing file says are expected (e.g. grep's 1): not failures."""
    if not app.expected:
        return findings
    from lib.core.routing import drop_expected, needs_tags

    tags = tag_lookup(app, state, findings) if needs_tags(expected=app.expected) else None
    kept, expected = drop_expected(findings, app.expected, tags=tags)
    if expected:
        state.report.expected += len(expected)
    return kept


def count(decision: Decision, state: Pass) -> None:
    """Count a decision's failures in the report: told, baseline and already known."""
    state.report.findings += len(decision.tell) + len(decision.baseline) + len(decision.known)
    state.report.baseline += len(decision.baseline)
    state.report.known += len(decision.known)


def tell_now(app: Context, findings: list[Finding], state: Pass) -> list[Finding]:
    """Decide on findings that are news by construction (events, watches).

    Returns the agent faults among them, for the region's agent alerts.
    """
    decision = decide(
        unexpected(app, findings, state),
        now=state.started,
        baseline_until=None,
        told_through=None,
    )
    count(decision, state)
    told = [a for a in decision.tell if not is_agent_fault(a.finding)]
    state.report.alerts += len(told)
    state.alerts.extend(told)
    return [a.finding for a in decision.tell if is_agent_fault(a.finding)]
