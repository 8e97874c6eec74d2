"""The action links a firing message carries (静默 1 小时 / 静默 1 天 / 静默到恢复 / 确认 / 详情),
as markdown every robot renders (DingTalk markdown, WeCom markdown, Feishu card lark_md).

A message about a few alerts carries links per alert; one about many alerts of one cause (a
task failing on many instances: the alerts share their group, the invocation) carries one line
for the whole cause, so it stays within the robot's size limit; one command failing in several
invocations (read by cause) carries a line per invocation, the largest few; a digest of many
causes carries links for its first few alerts, and the operator page has the rest. Every firing message ends with a link to the operator
page (valid a day). Resolved messages carry none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lib.core.links import LINK_TTL_SECONDS, OPS_TTL_SECONDS

if TYPE_CHECKING:
    from lib.core.links import ActionLinks

if TYPE_CHECKING:
    from lib.core.alerts import Alert
    from lib.core.notification import Notification

__all__ = ["GROUPS_MAX", "PER_ALERT_MAX", "Decorations", "action_lines", "group_target"]

PER_ALERT_MAX = 3  # more firing alerts in one message: one line of links for the group
GROUPS_MAX = 5  # a message read by cause over several invocations: a line for each of these
_ALERT_ACTIONS = ("silence-1h", "silence-1d", "silence-resolved", "ack", "detail")
# A group's "until resolved" would need every member's firing: the group line offers the
# timed silences, acknowledge and the detail page (where each instance has its own links).
_GROUP_ACTIONS = ("silence-1h", "silence-1d", "ack", "detail")
_LABELS = {
    "zh": {
        "silence-1h": "静默 1 小时",
        "silence-1d": "静默 1 天",
        "silence-resolved": "静默到恢复",
        "ack": "确认",
        "detail": "详情",
        "ops": "告警总览",
        "actions": "操作",
        "group_actions": "整组操作（{n} 个）",
        "cause_actions": "{invoke} 的 {n} 个",
        "more_groups": "- 另有 {n} 组：见告警总览",
    },
    "en": {
        "silence-1h": "Silence 1h",
        "silence-1d": "Silence 1d",
        "silence-resolved": "Silence until resolved",
        "ack": "Acknowledge",
        "detail": "Details",
        "ops": "Open alerts",
        "actions": "Actions",
        "group_actions": "For the whole group ({n})",
        "cause_actions": "The {n} of {invoke}",
        "more_groups": "- {n} more groups: see Open alerts",
    },
}


def group_target(group: str) -> str:
    """A link target naming every alert of one cause (``g:`` + the alerts' ``group``)."""
    return f"g:{group}"


def _line(links: ActionLinks, label: str, actions: Sequence[str], target: str, lang: str) -> str:
    words = _LABELS[lang]
    expires = links.clock() + LINK_TTL_SECONDS
    shown = " | ".join(
        f"[{words[action]}]({links.signer.url(action, target, expires)})" for action in actions
    )
    return f"- {label}{'：' if lang == 'zh' else ': '}{shown}"


def _cause_lines(firing: Sequence[Alert], links: ActionLinks, lang: str) -> str:
    """A line of links per invocation (the first few, most instances first), one per alert
    for an invocation of one instance."""
    words = _LABELS[lang]
    members: dict[str, list[Alert]] = {}
    for alert in firing:
        members.setdefault(alert.group, []).append(alert)
    ordered = sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
    lines = []
    for group, alerts in ordered[:GROUPS_MAX]:
        # An id from the cloud: only its id characters go into the markdown label.
        invoke = re.sub(r"[^\w.:-]", "", alerts[0].finding.invoke_id or group)[:64]
        label = words["cause_actions"].format(n=len(alerts), invoke=f"`{invoke}`")
        if len(alerts) == 1:
            target = f"{alerts[0].fingerprint}.{alerts[0].firing}"
            lines.append(_line(links, label, _ALERT_ACTIONS, target, lang))
        else:
            lines.append(_line(links, label, _GROUP_ACTIONS, group_target(group), lang))
    if len(ordered) > GROUPS_MAX:
        lines.append(words["more_groups"].format(n=len(ordered) - GROUPS_MAX))
    return "\n".join(lines)


@dataclass(frozen=True)
class Decorations:
    """What a firing message gains: a line under some listed alerts (by index), a line for
    the whole group (first), and the operator page's link (last)."""

    per_alert: dict[int, str] = field(default_factory=dict)
    group: str | None = None
    footer: str | None = None


def action_lines(
    notification: Notification, listed: Sequence[Alert], links: ActionLinks, lang: str
) -> Decorations:
    """The links for ``notification`` whose first alerts ``listed`` get entries of their own."""
    firing = [alert for alert in notification.alerts if alert.status == "firing"]
    if not firing:
        return Decorations()
    words = _LABELS[lang]
    per_alert: dict[int, str] = {}
    group = None
    causes = {alert.group for alert in firing}  # the alerts' own group: one invocation
    if len(firing) > PER_ALERT_MAX and len(causes) == 1:
        label = words["group_actions"].format(n=len(firing))
        group = _line(links, label, _GROUP_ACTIONS, group_target(causes.pop()), lang)
    elif not listed:
        # Read by cause (lib.notify.signatures) across several invocations: no alert has an
        # entry of its own, so each invocation gets its line (its 详情 lists every instance).
        group = _cause_lines(firing, links, lang)
    else:
        # A few alerts, or a digest of several causes: links for the first few listed.
        shown = [i for i, alert in enumerate(listed) if alert.status == "firing"]
        for index in shown[:PER_ALERT_MAX]:
            alert = listed[index]
            target = f"{alert.fingerprint}.{alert.firing}"
            per_alert[index] = _line(links, words["actions"], _ALERT_ACTIONS, target, lang)
    ops = links.signer.url("ops", "all", links.clock() + OPS_TTL_SECONDS)
    return Decorations(per_alert, group, f"[{words['ops']}]({ops})")
