"""What a receiver draws: the built-in zh/en message, or the routing file's template.

A receiver asks here for its header and entries. Without a template (the default) they are
lib.notify.render's; with one, the template's text is the message, split at blank lines into
the robot's parts when it is too big (an over-long paragraph is shortened with a visible
"…", never dropped). A template that fails at send time is not a lost alert: the built-in
message is sent with one line naming the template's FILE:LINE and what went wrong.

The fields a template sees (docs/routing.md "Templates") are built here. Every string from
the cloud is given **already neutralised** for the receiver's flavour (lib.notify.escape):
``alert.name`` is inline text whose markup is escaped, ``alert.code.name`` the same value
as a code span, output lines escaped one by one. No raw cloud text is handed to a template.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lib.core.alerts import Alert
from lib.core.notification import Notification
from lib.core.overrides import TemplateSource
from lib.notify.escape import MARKDOWN, Flavour, clean
from lib.notify.render import (
    Entry,
    RenderOptions,
    console_url,
    format_time,
    output_tail,
    render_entries,
    render_header,
)
from lib.support.redact import redact_text

__all__ = ["entries", "header", "markdown", "template_context", "try_template"]

_FAILED = {
    "zh": "⚠️ 消息模板出错（{why}），以下为内置格式的消息。",
    "en": "⚠️ The message template failed ({why}); the built-in message follows.",
}
# Well inside the smallest robot part (WeCom's 4,096 bytes) with its header and mentions.
_RUN_BYTES = 1500
_PART = {"zh": "（{i}/{n}）", "en": "(part {i}/{n})"}
_REPEAT = {"zh": "**可能重复**", "en": "**Possible repeat (可能重复)**"}
_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵", "resolved": "✅"}


def _label_values(alert: Alert) -> dict[str, str]:
    finding = alert.finding
    cls = finding.classification
    return {
        "account": finding.account,
        "provider": finding.provider,
        "region": finding.region,
        "kind": finding.kind,
        "invoke_id": finding.invoke_id,
        "instance_id": finding.instance_id,
        "name": finding.name or finding.command_id or "",
        "status": finding.status,
        "error_code": cls.code,
        "category": cls.category,
        "severity": cls.severity,
    }


def _alert(alert: Alert, options: RenderOptions, fl: Flavour) -> dict[str, Any]:
    finding = alert.finding
    cls = finding.classification
    zh = options.lang == "zh"
    raw = _label_values(alert)
    labels = {key: fl.text(value) for key, value in raw.items()}
    tail, _ = output_tail(finding.output, options)
    unknown = cls.category == "unknown"  # its texts quote the API: escaped whole
    explained = fl.text if unknown else fl.ours

    def when(moment: datetime | None) -> str:
        return format_time(moment, options.timezone)

    return {
        **labels,
        "labels": labels,
        "code": {key: fl.code(value) for key, value in raw.items()},
        "subject": alert.subject,
        "firing": alert.status == "firing",
        "alert_status": alert.status,
        "icon": _ICON["resolved" if alert.status == "resolved" else cls.severity],
        "instance_name": fl.text(finding.instance_name) if finding.instance_name else "",
        "instance_status": fl.text(finding.instance_status) if finding.instance_status else "",
        "target_dir": fl.text(finding.target_dir) if finding.target_dir else "",
        "exit_code": finding.exit_code,
        "targeted": finding.targeted,  # instances the invocation targeted; None: not known
        # ErrorInfo as the built-in message shows it: secrets masked, then neutralised.
        "error_info": fl.text(redact_text(clean(finding.error_info))) if finding.error_info else "",
        "explanation": explained(cls.explanation_zh if zh else cls.explanation_en),
        "hint": explained(cls.hint_zh if zh else cls.hint_en),
        "output": fl.lines(tail) if tail else [],
        "started_at": when(finding.started_at),
        "finished_at": when(finding.finished_at),
        "starts_at": when(alert.starts_at),
        "ends_at": when(alert.ends_at) if alert.ends_at else "",
        "reminder": alert.reminder,
        "links": {"console": console_url(finding, options) or "", "actions": ""},
    }


def template_context(
    notification: Notification, options: RenderOptions, fl: Flavour = MARKDOWN
) -> dict[str, Any]:
    """The documented fields (docs/routing.md "Templates"), cloud text neutralised for ``fl``."""
    alerts = [_alert(alert, options, fl) for alert in notification.alerts]
    links = {"group": "", "ops": ""}
    if options.actions is not None:  # signed action links (lib.notify.actions): our markdown
        from lib.notify.actions import action_lines

        extra = action_lines(notification, notification.alerts, options.actions, options.lang)
        for index, row in extra.per_alert.items():
            alerts[index]["links"]["actions"] = row.markdown()
        links = {
            "group": "\n".join(row.markdown() for row in extra.groups),
            "ops": extra.footer.markdown() if extra.footer else "",
        }
    groups: dict[str, dict[str, Any]] = {}
    for view in alerts:
        key = f"{view['code']['name']} {view['code']['invoke_id']}"
        group = groups.setdefault(
            key, {"name": view["name"], "invoke_id": view["invoke_id"], "alerts": []}
        )
        group["alerts"].append(view)
    # The built-in entries are drawn only for a template that may print them.
    wanted = options.template is None or "builtin" in options.template.text
    builtin = render_entries(notification, replace_template(options, None), fl) if wanted else []
    return {
        "lang": options.lang,
        "timezone": options.timezone,
        "group": fl.text(notification.group),
        "possible_repeat": notification.possible_repeat,
        "alerts": alerts,
        "firing": [view for view in alerts if view["firing"]],
        "resolved": [view for view in alerts if not view["firing"]],
        "groups": list(groups.values()),
        "builtin": "\n\n".join(entry.render() for entry in builtin),
        "links": links,
    }


def replace_template(options: RenderOptions, template: TemplateSource | None) -> RenderOptions:
    """``options`` drawing with ``template`` (None: the built-in message)."""
    return options.model_copy(update={"template": template})


def try_template(notification: Notification, options: RenderOptions, fl: Flavour = MARKDOWN) -> str:
    """The template's text for ``notification``; raises TemplateProblem when it fails."""
    from lib.notify.template import render_template

    assert options.template is not None
    return render_template(options.template, template_context(notification, options, fl)).strip()


