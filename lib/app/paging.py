"""One poll of one source in one region, without blind spots and at constant cost.

What a pass asks Cloud Assistant, and why (DESIGN "Identity"; issue "Polling without blind
spots"):

1. **New invocations**: DescribeInvocations (``Timed=false``: once-tasks and finished
   periodic ones) or DescribeSendFileResults, newest first, stopping at the first page that
   reaches what an earlier pass already covered (``seen_through`` minus an overlap). The order
   is not documented, so each page is checked: a page out of order switches the pass to a
   full scan, with one log line. A first run looks back ``lookback`` plus the longest a task
   can run (24 h), so nothing that finishes inside the look-back is missed.
2. **In-flight invocations**: one seen Pending/Running/Scheduled/Stopping is remembered and
   followed until terminal: one list call per in-flight status still remembered (the status
   filter takes one value), and a single fetch only for those that left their status.
3. **Periodic and reboot tasks** (``Timed=true``): one list call shows each task's latest
   state and its execution count (``Repeats``) per instance; only when the count moved by
   more than the one execution the list shows, or the latest is not a plain success, the
   executions in between are read with DescribeInvocationResults ``IncludeHistory=true``.

With nothing new, a pass costs one call per source, plus one per in-flight status and one
for periodic tasks, whatever the size of the history — and writes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field

from lib.cloud.cloudassist.api import CloudAssistant
from lib.core.alerts import Alert, Outcome, PeriodicTrack, track_periodic
from lib.core.findings import (
    Finding,
    findings_from_invocation,
    findings_from_results,
    findings_from_send_file,
    is_finding,
    is_terminal,
)
from lib.core.missed import MissedRun
from lib.core.records.ecs import Invocation, InvocationResult, SendFileInvocation

__all__ = [
    "CHECKPOINT_PAGES",
    "IN_FLIGHT",
    "MAX_TASK_DURATION",
    "OVERLAP",
    "Listed",
    "PollState",
    "SourcePoll",
    "SourceResult",
    "merge_maps",
    "merge_poll_states",
    "overall_status",
]

IN_FLIGHT = ("Pending", "Running", "Scheduled", "Stopping")  # overall statuses not yet final
# Records can appear a little after they are created; re-read this much behind the last pass
# (claims make the overlap free of duplicates).
OVERLAP = timedelta(minutes=10)
# The longest a command may run (RunCommand Timeout ≤ 86400 s): a first run looks back this
# much further than the look-back so a long task that finishes inside it is seen.
MAX_TASK_DURATION = timedelta(days=1)
CHECKPOINT_PAGES = 20  # a long pass hands its findings to the outbox every this many pages

Listed = Invocation | SendFileInvocation


class PollState(BaseModel):
    """What one poll filter (account, region, source, resource group) remembers."""

    baseline_until: datetime | None = None  # failures before this were the first run's baseline
    told_through: datetime | None = None  # failures finished before this were all claimed
    seen_through: datetime | None = None  # newest CreationTime a complete pass covered
    inflight: dict[str, str] = Field(default_factory=dict)  # invoke id → status last seen
    # Fingerprints claimed by a pass although they finished after its told_through (the
    # overlap the next pass re-reads) → their finish time; pruned as told_through moves on.
    recent: dict[str, datetime] = Field(default_factory=dict)
    periodic: dict[str, dict[str, PeriodicTrack]] = Field(default_factory=dict)
    # Missed-run alerts of periodic tasks, by invoke id and instance (lib.core.missed).
    missed: dict[str, dict[str, MissedRun]] = Field(default_factory=dict)
    written_at: datetime | None = None  # rewritten before half the store's expiry (see app)


@dataclass
class SourceResult:
    """What a pass found: once-task failures to decide on, periodic alerts already decided."""

    findings: list[Finding] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    records: int = 0
    notes: list[str] = field(default_factory=list)
    complete: bool = True  # False: cut short by the deadline; seen_through does not move
    scheduled: list[Invocation] = field(default_factory=list)  # periodic tasks listed as timed
    unscheduled: list[str] = field(default_factory=list)  # invoke ids no longer scheduled


class SourcePoll:
    """One pass over one source (``ecs.command`` or ``ecs.file``) of one region."""

    def __init__(
        self,
        assistant: CloudAssistant,
        *,
        account: str,
        source: str,
        resource_group_id: str | None,
        include_cancelled: bool,
        log: Any,
        deadline_reached: Callable[[], bool] = lambda: False,
        checkpoint: Callable[[list[Finding]], None] | None = None,
        expected: Callable[[list[Finding]], list[Finding]] = lambda found: [],
    ) -> None:
        self.api = assistant
        self.account = account
        self.region = assistant.region
        self.source = source
        self.group = resource_group_id
        self.include_cancelled = include_cancelled
        self.log = log
        self.deadline_reached = deadline_reached
        self.checkpoint = checkpoint
        self.expected = expected  # those exits the routing file expects: successes, not failures
        self.commands = source == "ecs.command"
        self.now = datetime.now(timezone.utc)  # replaced by each run()'s clock

    # -- the pass ------------------------------------------------------------------------------

    def run(
        self, state: PollState, *, now: datetime, lookback: timedelta
    ) -> tuple[SourceResult, PollState]:
        """Run the pass; return what it found and the state to store if the pass succeeds."""
        self.now = now
        result = SourceResult()
        new = state.model_copy(deep=True)
        if new.baseline_until is None:
            new.baseline_until = now - lookback
        seen = self._scan_new(state, new, result, now)
        self._follow_in_flight(new, seen, result)
        if self.commands:
            self._follow_periodic(new, seen, result)
        return result, new

    def _scan_new(
        self, old: PollState, new: PollState, result: SourceResult, now: datetime
    ) -> set[str]:
        if old.seen_through is not None:
            stop_at = old.seen_through - OVERLAP
        else:
            stop_at = (new.baseline_until or now) - MAX_TASK_DURATION
        seen: set[str] = set()
        newest = old.seen_through
        previous: datetime | None = None
        ordered = True
        pending: list[Finding] = []
        for number, page in enumerate(self._list_pages(), 1):
            times = [item.creation_time for item in page if item.creation_time is not None]
            if ordered and not _newest_first(previous, times):
                ordered = False
                self.log.warning(
                    "pages are not newest first: scanning everything this pass",
                    region=self.region,
                    source=self.source,
                    page=number,
                )
                result.notes.append(
                    f"{self.region} {self.source}: the API answered out of order; full scan"
                )
            for item in page:
                seen.add(item.invoke_id)
                pending.extend(self._take(item, new, result))
                if item.creation_time is not None and (
                    newest is None or item.creation_time > newest
                ):
                    newest = item.creation_time
            previous = min(times) if times else previous
            if self.checkpoint is not None and number % CHECKPOINT_PAGES == 0 and pending:
                self.checkpoint(pending)
                pending = []
            if ordered and times and min(times) < stop_at:
                break
            if self.deadline_reached():
                result.complete = False
                result.notes.append(
                    f"{self.region} {self.source}: stopped after {number} pages at the deadline; "
                    "the next run goes on from the newest records again"
                )
                break
        result.findings.extend(pending)
        if result.complete:
            new.seen_through = newest
        return seen

    def _list_pages(self) -> Iterable[list[Listed]]:
        if self.commands:
            for page in self.api.invocation_pages(timed=False, resource_group_id=self.group):
                yield list(page.invocations)
        else:
            for file_page in self.api.send_file_result_pages(resource_group_id=self.group):
                yield list(file_page.invocations)

    def _take(self, item: Listed, state: PollState, result: SourceResult) -> list[Finding]:
        """Read one listed invocation: its failures, and whether it is still in flight."""
        result.records += len(item.invoke_instances) or 1
        if isinstance(item, Invocation) and (item.repeat_mode or "Once") != "Once":
            self._periodic(item, state, result)  # a finished periodic task, listed with once-tasks
            return []
        status = overall_status(item)
        if status in IN_FLIGHT:
            state.inflight[item.invoke_id] = status
        else:
            state.inflight.pop(item.invoke_id, None)
        if isinstance(item, Invocation):
            return findings_from_invocation(
                item,
                account=self.account,
                region=self.region,
                include_cancelled=self.include_cancelled,
            )
        return findings_from_send_file(
            item, account=self.account, region=self.region, include_cancelled=self.include_cancelled
        )

    # -- in flight -----------------------------------------------------------------------------

    def _follow_in_flight(self, state: PollState, seen: set[str], result: SourceResult) -> None:
        """Follow remembered in-flight invocations the scan did not reach, until terminal."""
        waiting = {i: s for i, s in state.inflight.items() if i not in seen}
        if not waiting:
            return
        for status in sorted(set(waiting.values())):
            for page in self._list_by_status(status):
                for item in page:
                    if item.invoke_id in waiting and item.invoke_id not in seen:
                        seen.add(item.invoke_id)
                        result.findings.extend(self._take(item, state, result))
        for invoke_id in [i for i in waiting if i not in seen]:
            found = False
            for page in self._get(invoke_id):
                for item in page:
                    found = True
                    result.findings.extend(self._take(item, state, result))
            if not found:  # expired from Cloud Assistant's history: nothing more to learn
                state.inflight.pop(invoke_id, None)
                result.notes.append(f"{invoke_id}: no longer known to Cloud Assistant; forgotten")

    def _list_by_status(self, status: str) -> Iterable[list[Listed]]:
        if self.commands:
            for page in self.api.invocation_pages(
                status=status, timed=False, resource_group_id=self.group
            ):
                yield list(page.invocations)
        else:
            for file_page in self.api.send_file_result_pages(
                status=status, resource_group_id=self.group
            ):
                yield list(file_page.invocations)

    def _get(self, invoke_id: str) -> Iterable[list[Listed]]:
        if self.commands:
            for page in self.api.invocation_pages(invoke_id=invoke_id):
                yield list(page.invocations)
        else:
            for file_page in self.api.send_file_result_pages(invoke_id=invoke_id):
                yield list(file_page.invocations)

    # -- periodic and reboot tasks -------------------------------------------------------------

    def _follow_periodic(self, state: PollState, seen: set[str], result: SourceResult) -> None:
        listed: set[str] = set()
        for page in self.api.invocation_pages(timed=True, resource_group_id=self.group):
            for item in page.invocations:
                listed.add(item.invoke_id)
                result.records += len(item.invoke_instances) or 1
                self._periodic(item, state, result)
                result.scheduled.append(item)
        for invoke_id in [i for i in state.periodic if i not in listed and i not in seen]:
            # No longer scheduled (stopped, or its last run is done): one last look, then forget.
            for page in self.api.invocation_pages(invoke_id=invoke_id):
                for item in page.invocations:
                    self._periodic(item, state, result)
            state.periodic.pop(invoke_id, None)
        # Missed-run alerts of tasks no longer scheduled (stopped, or done) close (lib.app.missing).
        result.unscheduled = [invoke_id for invoke_id in state.missed if invoke_id not in listed]

    def _periodic(self, inv: Invocation, state: PollState, result: SourceResult) -> None:
        """Evaluate a periodic task's executions since the last poll, per instance."""
        tracks = dict(state.periodic.get(inv.invoke_id, {}))
        latest: dict[str, list[Outcome]] = {}
        need_history = False
        moved = {  # instances that ran since the last poll: only they need a look
            inst.instance_id
            for inst in inv.invoke_instances
            if (inst.repeats or 0) != tracks.get(inst.instance_id, PeriodicTrack()).repeats
        }
        found = [
            finding
            for finding in findings_from_invocation(
                inv,
                account=self.account,
                region=self.region,
                include_cancelled=self.include_cancelled,
            )
            if finding.instance_id in moved
        ]
        # Instances whose latest exit the routing file expects (asked once per invocation).
        expected = {finding.instance_id for finding in self.expected(found)} if found else set()
        failures = {f.instance_id: f for f in found if f.instance_id not in expected}
        for inst in inv.invoke_instances:
            track = tracks.get(inst.instance_id, PeriodicTrack())
            repeats = inst.repeats or 0
            if repeats == track.repeats:
                continue  # no execution since the last poll
            status = inst.invocation_status or inst.instance_invoke_status or ""
            finished = inst.finish_time or inst.update_time
            one_more = repeats == track.repeats + 1 and is_terminal(status)
            decided = status == "Success" or inst.instance_id in failures
            if one_more and (decided or inst.instance_id in expected):
                latest[inst.instance_id] = [
                    Outcome(
                        instance_id=inst.instance_id,
                        finished_at=finished,
                        failure=failures.get(inst.instance_id),
                    )
                ]
            else:
                need_history = True
        outcomes = self._history(inv, result) if need_history else latest
        for inst in inv.invoke_instances:
            track = tracks.get(inst.instance_id, PeriodicTrack())
            changed, alerts = track_periodic(
                track,
                outcomes.get(inst.instance_id, []),
                baseline_until=state.baseline_until,
                now=self.now,
            )
            changed = changed.model_copy(update={"repeats": inst.repeats or 0})
            if changed != track:
                tracks[inst.instance_id] = changed
            result.alerts.extend(alerts)
        if tracks:
            state.periodic[inv.invoke_id] = tracks

    def _history(self, inv: Invocation, result: SourceResult) -> dict[str, list[Outcome]]:
        """Every execution Cloud Assistant still holds for a periodic task, per instance."""
        outcomes: dict[str, list[Outcome]] = {}
        # IncludeHistory is documented for Period and EveryReboot tasks only; a
        # NextRebootOnly task runs once, so its latest result is all there is.
        history = inv.repeat_mode in {"Period", "EveryReboot"}
        for page in self.api.invocation_result_pages(
            invoke_id=inv.invoke_id, include_history=history
        ):
            result.records += len(page.results)
            for record in page.results:
                outcome = self._outcome(record, inv)
                if outcome is not None:
                    outcomes.setdefault(record.instance_id, []).append(outcome)
        return outcomes

    def _outcome(self, record: InvocationResult, inv: Invocation) -> Outcome | None:
        status = record.invocation_status or ""
        finished = record.finished_time or record.stop_time
        if is_finding(status, include_cancelled=self.include_cancelled):
            failure = findings_from_results(
                [record],
                account=self.account,
                region=self.region,
                include_cancelled=self.include_cancelled,
                invocation=inv,
            )
            if self.expected(failure):  # e.g. grep's 1: as good as a success
                return Outcome(instance_id=record.instance_id, finished_at=finished)
            return Outcome(instance_id=record.instance_id, finished_at=finished, failure=failure[0])
        if status == "Success":
            return Outcome(instance_id=record.instance_id, finished_at=finished)
        return None  # still running, or stopped on purpose: neither a failure nor a recovery


