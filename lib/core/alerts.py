"""Pure decision: findings + what was already told → alerts to send, each with a reason.

No I/O here. The app hands in findings and reads/writes the store around this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lib.core.claims import ClaimKey
from lib.core.findings import Finding

__all__ = [
    "AgentTrack",
    "Alert",
    "AlertStatus",
    "Decision",
    "Outcome",
    "PeriodicTrack",
    "Reminded",
    "agent_fingerprint",
    "decide",
    "fingerprint",
    "fold_agent_faults",
    "forget_closed_agents",
    "is_agent_fault",
    "resolve_agents",
    "resolve_sleeping_agents",
    "track_periodic",
]

AlertStatus = Literal["firing", "resolved"]


def fingerprint(finding: Finding) -> str:
    """Stable identity of what people are told about (DESIGN "Identity").

    (account, provider, region, kind, invoke id, instance): the same failure seen by a poll
    and by an event, or by two concurrent runs, has the same fingerprint.
    """
    parts = (
        finding.account,
        finding.provider,
        finding.region,
        finding.kind,
        finding.invoke_id,
        finding.instance_id,
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


class Alert(BaseModel):
    """One thing people are told about, in one firing."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    firing: int = 1  # increments each time a resolved periodic alert fires again
    status: AlertStatus = "firing"
    group: str  # grouping key; by default the invoke id
    reason: str  # why this alert is sent now, for the log and the report
    starts_at: datetime
    ends_at: datetime | None = None
    finding: Finding  # the failure told (for an agent alert: its latest evidence)
    subject: Literal["execution", "agent", "missed"] = "execution"
    # A missed run (lib.core.missed): when the next run was due; widened when the task's
    # cron runs on the instance's clock (no time zone given), so the due time is the latest.
    due_at: datetime | None = None
    due_widened: bool = False
    # For an agent alert: the invocations and codes behind it ("t-… ClientNotRunning").
    related: tuple[str, ...] = ()
    # A reminder that the firing is still open (1, 2, …; see lib.core.reminders). Each is due per
    # receiver, on its route's repeat interval, so a reminder is for one receiver only.
    reminder: int = 0
    receiver: str | None = None

    @property
    def key(self) -> str:
        """``fingerprint/firing`` (``/resolved``, ``/reminder-N``): what a Message covers."""
        base = f"{self.fingerprint}/{self.firing}"
        if self.status != "firing":
            return f"{base}/{self.status}"
        return f"{base}/reminder-{self.reminder}" if self.reminder else base

    def claim_key(self, receiver: str) -> ClaimKey:
        """The state store's claim for telling ``receiver`` about this alert."""
        return ClaimKey(
            self.fingerprint, self.firing, receiver, status=self.status, reminder=self.reminder
        )


def _when(finding: Finding) -> datetime | None:
    return finding.finished_at or finding.started_at


class Decision(BaseModel):
    """What one pass decided, with the findings it chose not to tell and why."""

    model_config = ConfigDict(frozen=True)

    tell: tuple[Alert, ...] = ()
    baseline: tuple[Finding, ...] = ()  # finished before the first run's look-back: silent
    known: tuple[Finding, ...] = ()  # finished before an earlier pass had claimed everything


def decide(
    findings: list[Finding] | tuple[Finding, ...],
    *,
    now: datetime,
    baseline_until: datetime | None,
    told_through: datetime | None,
    recent: Mapping[str, datetime] | None = None,
) -> Decision:
    """Turn findings into alerts to tell (DESIGN "Identity, dedupe and resolve").

    Args:
        findings: this pass's findings (any order; duplicates by fingerprint are folded).
        now: the pass's clock, used when a finding carries no time at all.
        baseline_until: failures that finished before this are the first run's silent
            baseline (None: no baseline, e.g. an event about one invocation).
        told_through: an earlier pass claimed every failure finished before this; they are
            skipped without asking the store again (the claims would say "done" anyway).
        recent: fingerprints an earlier pass already claimed although they finished after its
            ``told_through`` (the overlap it re-reads): skipped too, so a failure is not
            re-decided, nor its output fetched again, for the length of the overlap.
    """
    tell: dict[str, Alert] = {}
    baseline: list[Finding] = []
    known: list[Finding] = []
    for finding in findings:
        when = _when(finding) or now
        if baseline_until is not None and when < baseline_until:
            baseline.append(finding)
            continue
        if told_through is not None and when < told_through:
            known.append(finding)
            continue
        if recent and fingerprint(finding) in recent:
            known.append(finding)
            continue
        alert = Alert(
            fingerprint=fingerprint(finding),
            group=finding.invoke_id,
            reason=_reason(finding),
            starts_at=when,
            finding=finding,
        )
        previous = tell.get(alert.fingerprint)
        if previous is None or (previous.starts_at < alert.starts_at):
            tell[alert.fingerprint] = alert
    ordered = sorted(tell.values(), key=lambda alert: (alert.starts_at, alert.fingerprint))
    return Decision(tell=tuple(ordered), baseline=tuple(baseline), known=tuple(known))


