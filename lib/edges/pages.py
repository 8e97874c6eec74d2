"""The link pages' HTML: server-rendered, no script, no external asset, readable on a phone.

Every value that came from the cloud or from a person (command names, instance ids, names
typed on a page, user agents) is escaped here, once, with :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

from lib.core.links import ACTION_LABELS

__all__ = ["TEXT", "confirm_page", "message_page", "ops_page", "when"]

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        **ACTION_LABELS["zh"],
        "confirm_lead": "确认对这条告警执行以下操作：",
        "alert": "告警指纹",
        "cause": "整组（同一次执行的所有实例）",
        "firing": "第 {n} 次触发",
        "silence_id": "静默",
        "name": "你的名字（可选，会记录在案）",
        "done": "已完成",
        "again": "此链接已在 {at} 使用过，这次没有任何改动。",
        "result": "结果",
        "undo": "可在告警总览里提前结束，或运行 assistwatch silence expire {id}。",
        "refused": "无法执行",
        "refused_hint": "请从最新的告警消息中重新打开链接。",
        "why_refused": "此链接无法使用。",
        "why_incomplete": "链接不完整（可能在复制时被截断）。",
        "why_unknown_action": "链接中的操作无法识别。",
        "why_bad_expiry": "链接的有效期不是数字（链接被改动过）。",
        "why_signature": "链接签名不符（链接被改动过，或不是本部署签发的）。",
        "why_wrong_action": "此链接用于另一种操作。",
        "why_expired": "链接已过期。",
        "why_resolved": "这条告警已恢复超过一天，静默或确认链接已失效。",
        "why_look_only": "此链接只用于查看，不能执行操作。",
        "why_csrf": "表单令牌缺失或属于另一个链接（请重新打开链接，再点按钮）。",
        "slow": "请求太频繁",
        "slow_hint": "请 {n} 秒后再试。",
        "expires": "链接有效期至",
        "silences": "静默",
        "acks": "已确认",
        "applied": "最近的操作",
        "runs": "最近的运行",
        "run_line": "{trigger} · {ok} · 告警 {alerts} · 静默 {silenced} · {ms} ms",
        "run_ok": "正常",
        "run_errors": "出错",
        "none": "无",
        "until": "至",
        "by": "操作人",
        "when": "时间",
        "from": "来源",
        "match": "条件",
        "reason": "原因",
        "open": "未恢复的告警",
        "history": "经过",
        "command": "命令",
        "instance": "实例",
        "invoke": "执行 ID",
        "code": "错误码",
        "status": "状态",
        "since": "开始于",
        "output": "输出（末尾）",
        "firing_state": "告警中",
        "acknowledged": "已确认",
        "silenced": "已静默",
        "held": "维护窗口中暂缓（{receiver}），{until} 结束后仍未恢复则通知",
        "no_story": "这条告警还没有记录（页面只记录开启动作链接之后的告警）。",
        "generated": "生成于",
        "fired": "已告警",
        "reminded": "已提醒",
        "resolved": "已恢复",
    },
    "en": {
        **ACTION_LABELS["en"],
        "confirm_lead": "Apply this to the alert:",
        "alert": "Alert fingerprint",
        "cause": "Whole group (every instance of this invocation)",
        "firing": "firing {n}",
        "silence_id": "Silence",
        "name": "Your name (optional, recorded)",
        "done": "Done",
        "again": "This link was already used at {at}; nothing changed now.",
        "result": "Result",
        "undo": "End it early on the operator page, or with assistwatch silence expire {id}.",
        "refused": "Not allowed",
        "refused_hint": "Open the link again from the latest alert message.",
        "why_refused": "This link cannot be used.",
        "why_incomplete": "this link is incomplete",
        "why_unknown_action": "this link names an unknown action",
        "why_bad_expiry": "this link's expiry is not a number",
        "why_signature": "this link's signature does not match (altered or not ours)",
        "why_wrong_action": "this link is for another action",
        "why_expired": "this link has expired",
        "why_resolved": "this alert has been resolved for more than a day",
        "why_look_only": "this link only shows a page",
        "why_csrf": "the form token is missing or belongs to another link",
        "slow": "Too many requests",
        "slow_hint": "Try again in {n} seconds.",
        "expires": "Link valid until",
        "silences": "Silences",
        "acks": "Acknowledged",
        "applied": "Recent actions",
        "runs": "Recent runs",
        "run_line": "{trigger} · {ok} · alerts {alerts} · silenced {silenced} · {ms} ms",
        "run_ok": "ok",
        "run_errors": "errors",
        "none": "none",
        "until": "until",
        "by": "By",
        "when": "When",
        "from": "From",
        "match": "Match",
        "reason": "Reason",
        "open": "Open alerts",
        "history": "History",
        "command": "Command",
        "instance": "Instance",
        "invoke": "Invoke ID",
        "code": "Error code",
        "status": "Status",
        "since": "Since",
        "output": "Output (tail)",
        "firing_state": "firing",
        "acknowledged": "acknowledged",
        "silenced": "silenced",
        "held": "held by a maintenance window for {receiver}: told at {until} if still open",
        "no_story": "No story kept for this alert (the page keeps alerts told since actions were turned on).",
        "generated": "Generated at",
        "fired": "told (firing)",
        "reminded": "reminded",
        "resolved": "resolved",
    },
}

_STYLE = (
    "body{font:16px/1.5 -apple-system,'PingFang SC','Microsoft YaHei',sans-serif;margin:0;"
    "padding:16px;color:#1f2328;background:#f6f8fa}main{max-width:640px;margin:auto;"
    "background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px}"
    "h1{font-size:20px;margin:0 0 12px}h2{font-size:17px;margin:20px 0 8px}"
    "code{word-break:break-all;background:#f6f8fa;padding:1px 4px;border-radius:4px}"
    "label{display:block;margin:12px 0 4px}input[type=text]{width:100%;box-sizing:border-box;"
    "font-size:16px;padding:10px;border:1px solid #d0d7de;border-radius:6px}"
    "button{width:100%;font-size:17px;padding:12px;margin-top:16px;border:0;border-radius:6px;"
    "background:#1f6feb;color:#fff}table{border-collapse:collapse;width:100%;font-size:14px}"
    "td,th{border-top:1px solid #d0d7de;padding:6px 4px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}th{white-space:nowrap}.small{font-size:13px;color:#57606a}.warn{color:#cf222e}"
    "pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:8px;font-size:13px}"
    "form.inline button{width:auto;padding:6px 10px;margin:0;font-size:14px;white-space:nowrap}"
    "main.wide{max-width:1040px}"  # the lists: a desktop has room for ids on one line
    # A phone: a list's rows stack, each cell on its own line under its column's name, so
    # ids, names and times keep their width instead of breaking a character a line.
    "@media (max-width:600px){table.list,table.list tbody,table.list tr,table.list td"
    "{display:block}table.list tr.head{display:none}table.list tr{border-top:1px solid #d0d7de;"
    "padding:6px 0}table.list td{border:0;padding:2px 0}table.list td[data-label]::before"
    "{content:attr(data-label) ': ';color:#57606a;font-size:13px}"
    "form.inline button{margin-top:4px}}"
)


def when(epoch: float, zone: Any = timezone.utc) -> str:
    """A timestamp for a page (the settings' time zone)."""
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


_WIDE = ' class="wide"'


def _page(lang: str, title: str, body: str, *, wide: bool = False) -> str:
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
        f"<title>{escape(title)} · assistwatch</title><style>{_STYLE}</style></head>"
        f"<body><main{_WIDE if wide else ''}>{body}</main></body></html>"
    )


