"""Pure decision: findings + what was already told → alerts to send, each with a reason.

No I/O here. The app hands in findings and reads/writes the store around this module.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lib.findings import Finding
from lib.state.base import ClaimKey

__all__ = ["Alert", "AlertStatus", "Decision", "decide", "fingerprint"]

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
    finding: Finding

    @property
    def key(self) -> str:
        """``fingerprint/firing`` (``/resolved`` for a resolve): what a Message covers."""
        base = f"{self.fingerprint}/{self.firing}"
        return base if self.status == "firing" else f"{base}/{self.status}"

    def claim_key(self, receiver: str) -> ClaimKey:
        """The state store's claim for telling ``receiver`` about this alert."""
        return ClaimKey(self.fingerprint, self.firing, receiver, status=self.status)


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
) -> Decision:
    """Turn findings into alerts to tell (DESIGN "Identity, dedupe and resolve").

    Args:
        findings: this pass's findings (any order; duplicates by fingerprint are folded).
        now: the pass's clock, used when a finding carries no time at all.
        baseline_until: failures that finished before this are the first run's silent
            baseline (None: no baseline, e.g. an event about one invocation).
        told_through: an earlier pass claimed every failure finished before this; they are
            skipped without asking the store again (the claims would say "done" anyway).
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
