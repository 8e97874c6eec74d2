"""Apply a verified link (lib.core.links) to the state store: silence, acknowledge, expire.

A link is applied once: the first POST claims it in the ``actions`` record, then makes its
silence (the same object as ``assistwatch silence add`` makes, matching that alert's
fingerprint only) or its acknowledgement; a second POST finds the claim and changes nothing.
Who, when and from where are kept with the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.core.links import SILENCE_SECONDS

if TYPE_CHECKING:
    from lib.core.links import Link
    from lib.state.base import StateStore

__all__ = [
    "GROUP_PREFIX",
    "UNTIL_RESOLVED_SECONDS",
    "Actor",
    "Applied",
    "apply_link",
    "split_target",
]

# "Until resolved" pins the silence to the alert's firing, so the next firing is told
# whatever the expiry; the expiry only bounds a firing that never resolves (a one-off).
UNTIL_RESOLVED_SECONDS = 30 * 86400.0
GROUP_PREFIX = "g:"  # lib.notify.actions.group_target
_NAME_MAX = 64
_AGENT_MAX = 200


@dataclass(frozen=True)
class Actor:
    """Who applied a link, as far as the request tells: the name is typed on the page."""

    ip: str
    user_agent: str
    name: str = ""

    def entry(self, now: float) -> dict[str, object]:
        return {
            "at": now,
            "ip": self.ip[:64],
            "user_agent": self.user_agent[:_AGENT_MAX],
            "name": " ".join(self.name.split())[:_NAME_MAX],
        }


@dataclass(frozen=True)
class Applied:
    """The outcome: what was done (or found done before), for the result page."""

    action: str
    result: str  # the silence's id, "acknowledged", "expired", "not found"
    again: bool = False  # the link had been applied already: nothing changed now
    at: float = 0.0


def split_target(target: str) -> tuple[str, int]:
    """``fingerprint.firing`` → (fingerprint, firing); ValueError when malformed."""
    fingerprint, _, firing = target.partition(".")
    number = int(firing or "1")
    if not fingerprint or number < 1:
        raise ValueError("bad link target")
    return fingerprint, number


def apply_link(
    store: StateStore, link: Link, actor: Actor, now: float, *, lang: str = "en"
) -> Applied:
    """Apply ``link`` once; later calls report the first application and change nothing.
    ``lang``: the language of a silence's reason (``silence list``, the operator page)."""
    from lib.state.actions import claim_link, record_result

    entry = {**actor.entry(now), "action": link.action, "target": link.target}
    earlier = claim_link(store, link.id, entry)
    if earlier is not None:
        return Applied(
            link.action,
            str(earlier.get("result", "")),
            again=True,
            at=float(earlier.get("at", 0.0)),
        )
    result = _effect(store, link, actor, now, _REASONS.get(lang, _REASONS["en"]))
    record_result(store, link.id, result)
    return Applied(link.action, result, at=now)


_REASONS = {
    "en": {
        "cause": "silenced from a message's link for {h}h (whole cause)",
        "resolved": "silenced from a message's link until this alert resolves",
        "timed": "silenced from a message's link for {h}h",
    },
    "zh": {
        "cause": "从告警消息的链接静默 {h} 小时（整组）",
        "resolved": "从告警消息的链接静默到恢复",
        "timed": "从告警消息的链接静默 {h} 小时",
    },
}


def _effect(store: StateStore, link: Link, actor: Actor, now: float, words: dict[str, str]) -> str:
    from lib.state.actions import record_ack
    from lib.state.silences import add_silence, expire_silence

    who = actor.entry(now)
    by = str(who["name"]) or f"link from {who['ip']}"
    if link.action == "expire":
        return "expired" if expire_silence(store, link.target, now) else "not found"
    if link.target.startswith(GROUP_PREFIX):
        group = link.target[len(GROUP_PREFIX) :]
        if link.action == "ack":
            record_ack(store, link.target, 0, who)  # every firing of the cause open now
            return "acknowledged"
        match: dict[str, object] = {"group": group}
        duration = SILENCE_SECONDS.get(link.action, 0.0)
        if not duration:
            raise ValueError("a cause's link silences for a time only")
        silence = add_silence(
            store,
            match,
            reason=words["cause"].format(h=int(duration // 3600)),
            duration_seconds=duration,
            now=now,
            created_by=by,
        )
        return silence.id
    fingerprint, firing = split_target(link.target)
    if link.action == "ack":
        record_ack(store, fingerprint, firing, who)
        return "acknowledged"
    match = {"fingerprint": fingerprint}
    if link.action == "silence-resolved":
        match["firing"] = firing
        duration = UNTIL_RESOLVED_SECONDS
        reason = words["resolved"]
    else:
        duration = SILENCE_SECONDS[link.action]
        reason = words["timed"].format(h=int(duration // 3600))
    silence = add_silence(
        store, match, reason=reason, duration_seconds=duration, now=now, created_by=by
    )
    return silence.id
