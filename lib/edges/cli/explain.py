"""The run report in words: one line per figure, zh or en (``make demo``, ``assistwatch run``).

The report's keys are a public contract (README "Entry points"); this module says what each
number means to a person reading it, and only for the figures that are not zero, so the
lines stay few. A key the report grows later is shown as ``key: value`` until it is
described here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIGURES", "explain", "headline"]

# key → (zh, en). Order is the order a reader follows: seen, decided, told, cost.
FIGURES: dict[str, tuple[str, str]] = {
    "records": (
        "条执行记录被查看（实例 × 执行）",
        "execution records examined (instance × invocation)",
    ),
    "findings": ("条是失败的执行", "of them failed"),
    "baseline": (
        "条较早的失败（超出回看窗口）只记录为基线，不发送",
        "older failures (before the lookback) recorded silently as the baseline",
    ),
    "known": ("条失败之前的运行已处理过", "failures an earlier run already handled"),
    "expected": (
        "条退出码是路由文件预期的，不算失败",
        "exit codes the routing file expects (not failures)",
    ),
    "alerts": (
        "个告警决定本次发送（含提醒）",
        "alerts decided to tell this run (reminders included)",
    ),
    "reminders": ("个是仍未恢复的提醒", "of them reminders that an alert is still open"),
    "silenced": ("个被静默规则屏蔽", "muted by a silence"),
    "suppressed": (
        "个已发送过，或正由并发的运行发送",
        "already told, or being told by a concurrent run",
    ),
    "messages_sent": ("条消息已发出", "messages sent"),
    "alerts_sent": ("个告警在这些消息中", "alerts carried by those messages"),
    "deferred": (
        "个留在发件箱，下次运行再发（机器人限速或发送失败）",
        "kept in the outbox for the next run (robot budget or a failed send)",
    ),
    "redelivered": ("个是之前运行留下、本次补发的", "left by earlier runs and delivered now"),
    "api_calls": ("次云助手 API 调用", "Cloud Assistant API calls"),
    "throttled": ("次调用被限流（已重试）", "calls throttled by Cloud Assistant (retried)"),
}
_SKIP = {"ok", "trigger", "request_id", "regions", "errors", "notes", "duration_ms", "claimed"}


def headline(report: Mapping[str, Any], lang: str = "en") -> str:
    """``ok · poll (timer) · cn-hangzhou · 412 ms`` (or ``FAILED · …``)."""
    status = (
        ("正常" if report.get("ok") else "失败")
        if lang == "zh"
        else ("ok" if report.get("ok") else "FAILED")
    )
    parts = [status, str(report.get("trigger") or "?")]
    regions = report.get("regions") or []
    if regions:
        parts.append(",".join(str(region) for region in regions))
    parts.append(f"{report.get('duration_ms', 0)} ms")
    return " · ".join(parts)


def explain(report: Mapping[str, Any], lang: str = "en") -> list[str]:
    """A line per non-zero figure, then each error and note; never a secret (none is in it)."""
    index = 0 if lang == "zh" else 1
    lines = []
    for key, words in FIGURES.items():
        value = report.get(key)
        if isinstance(value, int | float) and value:
            lines.append(f"{value:>6}  {words[index]}")
    for key, value in report.items():
        if key not in FIGURES and key not in _SKIP and isinstance(value, int | float) and value:
            lines.append(f"{value:>6}  {key}")
    if not lines:
        lines.append(
            "     0  "
            + ("没有新的失败，什么也没发送" if lang == "zh" else "nothing new, nothing sent")
        )
    error_word, note_word = ("错误", "说明") if lang == "zh" else ("error", "note")
    lines.extend(f"{error_word}: {error}" for error in report.get("errors") or [])
    lines.extend(f"{note_word}: {note}" for note in report.get("notes") or [])
    return lines
