"""The operator page (and one alert's detail page): open alerts (firing, acknowledged,
silenced), silences with expire buttons, the last runs, and each alert's story (fired,
reminded, resolved from the journal; acknowledged, silenced from the links, with who and
when). Reads the store only; every value is escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from lib.core.links import LINK_TTL_SECONDS, OPS_TTL_SECONDS
from lib.edges.pages import TEXT, expire_form, ops_page, when

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from lib.core.links import Signer
    from lib.core.silences import Silence
    from lib.state.base import StateStore
    from lib.support.settings import Settings

__all__ = ["about_alert", "about_cause", "operator_page"]

_OPEN_FOR_DAYS = 7  # a one-off failure never resolves: the page lists the last week's


def _code(text: object) -> str:
    return f"<code>{escape(str(text))}</code>"


def _applied(value: dict[str, Any]) -> list[dict[str, Any]]:
    items = value.get("applied") if isinstance(value.get("applied"), dict) else {}
    entries = [e for e in (items or {}).values() if isinstance(e, dict)]
    return sorted(entries, key=lambda e: -float(e.get("at", 0.0)))


def _silence_rows(  # noqa: PLR0917 - private, called once
    silences: list[Silence],
    stories: dict[str, Any],
    signer: Signer,
    now: float,
    zone: ZoneInfo,
    t: dict[str, str],
) -> list[list[str]]:
    from lib.app.journal import mutes

    rows = []
    for silence in silences:
        link = signer.sign("expire", silence.id, now + OPS_TTL_SECONDS)
        url = signer.url("expire", silence.id, now + OPS_TTL_SECONDS)
        match = ", ".join(f"{k}={v}" for k, v in sorted(silence.match.items()))
        alert = mutes(silence.match, {"alerts": stories})
        rows.append(
            [
                _code(silence.id),
                (f"{_code(alert)}<br>" if alert else "")
                + _code(match)
                + f'<div class="small">{escape(silence.reason)}</div>',
                escape(when(silence.expires_at, zone)),
                escape(silence.created_by or ""),
                expire_form(url, signer.csrf(link), t["expire"]),
            ]
        )
    return rows


def _detail_link(
    signer: Signer, fp: str, entry: dict[str, Any], now: float, t: dict[str, str]
) -> str:
    target = f"{fp}.{entry.get('firing', 1)}"
    url = signer.url("detail", target, now + LINK_TTL_SECONDS)
    return f'<a href="{escape(url)}">{escape(t["detail"])}</a>'


def _action_links(
    signer: Signer, fp: str, entry: dict[str, Any], now: float, t: dict[str, str]
) -> str:
    """Per-instance actions (each opens its confirmation page)."""
    target = f"{fp}.{entry.get('firing', 1)}"
    links = [
        f'<a href="{escape(signer.url(action, target, now + LINK_TTL_SECONDS))}">'
        f"{escape(t[action])}</a>"
        for action in ("silence-1h", "silence-1d", "silence-resolved", "ack")
    ]
    return f'<div class="small">{" · ".join(links)}</div>'


def _cause(cause: str | None, t: dict[str, str]) -> str:
    return f"<p>{t['cause']}: {_code(cause)}</p>" if cause is not None else ""


def _state_of(fp: str, entry: dict[str, Any], acks: dict[str, Any], muted: set[str]) -> str:
    if fp in muted or f"g:{entry.get('group')}" in muted:
        return "silenced"
    ack = acks.get(fp)
    if ack is not None and ack.get("firing") == entry.get("firing"):
        return "acknowledged"
    cause = acks.get(f"g:{entry.get('group')}")
    if cause is not None and float(cause.get("at", 0)) >= float(entry.get("starts_at", 0)):
        return "acknowledged"
    return "firing_state"


def _held_rows(
    store: StateStore, only: str | None, cause: str | None, zone: ZoneInfo, t: dict[str, str]
) -> list[list[str]]:
    """Alerts a maintenance window holds (lib.app.muting), with when they will be told."""
    from lib.app.muting import RECORD as MUTED

    held = store.read(MUTED).value.get("held")
    rows: list[list[str]] = []
    for raw in (held if isinstance(held, dict) else {}).values():
        alert = raw.get("alert") if isinstance(raw, dict) else None
        if not isinstance(alert, dict) or not isinstance(alert.get("finding"), dict):
            continue
        finding = alert["finding"]
        if only is not None and alert.get("fingerprint") != only and alert.get("group") != cause:
            continue
        until = raw.get("until")
        shown = (
            when(datetime.fromisoformat(until).timestamp(), zone) if isinstance(until, str) else "-"
        )
        state = t["held"].format(receiver=raw.get("receiver", ""), until=shown)
        rows.append(
            [
                _code(finding.get("name") or finding.get("command_id") or "-"),
                _code(finding.get("instance_id", "")),
                escape(state),
                "",
            ]
        )
    return rows


def operator_page(
    settings: Settings,
    signer: Signer,
    store: StateStore,
    now: float,
    zone: ZoneInfo,
    *,
    only: str | None = None,
) -> str:
    """The page's HTML; ``only`` narrows it to one fingerprint (the 详情 page)."""
    from lib.app.journal import RECORD as JOURNAL
    from lib.app.journal import open_alerts
    from lib.state.actions import RECORD, acknowledged
    from lib.state.silences import list_silences

    lang = settings.lang
    t = TEXT[lang]
    journal = store.read(JOURNAL).value
    stories = journal.get("alerts") if isinstance(journal.get("alerts"), dict) else {}
    value = store.read(RECORD).value
    acks = acknowledged(value)
    every = list_silences(store, now)
    muted = {
        str(s.match.get("fingerprint") or f"g:{s.match.get('group')}")
        for s in every
        if s.active(now) and ("fingerprint" in s.match or "group" in s.match)
    }
    cause = only[2:] if only and only.startswith("g:") else None  # a whole invocation's 详情
    story = (stories or {}).get(only) if only and cause is None else None
    group = only if cause is not None else None
    if isinstance(story, dict):
        group = f"g:{story.get('group')}"
    silences = [
        s
        for s in every
        if only is None
        or s.match.get("fingerprint") == only
        or (group and f"g:{s.match.get('group')}" == group)
    ]
    cutoff = now - _OPEN_FOR_DAYS * 86400
    opened = [
        [
            _code(entry.get("name") or "-")
            + f'<div class="small">{escape(str(entry.get("code", "")))}</div>',
            _code(entry.get("instance_id", "")),
            escape(t[_state_of(fp, entry, acks, muted)]),
            _detail_link(signer, fp, entry, now, t) + _action_links(signer, fp, entry, now, t),
        ]
        for fp, entry in open_alerts(journal).items()
        if float(entry.get("updated_at", 0)) >= cutoff
        and (only is None or fp == only or (cause is not None and entry.get("group") == cause))
    ]
    opened += _held_rows(store, only, cause, zone, t)
    events: list[tuple[float, str, str]] = []
    if only:
        for event in (story or {}).get("events", []):
            kind = str(event.get("kind", ""))
            events.append((float(event.get("at", 0)), t.get(kind, kind), ""))
    for entry in _applied(value):
        target = str(entry.get("target", ""))
        if only is None or target.partition(".")[0] == only or target == group:
            events.append(
                (
                    float(entry.get("at", 0.0)),
                    f"{t.get(str(entry.get('action')), str(entry.get('action')))} → "
                    f"{entry.get('result', '…')}",
                    f"{entry.get('name') or ''} · {entry.get('ip', '')} · "
                    f"{entry.get('user_agent', '')}",
                )
            )
    events.sort(key=lambda e: -e[0])
    history = [[escape(when(at, zone)), escape(what), escape(who)] for at, what, who in events[:50]]
    runs = [
        [
            escape(when(float(r.get("at", 0)), zone)),
            escape(
                t["run_line"].format(
                    trigger=r.get("trigger", ""),
                    ok=t["run_ok"] if r.get("ok") else t["run_errors"],
                    alerts=r.get("alerts", 0),
                    silenced=r.get("silenced", 0),
                    ms=r.get("duration_ms", 0),
                )
            ),
        ]
        for r in reversed([r for r in journal.get("runs", []) if isinstance(r, dict)][-10:])
    ]
    return ops_page(
        lang,
        title_key="detail" if only else "ops",
        lead=_detail(story, only, t, zone) if only and cause is None else _cause(cause, t),
        opened=opened,
        silences=_silence_rows(silences, stories or {}, signer, now, zone, t),
        history=history,
        runs=[] if only else runs,
        generated=escape(when(now, zone)),
    )


