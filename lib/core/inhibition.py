"""Inhibition, as Alertmanager's ``inhibit_rules``: an open source alert holds back targets.

Pure. A firing alert matching a rule's target is **held** while an open alert matching the
rule's source (not itself) has the same value in every ``equal`` field. Held alerts are not
lost: the app keeps them, and :func:`release` gives them back once their source is no longer
open — they are told then, since they outlived it. A held alert that resolves while held is
dropped with its firing (nobody was told it started).

The default rule (when the routing file has no ``inhibit_rules``): an open agent-down alert on
an instance holds the command failures the agent caused on that instance — those classified
as the agent's (category ``agent``, e.g. an Aborted delivery) or a ``DeliveryTimeout``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lib.core.alerts import Alert
from lib.core.routing import InhibitRule, Matcher, TagLookup, field_value

__all__ = ["DEFAULT_INHIBIT_RULES", "Held", "inhibit", "release"]

_SAME_INSTANCE = ("account", "region", "instance_id")
DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (
    InhibitRule(
        source_subjects=frozenset({"agent"}),
        target=Matcher(kinds=frozenset({"command"}), categories=frozenset({"agent"})),
        target_subjects=frozenset({"execution", "missed"}),
        equal=_SAME_INSTANCE,
    ),
    InhibitRule(
        source_subjects=frozenset({"agent"}),
        target=Matcher(kinds=frozenset({"command"}), error_codes=frozenset({"DeliveryTimeout"})),
        target_subjects=frozenset({"execution"}),
        equal=_SAME_INSTANCE,
    ),
    # A missed run on an instance whose agent is down: the agent is why it did not run.
    InhibitRule(
        source_subjects=frozenset({"agent"}),
        target_subjects=frozenset({"missed"}),
        equal=_SAME_INSTANCE,
    ),
)


@dataclass(frozen=True)
class Held:
    """An alert held back by an open source alert (its fingerprint)."""

    alert: Alert
    source: str


def _side(matcher: Matcher, subjects: frozenset[str], alert: Alert, tags: TagLookup | None) -> bool:
    return (not subjects or alert.subject in subjects) and matcher.matches(alert.finding, tags)


def _inhibits(rule: InhibitRule, source: Alert, target: Alert, tags: TagLookup | None) -> bool:
    if source.fingerprint == target.fingerprint:
        return False
    if not _side(rule.target, rule.target_subjects, target, tags):
        return False
    if not _side(rule.source, rule.source_subjects, source, tags):
        return False
    return all(
        field_value(source.finding, name) == field_value(target.finding, name)
        for name in rule.equal
    )


def inhibit(
    alerts: Sequence[Alert],
    sources: Iterable[Alert],
    rules: Sequence[InhibitRule],
    *,
    tags: TagLookup | None = None,
) -> tuple[list[Alert], list[Held]]:
    """Split ``alerts`` into (to tell now, held by an open source).

    ``sources`` are the open alerts that may inhibit (firing ones; ``alerts`` themselves are
    added). Only new firings are held: resolves and reminders of what was told pass.
    """
    if not rules:
        return list(alerts), []
    open_sources = [a for a in (*sources, *alerts) if a.status == "firing"]
    told: list[Alert] = []
    held: list[Held] = []
    for alert in alerts:
        source = None
        if alert.status == "firing" and not alert.reminder:
            source = next(
                (
                    candidate
                    for candidate in open_sources
                    for rule in rules
                    if _inhibits(rule, candidate, alert, tags)
                ),
                None,
            )
        if source is None:
            told.append(alert)
        else:
            held.append(Held(alert, source.fingerprint))
    return told, held


def release(
    held: Sequence[Held], still_open: set[str], resolved: Iterable[Alert]
) -> tuple[list[Alert], list[Held]]:
    """(alerts to tell now, still held): a hold ends when its source is no longer open.

    ``still_open``: fingerprints of source alerts known open this run. ``resolved``: resolves
    decided this run; one for a held firing drops both (it never started for anyone).
    """
    gone = {(a.fingerprint, a.firing) for a in resolved if a.status == "resolved"}
    out: list[Alert] = []
    kept: list[Held] = []
    for entry in held:
        if (entry.alert.fingerprint, entry.alert.firing) in gone:
            continue
        if entry.source in still_open:
            kept.append(entry)
        else:
            out.append(entry.alert)
    return out, kept
