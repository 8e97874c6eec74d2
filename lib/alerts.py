"""Pure decision: findings + what was already told → alerts to send, each with a reason.

No I/O here. The app hands in findings and reads/writes the store around this module.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lib.findings import Finding

__all__ = ["Alert", "AlertStatus", "fingerprint"]

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
        """``fingerprint/firing``: what a Message covers and a claim is about."""
        return f"{self.fingerprint}/{self.firing}"