def _target_lines(action: str, target: str, t: dict[str, str]) -> str:
    if action == "expire":
        return f"<p>{t['silence_id']}: <code>{escape(target)}</code></p>"
    if target.startswith("g:"):
        return f"<p>{t['cause']}: <code>{escape(target[2:])}</code></p>"
    fingerprint, _, firing = target.partition(".")
    shown = f"<code>{escape(fingerprint)}</code>"
    if firing:
        shown += f" · {escape(t['firing'].format(n=firing))}"
    return f"<p>{t['alert']}: {shown}</p>"


def confirm_page(
    lang: str, action: str, target: str, *, csrf: str, expires: str, extra: str = ""
) -> str:
    """The GET of an action link: what it will do, and one button (a plain form)."""
    t = TEXT[lang]
    label = t[action]
    body = (
        f"<h1>{escape(label)}</h1><p>{t['confirm_lead']}</p>"
        f"{_target_lines(action, target, t)}{extra}"
        '<form method="post">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<label for="name">{t["name"]}</label>'
        '<input type="text" id="name" name="name" maxlength="64" autocomplete="name">'
        f'<button type="submit">{escape(label)}</button></form>'
        f'<p class="small">{t["expires"]}: {escape(expires)}</p>'
    )
    return _page(lang, label, body)


def message_page(lang: str, title_key: str, lines: Iterable[str], *, warn: bool = False) -> str:
    """A result or refusal page: a title and escaped lines."""
    t = TEXT[lang]
    title = t.get(title_key, title_key)
    cls = ' class="warn"' if warn else ""
    body = f"<h1{cls}>{escape(title)}</h1>" + "".join(f"<p>{escape(x)}</p>" for x in lines)
    return _page(lang, title, body)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], none: str) -> str:
    if not rows:
        return f'<p class="small">{escape(none)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    labels = [f' data-label="{escape(h)}"' if h else "" for h in headers]

    def cell(index: int, html: str) -> str:
        return f"<td{labels[index] if index < len(labels) else ''}>{html}</td>"

    body = "".join(
        "<tr>" + "".join(cell(i, html) for i, html in enumerate(row)) + "</tr>" for row in rows
    )
    return f'<table class="list"><tr class="head">{head}</tr>{body}</table>'


def expire_form(url: str, csrf: str, label: str) -> str:
    """An inline form that posts an expire link (its own CSRF token with it)."""
    return (
        f'<form class="inline" method="post" action="{escape(url)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit">{escape(label)}</button></form>'
    )


def ops_page(
    lang: str,
    *,
    title_key: str = "ops",
    lead: str = "",
    opened: Sequence[Sequence[str]],
    silences: Sequence[Sequence[str]],
    history: Sequence[Sequence[str]],
    runs: Sequence[Sequence[str]] = (),
    generated: str = "",
) -> str:
    """The operator (or detail) page; every cell is already escaped HTML."""
    t = TEXT[lang]
    body = (
        f"<h1>{escape(t[title_key])}</h1>{lead}"
        f"<h2>{t['open']}</h2>"
        + _table([t["command"], t["instance"], t["status"], ""], opened, t["none"])
        + f"<h2>{t['silences']}</h2>"
        + _table([t["silence_id"], t["match"], t["until"], t["by"], ""], silences, t["none"])
        + f"<h2>{t['history']}</h2>"
        + _table([t["when"], t["result"], t["by"]], history, t["none"])
    )
    if runs:
        body += f"<h2>{t['runs']}</h2>" + _table([t["when"], t["result"]], runs, t["none"])
    if generated:
        body += f'<p class="small">{escape(t["generated"])}: {generated}</p>'
    return _page(lang, t[title_key], body, wide=True)
