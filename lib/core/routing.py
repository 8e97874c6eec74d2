"""Which receiver hears about which alert, grouped how, and which failures are expected.

Pure. Without a routing file every receiver gets every alert, grouped by invoke id: a task
failing on 500 instances is one notification, not 500. With one (:mod:`lib.app.config`), routes
are tried in order like Alertmanager's: the first that matches takes the alert, unless it
says ``continue``; an alert no route takes goes to the default receivers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from lib.core.alerts import Alert
from lib.core.findings import Finding
from lib.core.notification import Notification
from lib.core.overrides import Mentions, Overrides

__all__ = [
    "DEFAULT_GROUP_BY",
    "GROUP_FIELDS",
    "ExpectedExit",
    "InhibitRule",
    "Matcher",
    "Route",
    "RoutingTable",
    "TagLookup",
    "digest",
    "digest_overrides",
    "drop_expected",
    "field_value",
    "group",
    "group_key",
    "needs_tags",
    "plan",
    "repeat_intervals",
    "route",
    "routes_by_receiver",
]

if TYPE_CHECKING:
    from lib.core.timeintervals import TimeInterval

TagLookup = Callable[[Finding], Mapping[str, str]]
"""Instance (or node) tags for a finding; the caller fetches them, routing stays pure."""

DEFAULT_GROUP_BY: tuple[str, ...] = ("invoke_id",)
GROUP_FIELDS = frozenset(
    {
        "account",
        "category",
        "error_code",
        "instance_id",
        "invoke_id",
        "kind",
        "name",
        "provider",
        "region",
        "severity",
        "source",
    }
)


def field_value(finding: Finding, name: str) -> str:
    """A finding's value of one ``group_by`` field (also what inhibit rules' ``equal`` compare)."""
    return _field(finding, name)


def _field(finding: Finding, name: str) -> str:
    cls = finding.classification
    values = {
        "account": finding.account,
        "category": cls.category,
        "error_code": cls.code,
        "instance_id": finding.instance_id,
        "invoke_id": finding.invoke_id,
        "kind": finding.kind,
        "name": finding.name or finding.command_id or "",
        "provider": finding.provider,
        "region": finding.region,
        "severity": cls.severity,
        "source": f"{finding.provider}.{finding.kind}",
    }
    return values[name]


@dataclass(frozen=True)
class Matcher:
    """Conditions an alert must all meet; an empty condition matches anything.

    ``names`` are shell globs on the command name (or the file name of a send), e.g.
    ``backup-*``; ``instances`` globs on the instance (or node) id; ``instance_tags`` must
    all be present with these values.
    """

    sources: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    error_codes: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    instance_tags: tuple[tuple[str, str], ...] = ()

    def matches(self, finding: Finding, tags: TagLookup | None = None) -> bool:
        """Whether ``finding`` meets every condition (tags unknown: tag conditions fail)."""
        checks = (
            (self.sources, "source"),
            (self.kinds, "kind"),
            (self.regions, "region"),
            (self.error_codes, "error_code"),
            (self.categories, "category"),
            (self.severities, "severity"),
        )
        if any(wanted and _field(finding, name) not in wanted for wanted, name in checks):
            return False
        if self.names:
            # Several names: the command name, its id, or (for sends) the file name.
            candidates = [n for n in (finding.name, finding.command_id) if n]
            if not any(fnmatch.fnmatchcase(c, g) for c in candidates for g in self.names):
                return False
        if self.instances and not any(
            fnmatch.fnmatchcase(finding.instance_id, glob) for glob in self.instances
        ):
            return False
        if self.instance_tags:
            have = tags(finding) if tags is not None else {}
            if any(have.get(key) != value for key, value in self.instance_tags):
                return False
        return True


@dataclass(frozen=True)
class Route:
    """Where matching alerts go and how they are told."""

    receivers: tuple[str, ...]
    matcher: Matcher = field(default_factory=Matcher)
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    repeat_interval: timedelta | None = None
    send_resolved: bool = True
    overrides: Overrides = field(default_factory=Overrides)
    continue_matching: bool = False
    # Alertmanager's: names of the routing file's time_intervals (lib.core.muting applies them)
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


@dataclass(frozen=True)
class InhibitRule:
    """Alertmanager's ``inhibit_rules`` entry (lib.core.inhibition applies it).

    A firing alert matching ``target`` (and one of ``target_subjects``, if any) is held while
    an open alert matching ``source`` (and ``source_subjects``) has the same value for every
    field in ``equal`` (fields as in ``group_by``).
    """

    source: Matcher = field(default_factory=Matcher)
    target: Matcher = field(default_factory=Matcher)
    equal: tuple[str, ...] = ()
    source_subjects: frozenset[str] = frozenset()
    target_subjects: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoutingTable:
    """Routes in order, and who hears about alerts no route takes (None: every receiver).

    ``repeat_interval`` is the reminder interval of routes that set none (None: no reminders
    unless the route sets one).
    """

    routes: tuple[Route, ...] = ()
    default_receivers: tuple[str, ...] | None = None
    repeat_interval: timedelta | None = None
    inhibit_rules: tuple[InhibitRule, ...] | None = None  # None: the defaults (lib.core.inhibition)
    time_intervals: tuple[tuple[str, tuple[TimeInterval, ...]], ...] = ()  # named, in file order

    @property
    def has_windows(self) -> bool:
        """Whether any route names a time interval (if none, a pass reads no held record)."""
        return any(r.mute_time_intervals or r.active_time_intervals for r in self.routes)

    def routes_for(self, finding: Finding, tags: TagLookup | None = None) -> list[Route]:
        """The routes that take ``finding``: the first match, and more while they continue."""
        taken: list[Route] = []
        for candidate in self.routes:
            if candidate.matcher.matches(finding, tags):
                taken.append(candidate)
                if not candidate.continue_matching:
                    break
        return taken


def _default_route(table: RoutingTable | None, receivers: Sequence[str]) -> Route:
    if table is None or table.default_receivers is None:
        return Route(receivers=tuple(receivers))
    return Route(receivers=table.default_receivers)


def _assign(
    alert: Alert, receivers: Sequence[str], table: RoutingTable | None, tags: TagLookup | None
) -> dict[str, Route]:
    """Receiver → the route that brings ``alert`` to it (the first, when several do)."""
    if alert.receiver is not None:  # a reminder: due for this one receiver only
        receivers = [name for name in receivers if name == alert.receiver]
    taken = table.routes_for(alert.finding, tags) if table is not None else []
    if not taken:
        taken = [_default_route(table, receivers)]
    chosen: dict[str, Route] = {}
    for candidate in taken:
        if alert.status == "resolved" and not candidate.send_resolved:
            continue
        for name in candidate.receivers:
            if name in receivers:
                chosen.setdefault(name, candidate)
    return chosen


def routes_by_receiver(
    alert: Alert, receivers: Sequence[str], table: RoutingTable | None, tags: TagLookup | None
) -> dict[str, Route]:
    """Receiver → the route that brings ``alert`` to it (the first, when several do)."""
    return _assign(alert, receivers, table, tags)


def route(
    alerts: Iterable[Alert],
    receivers: Sequence[str],
    table: RoutingTable | None = None,
    *,
    tags: TagLookup | None = None,
) -> dict[str, list[Alert]]:
    """Map each receiver name to the alerts it should hear about (no table: all of them)."""
    routed: dict[str, list[Alert]] = {name: [] for name in receivers}
    for alert in alerts:
        for name in _assign(alert, receivers, table, tags):
            routed[name].append(alert)
    return routed


def repeat_intervals(
    alert: Alert,
    receivers: Sequence[str],
    table: RoutingTable | None = None,
    *,
    default: timedelta | None = None,
    tags: TagLookup | None = None,
) -> dict[str, timedelta]:
    """Receiver → how often it is reminded of ``alert`` while it stays open.

    The route's own interval, else the routing file's, else ``default``
    (ASSISTWATCH_REPEAT_INTERVAL); receivers with none (or 0) are left out.
    """
    fallback = table.repeat_interval if table is not None else None
    if fallback is None:
        fallback = default
    intervals: dict[str, timedelta] = {}
    for name, chosen in _assign(alert, receivers, table, tags).items():
        every = chosen.repeat_interval if chosen.repeat_interval is not None else fallback
        if every is not None and every > timedelta(0):
            intervals[name] = every
    return intervals


def group_key(alert: Alert, by: Sequence[str]) -> str:
    """The group an alert belongs to: its invoke id by default, ``*`` for one group of all."""
    if tuple(by) == DEFAULT_GROUP_BY:
        return alert.group
    if not by:
        return "*"
    return " · ".join(_field(alert.finding, name) for name in by)


def group(
    receiver: str, alerts: Iterable[Alert], *, by: Sequence[str] = DEFAULT_GROUP_BY
) -> list[Notification]:
    """Fold alerts into notifications by their group key, oldest group first."""
    groups: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda item: (item.starts_at, item.fingerprint)):
        groups.setdefault(group_key(alert, by), []).append(alert)
    return [
        Notification(receiver=receiver, group=key, alerts=tuple(members))
        for key, members in groups.items()
    ]


def plan(
    receiver: str,
    alerts: Iterable[Alert],
    table: RoutingTable | None = None,
    *,
    tags: TagLookup | None = None,
) -> list[tuple[Overrides, Notification]]:
    """The notifications ``receiver`` sends for ``alerts``, each with its route's overrides.

    Used again on redelivery: claims keep the alert, not the route, and routing is pure,
    so an alert from the outbox is grouped and rendered exactly as it would have been.
    """
    by_route: dict[Route, list[Alert]] = {}
    for alert in alerts:
        chosen = _assign(alert, [receiver], table, tags).get(receiver)
        if chosen is None:  # routing changed since the claim: still tell it, plainly
            chosen = Route(receivers=(receiver,))
        by_route.setdefault(chosen, []).append(alert)
    planned: list[tuple[Overrides, Notification]] = []
    for chosen, members in by_route.items():
        planned += [
            (chosen.overrides, note) for note in group(receiver, members, by=chosen.group_by)
        ]
    return planned


def digest(receiver: str, planned: Sequence[tuple[Overrides, Notification]]) -> Notification:
    """All planned notifications as one: used when a robot's budget cannot take them all.

    The renderer lists the worst alerts in full and names every other one ("and K more"),
    so a digest hides nothing.
    """
    alerts = tuple(alert for _, note in planned for alert in note.alerts)
    return Notification(receiver=receiver, group=f"digest: {len(planned)} groups", alerts=alerts)


def digest_overrides(planned: Sequence[tuple[Overrides, Notification]]) -> Overrides:
    """Everyone any merged route mentions; output shown unless a route turned it off; the
    routes' template when they all name the same one (else the receiver's own drawing)."""
    mentions = [o.mentions for o, _ in planned if o.mentions is not None]
    merged = (
        Mentions(
            mobiles=tuple(dict.fromkeys(m for ms in mentions for m in ms.mobiles)),
            user_ids=tuple(dict.fromkeys(u for ms in mentions for u in ms.user_ids)),
            all=any(ms.all for ms in mentions),
        )
        if mentions
        else None
    )
    hide = any(o.show_output is False for o, _ in planned)
    templates = {o.template for o, _ in planned}
    template = templates.pop() if len(templates) == 1 else None
    return Overrides(mentions=merged, show_output=False if hide else None, template=template)


# --- expected failures --------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedExit:
    """Exit codes that are not failures for some commands (grep's 1: "no match")."""

    codes: frozenset[int]
    matcher: Matcher = field(default_factory=Matcher)

    def expects(self, finding: Finding, tags: TagLookup | None = None) -> bool:
        """Whether ``finding`` is one of these expected exits."""
        return (
            finding.kind == "command"
            and finding.exit_code is not None
            and finding.exit_code in self.codes
            # Only a plain non-zero exit: a timeout that happened to exit 1 is still a failure.
            and (finding.error_code or "ExitCodeNonzero") == "ExitCodeNonzero"
            and self.matcher.matches(finding, tags)
        )


def needs_tags(
    table: RoutingTable | None = None,
    matchers: Iterable[Matcher] = (),
    expected: Iterable[ExpectedExit] = (),
) -> bool:
    """Whether any route, other matcher (silences') or expected exit matches on instance tags.

    If none does, a run reads no tags at all (lib.cloud.tags).
    """
    wanted = [route.matcher for route in table.routes] if table is not None else []
    wanted += [*matchers, *(rule.matcher for rule in expected)]
    return any(matcher.instance_tags for matcher in wanted)


def drop_expected(
    findings: Iterable[Finding], rules: Sequence[ExpectedExit], *, tags: TagLookup | None = None
) -> tuple[list[Finding], list[Finding]]:
    """Split findings into (failures, expected exits) by the configured rules."""
    kept: list[Finding] = []
    expected: list[Finding] = []
    for finding in findings:
        hit = any(rule.expects(finding, tags) for rule in rules)
        (expected if hit else kept).append(finding)
    return kept, expected