def overall_status(item: Listed) -> str:
    """The invocation's aggregate status, from the field the reference recommends."""
    if isinstance(item, Invocation):
        return item.invocation_status or item.invoke_status or ""
    return item.invocation_status or ""


def _newest_first(previous: datetime | None, times: list[datetime]) -> bool:
    """True if ``times`` continue a newest-first order after ``previous`` (ties allowed)."""
    sequence = ([previous] if previous is not None else []) + times
    return all(later <= earlier for earlier, later in itertools.pairwise(sequence))


def merge_maps(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """Three-way merge of two concurrent updates of one map: per key, a change wins.

    Keys this run did not change (ours == base) take the other run's value (or its delete);
    keys this run changed keep ours. Used when a concurrent pass wrote the same record.
    """
    merged: dict[str, Any] = {}
    for key in {*base, *ours, *theirs}:
        mine_changed = ours.get(key) != base.get(key)
        chosen = ours.get(key) if mine_changed else theirs.get(key)
        if chosen is not None:
            merged[key] = chosen
    return merged


def merge_poll_states(base: PollState, ours: PollState, theirs: PollState) -> PollState:
    """Fold a concurrent pass's state into ours, erring towards looking again.

    Watermarks take the earlier value (the next pass re-reads a little more; claims keep that
    free of duplicates); in-flight entries merge per invocation, periodic tracks per
    invocation and instance (two passes may each move a different instance of one task);
    fingerprints either pass claimed stay known.
    """

    def earlier(a: datetime | None, b: datetime | None) -> datetime | None:
        return min((t for t in (a, b) if t is not None), default=None)

    def later(a: datetime | None, b: datetime | None) -> datetime | None:
        return max((t for t in (a, b) if t is not None), default=None)

    def flat(by_invocation: Mapping[str, Mapping[str, BaseModel]]) -> dict[str, Any]:
        return {
            f"{invoke_id}\x1f{instance}": track.model_dump()
            for invoke_id, tracks in by_invocation.items()
            for instance, track in tracks.items()
        }

    periodic: dict[str, dict[str, PeriodicTrack]] = {}
    merged = merge_maps(flat(base.periodic), flat(ours.periodic), flat(theirs.periodic))
    for key, track in merged.items():
        invoke_id, instance = key.split("\x1f", 1)
        periodic.setdefault(invoke_id, {})[instance] = PeriodicTrack.model_validate(track)
    missed: dict[str, dict[str, MissedRun]] = {}
    for key, value in merge_maps(flat(base.missed), flat(ours.missed), flat(theirs.missed)).items():
        invoke_id, instance = key.split("\x1f", 1)
        missed.setdefault(invoke_id, {})[instance] = MissedRun.model_validate(value)
    recent = dict(theirs.recent)
    for fingerprint_, when in ours.recent.items():
        recent[fingerprint_] = later(recent.get(fingerprint_), when) or when
    return PollState(
        baseline_until=theirs.baseline_until or ours.baseline_until,
        told_through=earlier(ours.told_through, theirs.told_through),
        seen_through=earlier(ours.seen_through, theirs.seen_through),
        inflight={
            **theirs.inflight,
            **ours.inflight,
        },  # follow both: a terminal one drops next pass
        recent=recent,
        periodic=periodic,
        missed=missed,
        written_at=later(ours.written_at, theirs.written_at),
    )
