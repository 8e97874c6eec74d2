"""The operator page (and an alert's detail page): silences with expire buttons, what was
acknowledged, the actions applied from links (who, when, from where). Reads the store only.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from lib.core.links import OPS_TTL_SECONDS
from lib.edges.pages import TEXT, expire_form, ops_page, when

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from lib.core.links import Signer
    from lib.state.base import StateStore
    from lib.support.settings import Settings

__all__ = ["operator_page"]


def _code(text: object) -> str:
    return f"<code>{escape(str(text))}</code>"


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
    from lib.state.actions import RECORD, acknowledged
    from lib.state.silences import list_silences

    lang = settings.lang
    t = TEXT[lang]
    silences = [
        s for s in list_silences(store, now) if only is None or s.match.get("fingerprint") == only
    ]
    silence_rows = []
    for silence in silences:
        link = signer.sign("expire", silence.id, now + OPS_TTL_SECONDS)
        url = signer.url("expire", silence.id, now + OPS_TTL_SECONDS)
        match = ", ".join(f"{k}={v}" for k, v in sorted(silence.match.items()))
        silence_rows.append(
            [
                _code(silence.id),
                _code(match) + f'<div class="small">{escape(silence.reason)}</div>',
                escape(when(silence.expires_at, zone)),
                escape(silence.created_by or ""),
                expire_form(url, signer.csrf(link), t["expire"]),
            ]
        )
    value = store.read(RECORD).value
    acks = [
        [
            _code(f"{fp} · {t['firing'].format(n=ack.get('firing', '?'))}"),
            escape(when(float(ack.get("at", 0.0)), zone)),
            escape(str(ack.get("name") or ack.get("ip") or "")),
        ]
        for fp, ack in sorted(
            acknowledged(value).items(), key=lambda kv: -float(kv[1].get("at", 0))
        )
        if only is None or fp == only
    ]
    applied_items = value.get("applied") if isinstance(value.get("applied"), dict) else {}
    entries = [e for e in (applied_items or {}).values() if isinstance(e, dict)]
    entries = [
        e for e in entries if only is None or str(e.get("target", "")).partition(".")[0] == only
    ]
    entries.sort(key=lambda e: -float(e.get("at", 0.0)))
    applied = [
        [
            escape(when(float(e.get("at", 0.0)), zone)),
            escape(f"{t.get(str(e.get('action')), str(e.get('action')))} → {e.get('result', '…')}")
            + f'<div class="small">{_code(e.get("target", ""))}</div>',
            escape(str(e.get("name") or "")),
            escape(f"{e.get('ip', '')} · {e.get('user_agent', '')}"),
        ]
        for e in entries[:50]
    ]
    lead = f"<p>{t['alert']}: {_code(only)}</p>" if only else ""
    return ops_page(
        lang,
        title_key="detail" if only else "ops",
        lead=lead,
        silences=silence_rows,
        acks=acks,
        applied=applied,
    )
