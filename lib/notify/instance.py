"""The instance beside its id in a message: its name, and its status when it is not running.

Kept apart from :mod:`lib.notify.render` (which calls it) so the two change independently.
The name is the user's own text from DescribeInstances: it is shown in a code span with its
line breaks folded, through the receiver's escaping (lib.notify.escape), so it cannot
break the message's markup; so is a status DescribeInstances does not document.
"""

from __future__ import annotations

from collections.abc import Callable

from lib.core.findings import Finding
from lib.core.fleet import RELEASED, SLEEPING_STATUSES

__all__ = ["asleep_status", "instance_context"]

_NAME_LIMIT = 64  # ECS instance names are 2..128 characters; a message needs the start only
_STATUS_ZH = {
    "Pending": "创建中",
    "Running": "运行中",
    "Starting": "启动中",
    "Stopping": "停止中",
    "Stopped": "已停止",
    RELEASED: "已释放",
}


def _status(status: str, lang: str) -> str:
    return _STATUS_ZH.get(status, status) if lang == "zh" else status.lower()


def instance_context(
    finding: Finding, lang: str, code: Callable[[str], str] = lambda text: f"`{text}`"
) -> str:
    """`` · `name` · stopped`` (after the id); empty when nothing is known or worth adding.

    ``code`` shows the name as the receiver's flavour shows cloud text (lib.notify.escape).
    """
    parts: list[str] = []
    name = " ".join((finding.instance_name or "").split())
    if name and name != finding.instance_id:
        cut = name[:_NAME_LIMIT] + ("…" if len(name) > _NAME_LIMIT else "")
        parts.append(code(cut))
    status = finding.instance_status
    if status in _STATUS_ZH and status != "Running":  # a documented state, in our words
        parts.append(f"**{_status(status, lang)}**")
    elif status and status != "Running":  # anything else is cloud text: shown as code
        parts.append(code(" ".join(status.split())[:_NAME_LIMIT]))
    return "".join(f" · {part}" for part in parts)


def asleep_status(finding: Finding, lang: str) -> str | None:
    """The status that closed an agent alert (stopped, released …); None if it did not."""
    status = finding.instance_status
    if status in SLEEPING_STATUSES or status == RELEASED:
        return _status(status, lang)
    return None