def _reason(finding: Finding) -> str:
    code = finding.error_code or finding.classification.code
    return f"new failure: {finding.status} {code} on {finding.instance_id}"


# -- periodic and reboot tasks ----------------------------------------------------------------


class Outcome(BaseModel):
    """One execution of a periodic task on one instance: a failure, or a success (None)."""

    model_config = ConfigDict(frozen=True)

    instance_id: str
    finished_at: datetime | None
    failure: Finding | None = None


class Reminded(BaseModel):
    """The last reminder of a firing claimed for one receiver."""

    model_config = ConfigDict(frozen=True)

    number: int
    at: datetime


class PeriodicTrack(BaseModel):
    """What we know of one periodic task on one instance, kept in the poll state."""

    last: datetime | None = None  # the newest execution already evaluated
    repeats: int = 0  # executions counted by Cloud Assistant when last seen
    failing: bool = False
    told: bool = False  # the current failing streak was told (so its recovery is told too)
    firing: int = 0
    failure: Finding | None = None  # the streak's latest failure, shown when it resolves
    since: datetime | None = None  # when the told streak started (its alert's starts_at)
    told_at: datetime | None = None  # the pass that told it: reminders count from here
    reminded: dict[str, Reminded] = Field(default_factory=dict)  # by receiver (lib.core.reminders)

    def open_alert(self, now: datetime) -> Alert | None:
        """The told streak's firing alert with its latest failure (None: nothing open)."""
        if not (self.failing and self.told) or self.failure is None:
            return None
        alert = _periodic_alert(self.failure, self.firing, "firing", now)
        return alert.model_copy(update={"starts_at": self.since or alert.starts_at})


def track_periodic(
    track: PeriodicTrack,
    outcomes: list[Outcome],
    *,
    baseline_until: datetime | None,
    now: datetime,
) -> tuple[PeriodicTrack, list[Alert]]:
    """Evaluate a periodic task's new executions in order: fire, stay quiet, or resolve.

    A failure starts a firing (firing number + 1) unless the streak was already told; a
    success after a told streak resolves it; executions before ``baseline_until`` update
    the track silently (a first run never tells old history).
    """
    alerts: list[Alert] = []
    current = track
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    for outcome in sorted(outcomes, key=lambda item: item.finished_at or earliest):
        if outcome.finished_at is not None and outcome.finished_at <= (current.last or earliest):
            continue  # evaluated by an earlier poll
        silent = (
            baseline_until is not None
            and outcome.finished_at is not None
            and outcome.finished_at < baseline_until
        )
        update: dict[str, object] = {"last": outcome.finished_at or current.last}
        if outcome.failure is not None:
            update.update(failing=True, failure=outcome.failure)
            if not silent and not (current.failing and current.told):
                firing = current.firing + 1
                fired = _periodic_alert(outcome.failure, firing, "firing", now)
                update.update(
                    told=True, firing=firing, since=fired.starts_at, told_at=now, reminded={}
                )
                alerts.append(fired)
        else:
            if current.failing and current.told and current.failure is not None:
                alert = _periodic_alert(current.failure, current.firing, "resolved", now)
                alerts.append(alert.model_copy(update={"ends_at": outcome.finished_at}))
            update.update(failing=False, told=False)
        current = current.model_copy(update=update)
    return current, alerts


def _periodic_alert(finding: Finding, firing: int, status: AlertStatus, now: datetime) -> Alert:
    when = _when(finding) or now
    reason = (
        f"periodic task failed again (firing {firing}): {finding.status} on {finding.instance_id}"
        if status == "firing"
        else f"periodic task recovered on {finding.instance_id}"
    )
    return Alert(
        fingerprint=fingerprint(finding),
        firing=firing,
        status=status,
        group=finding.invoke_id,
        reason=reason,
        starts_at=when,
        finding=finding,
    )


# -- agent health -----------------------------------------------------------------------------

AGENT_EVIDENCE_LIMIT = 20  # invocations listed behind one agent alert


def is_agent_fault(finding: Finding) -> bool:
    """A ``Client*`` failure on an ECS instance: the agent's fault, not the command's."""
    return finding.provider == "ecs" and (finding.error_code or "").startswith("Client")


def agent_fingerprint(finding: Finding) -> str:
    """One identity per instance's agent (account, provider, region, instance)."""
    parts = (finding.account, finding.provider, finding.region, "agent", finding.instance_id)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


