"""How a missed run reads (lib.core.missed): its subject and its "last run / next was due" line.

Kept apart from :mod:`lib.notify.render` (which calls it) so the two change independently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lib.core.alerts import Alert
from lib.core.missed import UNSCHEDULED
from lib.notify.instance import asleep_status

__all__ = ["missed_line", "missed_subject"]

_TEXT = {
    "zh": {
        "firing": "周期任务漏跑：{name}",
        "resolved": "周期任务已恢复执行：{name}",
        "asleep": "周期任务漏跑告警关闭（实例{status}）：{name}",
        "unscheduled": "周期任务漏跑告警关闭（任务已不再调度）：{name}",
        "line": "上次执行：{last} · 下次应在：{due}",
        "never": "从未执行",
        "widened": "（cron 未指定时区，按实例时钟执行：取各时区中最晚的时间，宽限已放宽）",
    },
    "en": {
        "firing": "Missed runs: {name}",
        "resolved": "Runs again: {name}",
        "asleep": "Missed runs closed, instance {status}: {name}",
        "unscheduled": "Missed runs closed, the task is no longer scheduled: {name}",
        "line": "Last run: {last} · next was due: {due}",
        "never": "never ran",
        "widened": " (a cron without a time zone runs on the instance's clock: the latest "
        "time any zone allows, grace widened)",
    },
}


def missed_subject(
    alert: Alert,
    lang: str,
    resolved: bool,
    code: Callable[[str], str] = lambda text: f"`{text}`",
) -> str:
    """The heading's subject of a missed-run alert (``code``: the receiver's code span)."""
    t = _TEXT["zh" if lang == "zh" else "en"]
    finding = alert.finding
    name = code(finding.name or finding.command_id or finding.invoke_id)
    if not resolved:
        return t["firing"].format(name=name)
    if finding.status == UNSCHEDULED:
        return t["unscheduled"].format(name=name)
    status = asleep_status(finding, lang)
    if status:
        return t["asleep"].format(name=name, status=status)
    return t["resolved"].format(name=name)


def missed_line(alert: Alert, lang: str, when: Callable[[datetime | None], str]) -> str:
    """``Last run: … · next was due: …`` (and why the due time is late, for a zoneless cron)."""
    t = _TEXT["zh" if lang == "zh" else "en"]
    last = when(alert.finding.finished_at) if alert.finding.finished_at else t["never"]
    line = t["line"].format(last=last, due=when(alert.due_at))
    return line + (t["widened"] if alert.due_widened else "")
