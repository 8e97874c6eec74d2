"""Agent alerts: ECS agent faults fold into one alert per instance, resolved once healthy."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lib.app.instances import instance_lookup
from lib.app.reminding import remind
from lib.app.state import due_for_refresh, load
from lib.core.alerts import (
    AgentTrack,
    fold_agent_faults,
    forget_closed_agents,
    resolve_agents,
    resolve_sleeping_agents,
)
from lib.core.fleet import quiet_reason, split_quiet, with_instance
from lib.state.base import Record

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass, Scope
    from lib.core.findings import Finding

__all__ = ["agent_alerts"]


def agent_alerts(app: Context, scope: Scope, faults: list[Finding], state: Pass) -> None:
    """Fold agent faults into one alert per instance; resolve those whose agent is back."""
    from lib.cloud.cloudassist.api import MAX_AGENT_IDS

    assistant = scope.assistant
    name = f"agents/{scope.account}/{scope.region}"
    record = app.store.read(name)
    tracks = {
        instance: load(AgentTrack, Record(value=value, version=record.version), name, state)
        for instance, value in record.value.get("instances", {}).items()
    }
    evidence = [t.finding for t in tracks.values() if t.open and t.finding is not None]
    lookup = instance_lookup(app, state, [*faults, *evidence])
    alarms, quiet = split_quiet(faults, lookup)
    for reason, found in sorted(quiet.items()):
        state.report.quiet += len(found)
        ids = ", ".join(sorted({finding.instance_id for finding in found}))
        state.report.notes.append(
            f"quiet: {reason}: {len(found)} agent fault(s) in {scope.region}, not alarms ({ids})"
        )
    asleep = {
        instance: with_instance(track.finding, lookup(track.finding))
        for instance, track in tracks.items()
        if track.open and track.finding is not None and quiet_reason(lookup(track.finding))
    }
    folded, fired = fold_agent_faults(tracks, alarms, now=state.started)
    folded, slept = resolve_sleeping_agents(folded, asleep, now=state.started)
    were_open = sorted(i for i, track in tracks.items() if track.open and i not in asleep)
    healthy: dict[str, bool] = {}
    for start in range(0, len(were_open), MAX_AGENT_IDS):
        for page in assistant.agent_status_pages(were_open[start : start + MAX_AGENT_IDS]):
            for status in page.instance_cloud_assistant_status_set:
                healthy[status.instance_id] = status.healthy
    settled, resolved = resolve_agents(folded, healthy, now=state.started)
    settled = forget_closed_agents(settled, now=state.started)
    reminders = remind(app, settled, state)
    state.checked_scopes.add((scope.account, scope.region))
    for track in settled.values():  # open agent alerts may hold what they explain
        source = track.open_alert(state.started)
        if source is not None:
            state.open_alerts[source.fingerprint] = source
    state.alerts.extend(fired + slept + resolved + reminders)
    state.report.alerts += len(fired) + len(slept) + len(resolved) + len(reminders)
    written = _time(record.value.get("written_at"))
    if settled != tracks or (tracks and due_for_refresh(written, state.started)):
        from lib.app.paging import merge_maps
        from lib.state.records import rebase

        dump = {instance: track.model_dump(mode="json") for instance, track in settled.items()}
        base = {instance: track.model_dump(mode="json") for instance, track in tracks.items()}
        stamp = state.started.isoformat()

        def merged(current: dict[str, Any]) -> dict[str, Any]:
            theirs = current.get("instances", {})
            return {"instances": merge_maps(base, dump, theirs), "written_at": stamp}

        wanted = {"instances": dump, "written_at": stamp}
        state.updates.append((name, rebase(record.value, wanted, merged)))


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
