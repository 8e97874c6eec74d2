"""The actions a firing message carries (静默 1 小时 / 静默 1 天 / 静默到恢复 / 确认 / 详情), as
rows of :class:`Button` (label from the catalogue below, signed URL): markdown links for
DingTalk and WeCom, card buttons for Feishu (lib.notify.feishu_card), which falls back to the
same markdown links when the buttons would not fit.

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

from lib.core.links import ACTION_LABELS, LINK_TTL_SECONDS, OPS_TTL_SECONDS

if TYPE_CHECKING:
    from lib.core.alerts import Alert
    from lib.core.links import ActionLinks
    from lib.core.notification import Notification

__all__ = [
    "GROUPS_MAX",
    "PER_ALERT_MAX",
    "ActionRow",
    "Button",
    "Decorations",
    "action_lines",
    "group_target",
]

PER_ALERT_MAX = 3  # more firing alerts in one message: one line of links for the group
GROUPS_MAX = 5  # a message read by cause over several invocations: a line for each of these
_ALERT_ACTIONS = ("silence-1h", "silence-1d", "silence-resolved", "ack", "detail")
# A group's "until resolved" would need every member's firing: the group line offers the
# timed silences, acknowledge and the detail page (where each instance has its own links).
_GROUP_ACTIONS = ("silence-1h", "silence-1d", "ack", "detail")
_LABELS = {
    "zh": {
        **ACTION_LABELS["zh"],
        "actions": "操作",
        "group_actions": "整组操作（{n} 个）",
        "cause_actions": "{invoke} 的 {n} 个",
        "more_groups": "另有 {n} 组：见告警总览",
    },
    "en": {
        **ACTION_LABELS["en"],
        "actions": "Actions",
        "group_actions": "For the whole group ({n})",
        "cause_actions": "The {n} of {invoke}",
        "more_groups": "{n} more groups: see Open alerts",
    },
}


def group_target(group: str) -> str:
    """A link target naming every alert of one cause (``g:`` + the alerts' ``group``)."""
    return f"g:{group}"


@dataclass(frozen=True)
class Button:
    """One action: its label (from the catalogue above, never cloud text) and signed URL."""

    action: str
    label: str
    url: str

    def markdown(self) -> str:
        return f"[{self.label}]({self.url})"


@dataclass(frozen=True)
class ActionRow:
    """A row of actions under an alert or for a whole cause, or the operator page's link.

    ``label`` introduces the row in markdown ("操作", "整组操作（40 个）"); ``titled`` rows (a
    cause's) also show it above their buttons on a card; ``bullet`` is False for the footer,
    which is a bare link.
    """

    label: str
    buttons: tuple[Button, ...]
    lang: str = "zh"
    titled: bool = False
    bullet: bool = True

    def markdown(self) -> str:
        """The row as markdown links, the form every robot renders."""
        shown = " | ".join(button.markdown() for button in self.buttons)
        if not self.buttons:  # a line that only counts what was left out
            return f"- {self.label}"
        if not self.bullet:
            return shown
        return f"- {self.label}{'：' if self.lang == 'zh' else ': '}{shown}"


def _row(
    links: ActionLinks,
    label: str,
    actions: Sequence[str],
    target: str,
    lang: str,
    *,
    titled: bool = False,
) -> ActionRow:
    words = _LABELS[lang]
    expires = links.clock() + LINK_TTL_SECONDS
    buttons = tuple(
        Button(action, words[action], links.signer.url(action, target, expires))
        for action in actions
    )
    return ActionRow(label, buttons, lang, titled=titled)


def _cause_rows(firing: Sequence[Alert], links: ActionLinks, lang: str) -> tuple[ActionRow, ...]:
    """A row per invocation (the first few, most instances first), an alert's own row for an
    invocation of one instance; then a line counting the invocations left out."""
    words = _LABELS[lang]
    members: dict[str, list[Alert]] = {}
    for alert in firing:
        members.setdefault(alert.group, []).append(alert)
    ordered = sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
    rows = []
    for group, alerts in ordered[:GROUPS_MAX]:
        # An id from the cloud: only its id characters go into the markdown label.
        invoke = re.sub(r"[^\w.:-]", "", alerts[0].finding.invoke_id or group)[:64]
        label = words["cause_actions"].format(n=len(alerts), invoke=f"`{invoke}`")
        if len(alerts) == 1:
            target = f"{alerts[0].fingerprint}.{alerts[0].firing}"
            rows.append(_row(links, label, _ALERT_ACTIONS, target, lang, titled=True))
        else:
            rows.append(_row(links, label, _GROUP_ACTIONS, group_target(group), lang, titled=True))
    if len(ordered) > GROUPS_MAX:
        more = words["more_groups"].format(n=len(ordered) - GROUPS_MAX)
        rows.append(ActionRow(more, (), lang))
    return tuple(rows)


@dataclass(frozen=True)
class Decorations:
    """What a firing message gains: a row under some listed alerts (by index), rows for
    the whole group or for each invocation read by cause (first), and the operator page's
    link (last)."""

    per_alert: dict[int, ActionRow] = field(default_factory=dict)
    groups: tuple[ActionRow, ...] = ()
    footer: ActionRow | None = None


def action_lines(
    notification: Notification, listed: Sequence[Alert], links: ActionLinks, lang: str
) -> Decorations:
    """The actions for ``notification`` whose first alerts ``listed`` get rows of their own."""
    firing = [alert for alert in notification.alerts if alert.status == "firing"]
    if not firing:
        return Decorations()
    words = _LABELS[lang]
    per_alert: dict[int, ActionRow] = {}
    groups: tuple[ActionRow, ...] = ()
    causes = {alert.group for alert in firing}  # the alerts' own group: one invocation
    if len(firing) > PER_ALERT_MAX and len(causes) == 1:
        label = words["group_actions"].format(n=len(firing))
        target = group_target(causes.pop())
        groups = (_row(links, label, _GROUP_ACTIONS, target, lang, titled=True),)
    elif not listed:
        # Read by cause (lib.notify.signatures) across several invocations: no alert has an
        # entry of its own, so each invocation gets its row (its 详情 lists every instance).
        groups = _cause_rows(firing, links, lang)
    else:
        # A few alerts, or a digest of several causes: rows for the first few listed.
        shown = [i for i, alert in enumerate(listed) if alert.status == "firing"]
        for index in shown[:PER_ALERT_MAX]:
            alert = listed[index]
            target = f"{alert.fingerprint}.{alert.firing}"
            per_alert[index] = _row(links, words["actions"], _ALERT_ACTIONS, target, lang)
    ops = links.signer.url("ops", "all", links.clock() + OPS_TTL_SECONDS)
    footer = ActionRow(words["ops"], (Button("ops", words["ops"], ops),), lang, bullet=False)
    return Decorations(per_alert, groups, footer)
