"""What the operator page shows that no other record keeps: the last runs and each alert's
story (fired, reminded, resolved), in one versioned record (``journal``) with a TTL.

Kept only with actions on (the page is reached from the messages' links). A pass writes it
when it told something or failed, or when the newest run kept is older than a quarter hour
(so the page shows the watcher alive); a steady pass in between writes nothing. Bounded:
the last 30 runs of the last 7 days, the 200 most recent alerts and 20 events each. The 详情
page's output is the whole redacted output the alert carries (a Finding keeps the last 4,000
characters, lib.core.findings.OUTPUT_LIMIT; a message shows 2,000 bytes of it), newest alerts
first, up to 512 KB for all; older alerts keep their last 1,000 bytes, so the record stays far
below Table Store's 2 MB a column. Acknowledgements and silences from links are in the ``actions`` record
and merged in by the page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert

__all__ = ["RECORD", "bounded", "keep_run", "mutes", "open_alerts", "resolved_for"]

RECORD = "journal"
_RUNS = 30
_RUN_TTL = timedelta(days=7)
_ALERTS = 200
_EVENTS = 20
_OUTPUT_BYTES = 16 * 1024  # a Finding's 4,000 characters (OUTPUT_LIMIT), 4 bytes at most each
_OUTPUT_BUDGET = 512 * 1024  # for every alert's output together, newest alerts first
_OLD_OUTPUT_BYTES = 1000  # what an alert past the budget keeps
_ALIVE_EVERY = timedelta(minutes=15)


def _summary(alert: Alert) -> dict[str, Any]:
    from lib.support.redact import redact_text

    finding = alert.finding
    output = _tail(redact_text(finding.output or ""), _OUTPUT_BYTES)
    return {
        "name": finding.name or finding.command_id or "",
        "subject": alert.subject,
        "instance_id": finding.instance_id,
        "provider": finding.provider,
        "region": finding.region,
        "invoke_id": finding.invoke_id,
        "code": finding.classification.code,
        "severity": finding.classification.severity,
        "group": alert.group,
        "output": output,
    }


def _tail(text: str, limit: int) -> str:
    """The last ``limit`` bytes of ``text`` (errors are printed last), marked when cut."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return "…" + raw[-limit:].decode("utf-8", errors="ignore")


def _stored(text: str) -> int:
    """Bytes ``text`` takes in the record as stored (JSON: a line break or a quote, two)."""
    import json

    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def bounded(alerts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest ``_ALERTS`` alerts, outputs whole while ``_OUTPUT_BUDGET`` lasts (newest
    first), older ones cut to their last ``_OLD_OUTPUT_BYTES``. Pure.

    Outputs lose their control bytes and escape codes, as the messages show them: a browser
    draws a NUL as a box, and in the record's JSON each would take six bytes (200 binary
    outputs came to 3 MB, past Table Store's 2 MB a column). The budget counts the bytes
    as stored.
    """
    from lib.notify.escape import clean

    newest_first = sorted(alerts.items(), key=lambda kv: -float(kv[1].get("updated_at", 0)))
    kept: dict[str, dict[str, Any]] = {}
    spent = 0
    for fingerprint, entry in newest_first[:_ALERTS]:
        output = entry.get("output")
        if not isinstance(output, str) or not output:
            kept[fingerprint] = entry
            continue
        output = clean(output)
        if spent + _stored(output) > _OUTPUT_BUDGET:
            output = _tail(output, _OLD_OUTPUT_BYTES)
        spent += _stored(output)
        kept[fingerprint] = {**entry, "output": output}
    return kept


def _event(alert: Alert) -> str:
    if alert.status == "resolved":
        return "resolved"
    return "reminded" if alert.reminder else "fired"


def keep_run(app: Context, state: Pass) -> None:
    """Fold this pass's report and the alerts it claimed into the journal (see module doc)."""
    from lib.state.records import update_record

    report = state.report
    claimed = [alert for alerts in state.won.values() for alert in alerts]
    now = state.started
    run = {
        "at": now.timestamp(),
        "trigger": report.trigger,
        "ok": report.ok,
        "alerts": report.alerts,
        "claimed": report.claimed,
        "silenced": report.silenced,
        "acknowledged": report.acknowledged,
        "errors": len(report.errors),
        "duration_ms": report.duration_ms,
    }
    busy = bool(claimed or report.errors)

    def change(value: dict[str, Any]) -> dict[str, Any] | None:
        runs = [r for r in value.get("runs", []) if isinstance(r, dict)]
        newest = max((float(r.get("at", 0)) for r in runs), default=0.0)
        if not busy and now.timestamp() - newest < _ALIVE_EVERY.total_seconds():
            return None
        cutoff = (now - _RUN_TTL).timestamp()
        runs = [*[r for r in runs if float(r.get("at", 0)) >= cutoff][-(_RUNS - 1) :], run]
        alerts = value.get("alerts") if isinstance(value.get("alerts"), dict) else {}
        alerts = dict(alerts or {})
        seen: set[str] = set()
        for alert in claimed:
            key = alert.key  # one event per firing/status/reminder, whatever the receivers
            entry = dict(alerts.get(alert.fingerprint) or {})
            events = [e for e in entry.get("events", []) if isinstance(e, dict)]
            if key in seen or any(e.get("key") == key for e in events):
                continue
            seen.add(key)
            events.append(
                {"key": key, "kind": _event(alert), "firing": alert.firing, "at": run["at"]}
            )
            entry.update(_summary(alert))
            entry.update(
                status=alert.status,
                ends_at=alert.ends_at.timestamp() if alert.ends_at else None,
                firing=alert.firing,
                starts_at=alert.starts_at.timestamp(),
                updated_at=run["at"],
                events=events[-_EVENTS:],
            )
            alerts[alert.fingerprint] = entry
        return {"runs": runs, "alerts": bounded(alerts)}

    update_record(app.store, RECORD, change, what="the journal record")


def open_alerts(value: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fingerprint → the alert's story, for alerts still firing (newest first)."""
    alerts = value.get("alerts") if isinstance(value.get("alerts"), dict) else {}
    found = {
        fp: entry
        for fp, entry in (alerts or {}).items()
        if isinstance(entry, dict) and entry.get("status") == "firing"
    }
    return dict(sorted(found.items(), key=lambda kv: -float(kv[1].get("updated_at", 0))))


def resolved_for(value: dict[str, Any], fingerprint: str, firing: int, now: float) -> float | None:
    """Seconds that firing of the alert has been resolved (None: open, or not known)."""
    alerts = value.get("alerts") if isinstance(value.get("alerts"), dict) else {}
    entry = (alerts or {}).get(fingerprint)
    if not isinstance(entry, dict) or entry.get("status") != "resolved":
        return None
    if entry.get("firing") != firing:
        return None
    ended = entry.get("ends_at") or entry.get("updated_at")
    return now - float(ended) if isinstance(ended, int | float) else None


def mutes(match: dict[str, object], value: dict[str, Any]) -> str:
    """The command and instance a silence matching ``match`` mutes (a fingerprint alone says
    nothing to a person), or the command of a silenced cause; empty when the journal (its
    ``value``) does not know it."""
    alerts = value.get("alerts") if isinstance(value.get("alerts"), dict) else {}
    stories = alerts or {}
    story = stories.get(str(match.get("fingerprint", "")))
    if isinstance(story, dict):
        return f"{story.get('name') or '-'} · {story.get('instance_id', '')}"
    group = match.get("group")
    for story in stories.values():
        if group is not None and isinstance(story, dict) and story.get("group") == group:
            return f"{story.get('name') or '-'} · {group}"
    return ""