def entries(notification: Notification, options: RenderOptions, fl: Flavour) -> list[Entry]:
    """The message's entries: the template's paragraphs, or the built-in ones."""
    if options.template is None:
        return render_entries(notification, options, fl)
    from lib.notify.template import TemplateProblem

    try:
        text = try_template(notification, options, fl)
    except TemplateProblem as problem:
        notice = _FAILED[options.lang].format(why=fl.text(str(problem)))
        return [Entry(body=notice), *render_entries(notification, options, fl)]
    paragraphs = [part.strip("\n") for part in text.split("\n\n") if part.strip()]
    return [Entry(body=run) for part in paragraphs for run in _runs(part)] or [Entry(body="-")]


def _runs(paragraph: str) -> list[str]:
    """A paragraph in runs of whole lines of at most ``_RUN_BYTES`` (one line may be more).

    A robot's parts break between entries; a template that writes every alert on its own
    line without blank lines between must still split between lines, never lose one.
    """
    runs: list[list[str]] = [[]]
    size = 0
    for line in paragraph.split("\n"):
        width = len(line.encode()) + 1
        if runs[-1] and size + width > _RUN_BYTES:
            runs.append([])
            size = 0
        runs[-1].append(line)
        size += width
    return ["\n".join(run) for run in runs]


def header(
    notification: Notification,
    options: RenderOptions,
    *,
    part: int = 1,
    parts: int = 1,
    flavour: Flavour = MARKDOWN,
) -> str:
    """The lines before the entries: the built-in head, or with a template only what the
    reader must know (which part this is, a possible repeat)."""
    if options.template is None:
        return render_header(notification, options, part=part, parts=parts, flavour=flavour)
    lines = []
    if parts > 1:
        lines.append(_PART[options.lang].format(i=part, n=parts))
    if notification.possible_repeat:
        lines.append(_REPEAT[options.lang])
    return "  \n".join(lines)


def markdown(notification: Notification, options: RenderOptions, fl: Flavour = MARKDOWN) -> str:
    """The whole message as one markdown text (console, webhook): no size limit."""
    head = header(notification, options, flavour=fl)
    body = [entry.render() for entry in entries(notification, options, fl)]
    return "\n\n".join(part for part in [head, *body] if part)