class AgentTrack(BaseModel):
    """An instance whose agent was reported unhealthy, kept until the agent is healthy again."""

    open: bool = False
    firing: int = 0
    since: datetime | None = None
    resolved_at: datetime | None = None  # evidence older than this cannot reopen it
    related: tuple[str, ...] = ()
    finding: Finding | None = None
    told_at: datetime | None = None  # the pass that opened it: reminders count from here
    reminded: dict[str, Reminded] = Field(default_factory=dict)  # by receiver (lib.core.reminders)

    def open_alert(self, now: datetime) -> Alert | None:
        """The open "agent unhealthy" alert with its latest evidence (None: not open)."""
        if not self.open or self.finding is None:
            return None
        return _agent_alert(self, "firing", now)


def fold_agent_faults(
    tracks: dict[str, AgentTrack], findings: list[Finding], *, now: datetime
) -> tuple[dict[str, AgentTrack], list[Alert]]:
    """Fold ``Client*`` failures into one "agent unhealthy" alert per instance.

    A new fault on an instance whose agent alert is open adds evidence, no message; a fault
    newer than the last recovery opens a new firing.
    """
    result = dict(tracks)
    opened: set[str] = set()
    for finding in sorted(findings, key=lambda item: _when(item) or now):
        instance = finding.instance_id
        track = result.get(instance, AgentTrack())
        when = _when(finding) or now
        if not track.open and track.resolved_at is not None and when <= track.resolved_at:
            continue  # seen before the agent recovered: already part of a resolved firing
        entry = f"{finding.invoke_id} {finding.error_code}"
        related = track.related if entry in track.related else (*track.related, entry)
        if not track.open:
            track = AgentTrack(
                open=True,
                firing=track.firing + 1,
                since=when,
                related=(entry,),
                finding=finding,
                told_at=now,
            )
            opened.add(instance)
        else:
            track = track.model_copy(
                update={"related": related[-AGENT_EVIDENCE_LIMIT:], "finding": finding}
            )
        result[instance] = track
    alerts = [_agent_alert(result[instance], "firing", now) for instance in sorted(opened)]
    return result, alerts


def resolve_agents(
    tracks: dict[str, AgentTrack], healthy: dict[str, bool], *, now: datetime
) -> tuple[dict[str, AgentTrack], list[Alert]]:
    """Resolve the open agent alerts of instances whose agent reports healthy again."""
    result = dict(tracks)
    alerts: list[Alert] = []
    for instance, track in tracks.items():
        if track.open and healthy.get(instance):
            closed = track.model_copy(update={"open": False, "resolved_at": now})
            result[instance] = closed
            alerts.append(_agent_alert(closed, "resolved", now).model_copy(update={"ends_at": now}))
    return result, alerts


def resolve_sleeping_agents(
    tracks: dict[str, AgentTrack], asleep: Mapping[str, Finding], *, now: datetime
) -> tuple[dict[str, AgentTrack], list[Alert]]:
    """Resolve the open agent alerts of instances that stopped or were released.

    ``asleep`` maps an instance to its latest evidence carrying ``instance_status``
    (Stopped, Stopping, Released): the resolve says why the alert closed.
    """
    result = dict(tracks)
    alerts: list[Alert] = []
    for instance, track in tracks.items():
        evidence = asleep.get(instance)
        if track.open and evidence is not None:
            closed = track.model_copy(
                update={"open": False, "resolved_at": now, "finding": evidence}
            )
            result[instance] = closed
            status = (evidence.instance_status or "").lower()
            alert = _agent_alert(closed, "resolved", now)
            reason = f"agent alert closed on {instance}: instance {status}"
            alerts.append(alert.model_copy(update={"ends_at": now, "reason": reason}))
    return result, alerts


# Cloud Assistant keeps at most about six weeks of history: evidence older than that is never
# listed again, so a closed agent track older than this guards nothing and is forgotten.
CLOSED_AGENT_KEPT = timedelta(weeks=6)


def forget_closed_agents(tracks: dict[str, AgentTrack], *, now: datetime) -> dict[str, AgentTrack]:
    """Drop agent tracks closed longer ago than any evidence can reach (the record stays small)."""
    return {
        instance: track
        for instance, track in tracks.items()
        if track.open or track.resolved_at is None or now - track.resolved_at < CLOSED_AGENT_KEPT
    }


def _agent_alert(track: AgentTrack, status: AlertStatus, now: datetime) -> Alert:
    assert track.finding is not None  # an opened track always carries its evidence
    finding = track.finding
    codes = sorted({entry.split(" ", 1)[-1] for entry in track.related})
    reason = (
        f"agent unhealthy on {finding.instance_id}: {', '.join(codes)}"
        if status == "firing"
        else f"agent healthy again on {finding.instance_id}"
    )
    return Alert(
        fingerprint=agent_fingerprint(finding),
        firing=track.firing,
        status=status,
        group=f"agent:{finding.instance_id}",
        reason=reason,
        starts_at=track.since or _when(finding) or now,
        finding=finding,
        subject="agent",
        related=track.related,
    )