def _status(story: dict[str, Any], t: dict[str, str]) -> str:
    """The story's status in the page's language (the journal keeps firing / resolved)."""
    status = str(story.get("status", ""))
    return t.get({"firing": "firing_state"}.get(status, status), status)


def _story_rows(
    story: dict[str, Any], fingerprint: str | None, t: dict[str, str], zone: ZoneInfo
) -> list[tuple[str, str]]:
    """The alert's fields as (label, escaped HTML) rows: the 详情 page and the confirmation."""
    started = datetime.fromtimestamp(float(story.get("starts_at", 0)), timezone.utc)
    return [
        (t["alert"], _code(fingerprint)),
        (t["command"], _code(story.get("name") or "-")),
        (
            t["instance"],
            _code(f"{story.get('instance_id')} ({story.get('provider')} · {story.get('region')})"),
        ),
        (t["invoke"], _code(story.get("invoke_id", ""))),
        (t["code"], _code(story.get("code", "")) + f" · {escape(str(story.get('severity', '')))}"),
        (
            t["status"],
            escape(f"{_status(story, t)} · {t['firing'].format(n=story.get('firing', 1))}"),
        ),
        (t["since"], escape(when(started.timestamp(), zone))),
    ]


def _rows_table(rows: list[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


def about_alert(store: StateStore, fingerprint: str, lang: str, zone: ZoneInfo) -> str:
    """What a confirmation page says about the alert its link acts on (command, instance,
    error code, since), from the journal; empty when the journal does not know it."""
    from lib.app.journal import RECORD as JOURNAL

    stories = store.read(JOURNAL).value.get("alerts")
    story = stories.get(fingerprint) if isinstance(stories, dict) else None
    if not isinstance(story, dict):
        return ""
    t = TEXT[lang]
    wanted = {t["command"], t["instance"], t["code"], t["since"]}
    return _rows_table(
        [row for row in _story_rows(story, fingerprint, t, zone) if row[0] in wanted]
    )


def about_cause(store: StateStore, group: str, lang: str) -> str:
    """What a whole invocation's confirmation page says it acts on: its command and the
    instances the journal knows failing in it; empty when it knows none."""
    from lib.app.journal import RECORD as JOURNAL

    stories = store.read(JOURNAL).value.get("alerts")
    members = [
        story
        for story in (stories.values() if isinstance(stories, dict) else [])
        if isinstance(story, dict) and story.get("group") == group
    ]
    if not members:
        return ""
    t = TEXT[lang]
    ids = sorted({str(story.get("instance_id", "")) for story in members})
    shown = ", ".join(ids[:10]) + (f" … (+{len(ids) - 10})" if len(ids) > 10 else "")
    return _rows_table(
        [
            (t["command"], _code(members[0].get("name") or "-")),
            (t["instance"], f"{len(ids)} · {_code(shown)}"),
        ]
    )


def _detail(story: Any, fingerprint: str | None, t: dict[str, str], zone: ZoneInfo) -> str:
    """The alert's own fields and output tail (as the last message told them)."""
    if not isinstance(story, dict):
        return f"<p>{t['alert']}: {_code(fingerprint)}</p><p class='small'>{t['no_story']}</p>"
    table = _rows_table(_story_rows(story, fingerprint, t, zone))
    output = str(story.get("output") or "")
    shown = f"<h2>{t['output']}</h2><pre>{escape(output)}</pre>" if output else ""
    return f"{table}{shown}"
