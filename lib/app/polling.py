"""The timer poll: each account, region and source listed since its watermark, then decided."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lib.app.agents import agent_alerts
from lib.app.discovery import ALL, discovered_regions
from lib.app.missing import missed_runs
from lib.app.pool import run_scopes
from lib.app.reminding import remind_periodic
from lib.app.scopes import accounts_for, regions_for, scope_for
from lib.app.state import claim, due_for_refresh, load
from lib.app.telling import count, unexpected
from lib.app.watching import check_watches
from lib.core.alerts import decide, is_agent_fault
from lib.state.base import Record
from lib.support.log import bound

if TYPE_CHECKING:
    from datetime import datetime

    from lib.app.context import Context
    from lib.app.run import Invocation, Pass, Scope
    from lib.core.alerts import Alert
    from lib.core.findings import Finding
    from lib.core.triggers import Poll
    from lib.support.credentials import Credentials
    from lib.support.settings import Source

__all__ = ["poll"]


def poll(
    app: Context, trigger: Poll, invocation: Invocation, credentials: Credentials, state: Pass
) -> None:
    """Poll every source of every account and region; then watches and agent alerts.

    A timer pass too big for one invocation is fanned out to shards instead (lib.app.fanout);
    a shard polls its scopes only while it holds its slot.
    """
    if trigger.scopes:  # a shard (or a narrowed poll by hand): exactly these scopes
        regions = list(dict.fromkeys(region for _, region in trigger.scopes))
    elif not trigger.regions and app.settings.regions == [ALL]:
        regions = discovered_regions(app, state, invocation.region)
    else:
        regions = regions_for(app, trigger.regions, invocation)
    from lib.app.fanout import coordinate, hold_slot

    def in_process(shard: Poll) -> None:
        poll(app, shard, invocation, credentials, state)

    if coordinate(
        app,
        trigger,
        invocation,
        state,
        credentials=credentials,
        regions=regions,
        poll_shard=in_process,
    ):
        return
    if trigger.shard is not None and not hold_slot(app, trigger, invocation, state):
        return
    wanted = {account for account, _ in trigger.scopes} if trigger.scopes else None
    accounts = accounts_for(app, credentials, state, own=invocation.account_id, wanted=wanted)
    state.report.regions = state.report.regions or regions
    sources = list(trigger.sources) or list(app.settings.sources)
    for source in sources:
        if source.startswith("eflo."):
            state.report.notes.append(
                f"{source}: Lingjun nodes have no API that lists invocations; "
                "they are watched by invoke id (watch requests), not by this poll"
            )
    keys = [(account, region) for account in accounts for region in regions]
    if trigger.scopes:
        keys = [key for key in keys if key in set(trigger.scopes)]
        missing = [f"{a}/{r}" for a, r in trigger.scopes if (a, r) not in keys]
        if missing:  # an account whose role is gone or could not be assumed (said above)
            state.report.notes.append(f"not polled (no credentials): {', '.join(missing)}")

    def poll_scope(account: str, region: str, forked: Pass) -> None:
        scope = scope_for(app, account, region, forked)
        agent_faults: list[Finding] = []
        for source in sources:
            if source.startswith("ecs."):
                agent_faults += _poll_source(app, scope, source, trigger, forked)
        agent_faults += check_watches(app, scope, forked)
        agent_alerts(app, scope, agent_faults, forked)

    failed = run_scopes(app, keys, poll_scope, state)
    if failed and len(failed) == len(keys):  # nothing got through: fail the run as a whole
        for account, region, error in failed[1:]:
            state.report.errors.append(f"{region} (account {account}): {error}")
        raise failed[0][2]
    for account, region, error in failed:  # the others' alerts are claimed and sent
        state.report.errors.append(f"{region} (account {account}): {error}")
        state.failures.append(error)
        with bound(account=account, region=region):
            app.log.warning("scope failed; the other scopes went on", error=str(error))


def _poll_source(
    app: Context, scope: Scope, source: Source, trigger: Poll, state: Pass
) -> list[Finding]:
    """Poll one source of one region; return its agent faults (folded per region)."""
    from lib.app.paging import OVERLAP, PollState, SourcePoll, merge_poll_states
    from lib.state.records import rebase

    assistant = scope.assistant
    name = _poll_name(scope.account, scope.region, source, trigger.resource_group_id)
    now = state.started
    record = _poll_record(app, name, now)
    old = load(PollState, record, name, state)
    first_run = old.seen_through is None and old.told_through is None
    agent_faults: list[Finding] = []
    windows: dict[str, datetime | None] = {}

    told: dict[str, datetime] = {}

    def tell(found: list[Finding], periodic: list[Alert]) -> None:
        decision = decide(unexpected(app, found, state), now=now, recent=old.recent, **windows)
        count(decision, state)
        told.update((a.fingerprint, a.starts_at) for a in decision.tell)
        agent_faults.extend(a.finding for a in decision.tell if is_agent_fault(a.finding))
        alerts = [a for a in decision.tell if not is_agent_fault(a.finding)] + periodic
        state.report.alerts += len(alerts)
        state.alerts.extend(alerts)

    def checkpoint(found: list[Finding]) -> None:  # a long pass: claim what it has so far
        tell(found, [])
        claim(app, state, early=True)

    poller = SourcePoll(
        assistant,
        account=scope.account,
        source=source,
        resource_group_id=trigger.resource_group_id,
        include_cancelled=app.settings.include_cancelled,
        log=app.log,
        deadline_reached=state.deadline_reached,
        checkpoint=checkpoint,
        expected=lambda found: _expected(app, found, state),
    )
    windows.update(baseline_until=now - app.settings.lookback, told_through=old.told_through)
    if old.baseline_until is not None:
        windows["baseline_until"] = old.baseline_until
    if trigger.lookback is not None:  # asked by hand: look again this far back
        windows.update(baseline_until=now - trigger.lookback, told_through=None)
    before, baseline_before = len(state.alerts), state.report.baseline
    result, new = poller.run(old, now=now, lookback=app.settings.lookback)
    result.alerts += remind_periodic(app, new.periodic, state)
    if result.complete:  # a cut-short pass has not listed every scheduled task
        result.alerts += missed_runs(app, scope, new, result, state)
    state.report.records += result.records
    state.report.notes.extend(result.notes)
    tell(result.findings, result.alerts)
    baseline = state.report.baseline - baseline_before
    if first_run and baseline:
        state.report.notes.append(
            f"first run for {assistant.region} {source}: {baseline} failure(s) "
            f"older than {app.settings.lookback} recorded as the baseline, not sent"
        )
    if result.complete and (first_run or len(state.alerts) > before or agent_faults):
        new.told_through = now - OVERLAP
        new.recent = {
            fp: when for fp, when in {**old.recent, **told}.items() if when >= new.told_through
        }
    if first_run or new != old or due_for_refresh(old.written_at, now):
        new.written_at = now

        def merged(current: dict[str, Any]) -> dict[str, Any]:
            theirs = load(PollState, Record(value=current), name, state)
            return merge_poll_states(old, new, theirs).model_dump(mode="json")

        wanted = new.model_dump(mode="json")
        state.updates.append((name, rebase(record.value, wanted, merged)))
    return agent_faults


def _poll_record(app: Context, name: str, now: datetime) -> Record:
    """A filter's poll state; on its first run, the window is written before the pass.

    If that run fails, its retry keeps the same baseline instead of letting failures age
    into it.
    """
    from lib.app.paging import PollState

    record = app.store.read(name)
    if record.version is None:
        start = PollState(baseline_until=now - app.settings.lookback)
        app.store.write(name, start.model_dump(mode="json"), None)
        record = app.store.read(name)
    return record


def _poll_name(account: str, region: str, source: str, group: str | None) -> str:
    """The poll state's record: keyed by the whole filter (DESIGN "State protocol")."""
    return f"poll/{account}/{region}/{source}/{group or '*'}"


def _expected(app: Context, found: list[Finding], state: Pass) -> list[Finding]:
    """Those of ``found`` whose exit the routing file expects (for periodic tasks)."""
    kept = {id(finding) for finding in unexpected(app, found, state)}
    return [finding for finding in found if id(finding) not in kept]
