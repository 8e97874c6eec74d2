"""One run's data: what FC hands it (Invocation), its bookkeeping (Pass), its RunReport."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lib.app.outbox import DeliveryTally
from lib.core.triggers import Poll, Targets, Trigger

if TYPE_CHECKING:
    from lib.app.outbox import Outbox
    from lib.cloud.aliyun.client import OpenApiClient
    from lib.cloud.cloudassist.api import CloudAssistant
    from lib.cloud.cloudassist.eflo import EfloAssistant
    from lib.cloud.instances import InstanceDirectory
    from lib.cloud.tags import InstanceTags
    from lib.core.alerts import Alert
    from lib.core.muting import Muted
    from lib.support.credentials import Credentials

__all__ = ["Invocation", "Pass", "RunReport", "Scope", "describe", "merge_tally"]


@dataclass(frozen=True)
class Scope:
    """Where a part of the pass looks: one account's Cloud Assistant in one region."""

    account: str
    region: str
    assistant: CloudAssistant


@dataclass(frozen=True)
class Invocation:
    """What FC hands one invocation: request id, short-lived credentials, region, timeout."""

    request_id: str | None = None
    credentials: Credentials | None = None
    region: str | None = None
    timeout_seconds: float = 600.0
    account_id: str | None = None  # the function's own account (FC context ``account_id``)
    function_name: str | None = None  # FC context ``function.name``: fan-out invokes it
    qualifier: str | None = None  # the version or alias this invocation runs, if FC says


class RunReport(BaseModel):
    """The JSON every run returns (and logs as its summary line)."""

    ok: bool = True
    trigger: str = ""
    request_id: str | None = None
    regions: list[str] = Field(default_factory=list)
    records: int = 0  # execution records examined (instance × invocation)
    findings: int = 0  # failed executions among them
    alerts: int = 0  # alerts decided to tell this run (reminders included)
    reminders: int = 0  # of which: reminders that an alert is still open
    baseline: int = 0  # old failures recorded silently on a first run
    known: int = 0  # failures an earlier pass already handled
    claimed: int = 0
    suppressed: int = 0  # already told, or being told by a concurrent run
    silenced: int = 0  # muted by a silence
    acknowledged: int = 0  # reminders not sent: the firing was acknowledged from a link
    expected: int = 0  # exits the routing file expects (not failures)
    quiet: int = 0  # agent faults on stopped or released instances: counted, not alarms
    inhibited: int = 0  # alerts held while an open alert that explains them lasts
    muted: int = 0  # alert×receiver held by a maintenance window (or muted reminders skipped)
    muted_resolved: int = 0  # held firings that resolved inside their window: dropped
    messages_sent: int = 0
    alerts_sent: int = 0
    deferred: int = 0  # kept in the outbox for the next run
    redelivered: int = 0  # outbox entries from earlier runs delivered now
    shards: int = 0  # fan-out: shard invocations this coordinator dispatched
    api_calls: int = 0
    throttled: int = 0  # calls Cloud Assistant throttled (and our client retried)
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    duration_ms: int = 0


@dataclass
class Pass:
    """Mutable bookkeeping for one run."""

    report: RunReport
    started: datetime
    deadline: float = float("inf")  # time.monotonic() by which a long pass stops paging
    clients: list[OpenApiClient] = field(default_factory=list)
    scopes: dict[tuple[str, str], Scope] = field(default_factory=dict)
    credentials: dict[str, Credentials] = field(default_factory=dict)  # account → credentials
    eflo: dict[tuple[str, str], EfloAssistant] = field(default_factory=dict)
    members: list[str] | None = None  # the Resource Directory's members, listed once a run
    alerts: list[Alert] = field(default_factory=list)  # decided, not yet claimed
    outbox: Outbox | None = None
    tally: DeliveryTally = field(default_factory=DeliveryTally)
    won: dict[str, list[Alert]] = field(default_factory=dict)  # claimed by this run, to send
    # outbox entries a maintenance window holds this pass (lib.app.muting.hold_waiting)
    waiting: list[Muted] = field(default_factory=list)
    tags: InstanceTags | None = None  # instance tags read this run (routes, silences on tags)
    failures: list[BaseException] = field(default_factory=list)  # scopes that failed (health)
    instances: InstanceDirectory | None = None  # DescribeInstances answers this run
    # Inhibition (lib.app.inhibiting): open alerts that may hold others, by fingerprint; the
    # (account, region) whose open agent alerts were read; those whose held alerts were checked.
    open_alerts: dict[str, Alert] = field(default_factory=dict)
    checked_scopes: set[tuple[str, str]] = field(default_factory=set)
    released_scopes: set[tuple[str, str]] = field(default_factory=set)
    # called with the run's outcome (True: no error) once it has claimed, sent and written
    finishers: list[Callable[[bool], None]] = field(default_factory=list)
    # (record name, change): shared records updated with a version check after the claims
    updates: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None]]] = field(
        default_factory=list
    )

    def deadline_reached(self) -> bool:
        """True when a long pass must stop paging to claim and send within the timeout."""
        return time.monotonic() > self.deadline


def describe(trigger: Trigger) -> str:
    """The report's one-line name of what started the run."""
    if isinstance(trigger, Poll):
        if trigger.shard is not None:
            return f"poll (fan-out shard {trigger.shard.slot})"
        return f"poll ({trigger.origin})"
    if isinstance(trigger, Targets):
        return f"event ({len(trigger.targets)} invocation(s))"
    return f"watch ({len(trigger.invoke_ids)} invocation(s))"


def merge_tally(report: RunReport, tally: DeliveryTally) -> None:
    """Copy what the outbox counted (claims, sends, deferrals) into the report."""
    report.claimed = tally.claimed
    report.suppressed = tally.suppressed
    report.messages_sent = tally.messages_sent
    report.alerts_sent = tally.alerts_sent
    report.deferred = tally.deferred
    report.redelivered = tally.redelivered
    report.errors.extend(tally.errors)
    report.notes.extend(tally.notes)
