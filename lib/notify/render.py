"""Pure rendering shared by receivers: a notification → markdown entries → size-bounded parts.

Nothing here does I/O. Each alert becomes one :class:`Entry`; a group larger than
``max_alerts_listed`` lists the first N and folds the rest into compact "and K more" entries,
one per task (command or file name and invoke id) listing its instances, so every alert is
still named with what failed (DESIGN "Identity": across groups nothing is hidden).
:func:`split_markdown` packs entries into parts within a byte limit without ever cutting one.

Every string from the cloud goes through the receiver's :class:`~lib.notify.escape.Flavour`:
ids, names and paths as code spans, free text escaped, so it is shown and never obeyed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lib.core.alerts import Alert
from lib.core.findings import Finding
from lib.core.links import ActionLinks
from lib.core.notification import Notification
from lib.core.overrides import Overrides, TemplateSource
from lib.notify.escape import MARKDOWN, Flavour, clean
from lib.notify.instance import asleep_status, instance_context
from lib.notify.missed import missed_line, missed_subject
from lib.notify.share import Share, failed_share
from lib.notify.signatures import signature_entries
from lib.support.redact import redact_text

if TYPE_CHECKING:
    from lib.notify.actions import ActionRow

__all__ = [
    "TEST_CATEGORY",
    "Entry",
    "RenderOptions",
    "compact_json",
    "console_url",
    "format_time",
    "json_text_bytes",
    "message_id",
    "output_tail",
    "pack_entries",
    "render_entries",
    "render_header",
    "render_markdown",
    "render_title",
    "split_markdown",
    "utf8_bytes",
]

Lang = Literal["zh", "en"]

# When the system has no tz database (some slim images), fall back to the fixed offsets of
# zones without daylight saving time that our users pick; anything else is refused.
_FIXED_ZONES = {
    "UTC": 0,
    "Etc/UTC": 0,
    "Asia/Shanghai": 8,
    "Asia/Hong_Kong": 8,
    "Asia/Singapore": 8,
    "Asia/Taipei": 8,
    "Asia/Tokyo": 9,
    "Asia/Seoul": 9,
    "Asia/Jakarta": 7,
    "Asia/Kolkata": 5.5,
    "Asia/Dubai": 4,
}


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name in _FIXED_ZONES:
            return timezone(timedelta(hours=_FIXED_ZONES[name]), name)
        raise


class RenderOptions(BaseModel):
    """How a receiver renders alerts; set per receiver or route."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    lang: Lang = "zh"
    timezone: str = "Asia/Shanghai"
    max_output_lines: int = Field(default=20, ge=0)
    max_output_bytes: int = Field(default=2000, ge=0)
    show_output: bool = True
    max_alerts_listed: int = Field(default=20, ge=1)
    console_base: str = "https://ecs.console.aliyun.com"
    # Signed action links for firing messages (lib.notify.actions); None: actions off.
    actions: ActionLinks | None = Field(default=None, exclude=True)
    # A routing-file template (lib.notify.templated); None: the built-in zh/en message.
    template: TemplateSource | None = Field(default=None, exclude=True)

    def overridden(self, overrides: Overrides) -> RenderOptions:
        """These options with a route's output switch and template, where it sets them."""
        updates: dict[str, object] = {}
        if overrides.show_output is not None:
            updates["show_output"] = overrides.show_output
        if overrides.template is not None:
            updates["template"] = overrides.template
        return self.model_copy(update=updates) if updates else self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            _zone(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("console_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "critical": "严重",
        "warning": "警告",
        "info": "提示",
        "resolved": "已恢复",
        "command": "命令 {name} 执行失败",
        "command_resolved": "命令 {name}",
        "file": "文件 {name} → {dir} 下发失败",
        "file_resolved": "文件 {name} → {dir}",
        "ecs": "实例",
        "eflo": "节点",
        "invoke": "执行 ID",
        "console": "控制台",
        "status": "状态",
        "error": "错误码",
        "exit": "退出码",
        "explanation": "说明",
        "hint": "建议",
        "time": "时间",
        "resolved_at": "恢复时间",
        "output": "输出（最后 {n} 行）",
        "output_cut": "输出（最后 {n} 行，已截短）",
        "dropped": "云助手已丢弃 {n} 字节输出",
        "header": "### {icon} assistwatch：{summary}",
        "firing_n": "{n} 个失败",
        "resolved_n": "{n} 个已恢复",
        "part": "（{i}/{n}）",
        "group": "分组",
        "more": "…另有 {k} 个（{what}）：",
        "more_cont": "（续）",
        "agent_task": "云助手 Agent",
        "title_firing": "{subject} 失败 {n} 个",
        "title_resolved": "{subject} 已恢复 {n} 个",
        "repeat_title": "（可能重复）",
        "repeat": "**可能重复**：上次发送这条消息时没有收到应答，它可能已经送达过一次。",
        "unnamed": "（未命名）",
        "agent": "云助手 Agent 异常：{instance}",
        "agent_resolved": "云助手 Agent 已恢复：{instance}",
        "agent_asleep": "云助手 Agent 告警关闭（实例{status}）：{instance}",
        "agent_behind": "受影响的执行",
        "account": "账号",
        "reminder": "⏰ 第 {n} 次提醒，仍未恢复",
        "open_since": "持续自",
        "since": "开始于",
        "test": "测试",
        ":": "：",
        ",": "，",
        "(": "（",
        ")": "）",
    },
    "en": {
        "critical": "critical",
        "warning": "warning",
        "info": "info",
        "resolved": "resolved",
        "command": "command {name} failed",
        "command_resolved": "command {name}",
        "file": "file {name} → {dir} not sent",
        "file_resolved": "file {name} → {dir}",
        "ecs": "Instance",
        "eflo": "Node",
        "invoke": "Invoke ID",
        "console": "console",
        "status": "Status",
        "error": "Error code",
        "exit": "Exit code",
        "explanation": "What it means",
        "hint": "What to do",
        "time": "Time",
        "resolved_at": "Resolved at",
        "output": "Output (last {n} lines)",
        "output_cut": "Output (last {n} lines, shortened)",
        "dropped": "Cloud Assistant dropped {n} bytes of output",
        "header": "### {icon} assistwatch: {summary}",
        "firing_n": "{n} failed",
        "resolved_n": "{n} resolved",
        "part": " (part {i}/{n})",
        "group": "Group",
        "more": "…and {k} more ({what}): ",
        "more_cont": "(continued) ",
        "agent_task": "Cloud Assistant agent",
        "title_firing": "{subject}: {n} failed",
        "title_resolved": "{subject}: {n} resolved",
        "repeat_title": "(possible repeat, 可能重复) ",
        "repeat": "**Possible repeat (可能重复)**: the last send of this message got no "
        "answer; it may have arrived once already.",
        "unnamed": "(unnamed)",
        "agent": "Cloud Assistant agent unhealthy on {instance}",
        "agent_resolved": "Cloud Assistant agent healthy again on {instance}",
        "agent_asleep": "Cloud Assistant agent alert closed, instance {status}: {instance}",
        "agent_behind": "Invocations affected",
        "account": "Account",
        "reminder": "⏰ reminder {n}: still open",
        "open_since": "Open since",
        "since": "Since",
        "test": "test",
        ":": ": ",
        ",": ", ",
        "(": " (",
        ")": ")",
    },
}

_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵", "resolved": "✅", "test": "🧪"}
# A catalogue category that is not a failure at all: `assistwatch send-test`'s sample.
TEST_CATEGORY = "test"
_SEVERITIES = ("critical", "warning", "info")
# Bytes of instance ids per "and K more" entry: with its task's name and directory (each
# shown up to _NAME_CHARS) an entry stays well inside the smallest part (WeCom's 4,096 bytes).
_IDS_BYTES_PER_MORE_ENTRY = 1200
_NAME_CHARS = 256
# A region as Alibaba Cloud writes them ("cn-hangzhou"): only such a value goes into a link.
_REGION_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def utf8_bytes(text: str) -> int:
    """Size of ``text`` in UTF-8 bytes (a Chinese character counts 3)."""
    return len(text.encode())


def json_text_bytes(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string (escapes included, UTF-8, no quotes).

    JSON escaping works character by character, so sizes of pieces add up exactly.
    """
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def compact_json(payload: Any) -> bytes:
    """The exact bytes a receiver sends for ``payload`` (and signs, for webhooks)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def message_id(receiver: str, alerts: Iterable[Alert], part: int = 1, parts: int = 1) -> str:
    """A message id that is the same whenever the same alerts are rendered again.

    Built from the alerts' keys (fingerprint, firing number, status and reminder number: a
    resolved message or a reminder must not share the id of the firing one), the receiver,
    and the part number.
    """
    keys = sorted(a.key for a in alerts)
    digest = hashlib.sha256("\x1f".join([receiver, *keys, f"{part}/{parts}"]).encode())
    return "msg_" + digest.hexdigest()[:32]


def format_time(moment: datetime | None, zone_name: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in the zone; naive datetimes are taken as UTC (API times are)."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone(zone_name)).strftime("%Y-%m-%d %H:%M:%S")


def console_url(finding: Finding, options: RenderOptions) -> str | None:
    """A console link for the invocation, or ``None`` where we know of no page.

    The documented console entry is the region's Cloud Assistant page
    (``ecs.console.aliyun.com/cloud-assistant/region/<region>``, as the ECS docs link it).
    A deep link to one invocation's details is not documented, so we link the region's
    page and people find the invoke id listed there. Lingjun (eflo) nodes have no
    documented Cloud Assistant console page: no link.
    """
    if finding.provider != "ecs" or not _REGION_ID.fullmatch(finding.region):
        return None  # a region that is not a plain region id never goes into a link
    return f"{options.console_base}/cloud-assistant/region/{finding.region}"


def output_tail(output: str | None, options: RenderOptions) -> tuple[str, int]:
    """The last lines of ``output``, cleaned, redacted and bounded, and how many lines.

    Control characters, ANSI escapes and bidi controls go first (so they cannot split a
    secret the redaction would have recognised); redaction runs on the whole output before
    it is cut, so a secret spanning the cut (a private key block) is still recognised.
    """
    if not output or not options.show_output or options.max_output_lines == 0:
        return "", 0
    lines = redact_text(clean(output)).rstrip("\n").split("\n")[-options.max_output_lines :]
    text = "\n".join(lines)
    raw = text.encode()
    if len(raw) > options.max_output_bytes:
        # Keep the end (errors are printed last); drop a partial first character.
        text = "…" + raw[-options.max_output_bytes :].decode("utf-8", errors="ignore")
    return text, len(text.splitlines())


@dataclass(frozen=True)
class Entry:
    """One alert's markdown: its fields, then an optional output block that may be shortened."""

    body: str
    output: str = ""
    output_label: str = ""  # format string with {n}: the number of lines shown
    output_cut_label: str = ""
    cut: bool = False
    covers: tuple[str, ...] = ()  # the Alert.keys this entry tells about
    # Its actions (lib.notify.actions), under the fields and before the output, so a
    # shortened output never cuts them; a card draws them as buttons instead.
    actions: ActionRow | None = None

    def render(self, *, links: bool = True) -> str:
        """The entry as markdown; output lines (escaped already by the flavour) are quoted.

        ``links=False`` leaves its actions out (a card shows them as buttons).
        """
        body = self.body
        if links and self.actions is not None:
            body = f"{body}\n{self.actions.markdown()}" if body else self.actions.markdown()
        if not self.output:
            return body
        lines = self.output.split("\n")
        label = (self.output_cut_label if self.cut else self.output_label).format(n=len(lines))
        quoted = "  \n".join("> " + (line or " ") for line in lines)
        return f"{body}\n- {label}\n\n{quoted}"

    def keep_last_lines(self, count: int) -> Entry:
        """The same entry with only the last ``count`` output lines."""
        lines = self.output.split("\n")
        kept = "\n".join(lines[len(lines) - count :]) if count > 0 else ""
        return replace(self, output=kept, cut=True)


def _t(options: RenderOptions) -> dict[str, str]:
    return _TEXT[options.lang]


def _subject(alert: Alert, t: dict[str, str], resolved: bool, fl: Flavour, lang: str = "zh") -> str:
    finding = alert.finding
    if alert.subject == "missed":
        return missed_subject(alert, lang, resolved, code=fl.code)
    if alert.subject == "agent":
        status = asleep_status(finding, lang) if resolved else None
        key = "agent_asleep" if status else "agent_resolved" if resolved else "agent"
        return t[key].format(instance=fl.code(finding.instance_id), status=status)
    name = fl.code(_clip(finding.name or finding.command_id or t["unnamed"]))
    if finding.kind == "file":
        key = "file_resolved" if resolved else "file"
        return t[key].format(name=name, dir=fl.code(_clip(finding.target_dir or "-")))
    return t["command_resolved" if resolved else "command"].format(name=name)


def _render_alert(
    alert: Alert, options: RenderOptions, fl: Flavour, share: Share | None = None
) -> Entry:
    """One alert's entry; ``share``: a message about this one failure says "1 of 200"."""
    t = _t(options)
    c, o, e = t[":"], t["("], t[")"]  # full-width in zh
    finding = alert.finding
    cls = finding.classification
    resolved = alert.status == "resolved"
    level = TEST_CATEGORY if cls.category == TEST_CATEGORY else cls.severity
    if resolved:
        heading = (
            f"#### {_ICON['resolved']} [{t['resolved']}] "
            f"{_subject(alert, t, True, fl, options.lang)}"
        )
    else:
        subject = _subject(alert, t, False, fl, options.lang)
        heading = f"#### {_ICON[level]} [{t[level]}] {subject}"
        if alert.reminder:
            heading += " · " + t["reminder"].format(n=alert.reminder)
    where = f"{o}{fl.text(finding.provider)} · {fl.text(finding.region)}{e}"
    zone = f"{o}{options.timezone}{e}"
    lines = [
        heading,
        f"- {t[finding.provider]}{c}{fl.code(finding.instance_id)}"
        f"{instance_context(finding, options.lang, fl.code)}{where}",
        f"- {t['invoke']}{c}{_invoke(finding, options, fl, share)}",
    ]
    if finding.account != "self":  # another account, reached through an assumed role
        lines.append(f"- {t['account']}{c}{fl.code(finding.account)}")
    if alert.subject == "missed":
        when = lambda moment: format_time(moment, options.timezone)  # noqa: E731
        lines.append(f"- {missed_line(alert, options.lang, when)}{zone}")
    if alert.reminder:
        since = format_time(alert.starts_at, options.timezone)
        lines.append(f"- {t['open_since']}{c}{since}{zone}")
    elif alert.subject == "agent" and not resolved:  # when the agent went quiet
        lines.append(f"- {t['since']}{c}{format_time(alert.starts_at, options.timezone)}{zone}")
    if alert.subject == "agent" and alert.related:
        behind = ", ".join(fl.code(entry) for entry in alert.related)
        lines.append(f"- {t['agent_behind']}{c}{behind}")
    if resolved:
        ended = format_time(alert.ends_at, options.timezone)
        lines.append(f"- {t['resolved_at']}{c}{ended}{zone}")
        return Entry(body="\n".join(lines), covers=(alert.key,))
    status = f"- {t['status']}{c}{fl.text(finding.status)} · {t['error']}{c}{fl.code(cls.code)}"
    if finding.exit_code is not None:
        status += f" · {t['exit']}{c}{finding.exit_code}"
    # The catalogue's texts are our markdown, but those of an unknown code or status quote
    # the API's code and ErrorInfo: those are escaped whole.
    explained = fl.text if cls.category == "unknown" else fl.ours
    explanation = explained(cls.explanation_zh if options.lang == "zh" else cls.explanation_en)
    hint = explained(cls.hint_zh if options.lang == "zh" else cls.hint_en)
    started = format_time(finding.started_at, options.timezone)
    finished = format_time(finding.finished_at, options.timezone)
    lines += [
        status,
        f"- {t['explanation']}{c}{explanation}",
        f"- {t['hint']}{c}{hint}",
    ]
    if finding.error_info:
        lines.append(f"- ErrorInfo{c}{fl.text(redact_text(clean(finding.error_info)))}")
    lines.append(f"- {t['time']}{c}{started} → {finished}{zone}")
    if finding.dropped and options.show_output:
        lines.append(f"- {t['dropped'].format(n=finding.dropped)}")
    tail, _ = output_tail(finding.output, options)
    return Entry(
        body="\n".join(lines),
        output="\n".join(fl.lines(tail)) if tail else "",
        output_label=t["output"] + c.rstrip(),
        output_cut_label=t["output_cut"] + c.rstrip(),
        covers=(alert.key,),
    )


def _invoke(finding: Finding, options: RenderOptions, fl: Flavour, share: Share | None) -> str:
    """The invoke id, "(1 of 200 instances failed)" when given, and the console link."""
    t = _t(options)
    invoke = fl.code(finding.invoke_id)
    if share is not None:
        invoke += f"{t['(']}{share.failed_text(options.lang)}{t[')']}"
    link = console_url(finding, options)
    return invoke + (f" · [{t['console']}]({link})" if link else "")


def _task(alert: Alert, t: dict[str, str], fl: Flavour) -> str:
    """What failed, as a digest line names it: the command or file (and where) and invoke id."""
    finding = alert.finding
    if alert.subject == "agent":
        return t["agent_task"]
    name = fl.code(_clip(finding.name or finding.command_id or t["unnamed"]))
    if finding.kind == "file":
        name += f" → {fl.code(_clip(finding.target_dir or '-'))}"
    return f"{name}{t['(']}{fl.code(finding.invoke_id)}{t[')']}"


def _clip(text: str, limit: int = _NAME_CHARS) -> str:
    """A name or path as a heading or digest line shows it: whole up to ``limit`` characters,
    so the instance and invoke id after it always fit a part (the invoke id still names the
    task when a longer name is shortened)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(ids: Sequence[str], limit: int) -> list[list[str]]:
    """``ids`` in runs whose UTF-8 size stays within ``limit`` (at least one id a run)."""
    runs: list[list[str]] = [[]]
    size = 0
    for item in ids:
        if runs[-1] and size + utf8_bytes(item) > limit:
            runs.append([])
            size = 0
        runs[-1].append(item)
        size += utf8_bytes(item) + 2
    return runs


def _render_more(rest: Sequence[Alert], options: RenderOptions, fl: Flavour) -> list[Entry]:
    """Compact entries naming every alert beyond the listed ones: one per task and outcome,
    listing the instances it failed on (split across entries when there are many)."""
    t = _t(options)
    by_task: dict[tuple[str, str, str], list[Alert]] = {}
    for alert in rest:
        what = (
            t["resolved"]
            if alert.status == "resolved"
            else fl.code(alert.finding.classification.code)
        )
        by_task.setdefault((alert.status, _task(alert, t, fl), what), []).append(alert)
    outcomes = ", ".join(dict.fromkeys(what for _, _, what in by_task))
    lead = t["more"].format(k=len(rest), what=outcomes)
    entries: list[Entry] = []
    for (_, task, what), members in by_task.items():
        ids = [fl.code(alert.finding.instance_id) for alert in members]
        start = 0
        for run in _chunks(ids, _IDS_BYTES_PER_MORE_ENTRY):
            some = members[start : start + len(run)]
            cont = t["more_cont"] if start else ""
            start += len(run)
            line = f"- {cont}{task} · {what} × {len(members)}{t[':']}{', '.join(run)}"
            # The "and K more" line travels with the first task so a split never strands it.
            entries.append(
                Entry(
                    body=f"{lead}\n\n{line}" if not entries else line,
                    covers=tuple(alert.key for alert in some),
                )
            )
    return entries


def _ordered(alerts: Sequence[Alert]) -> list[Alert]:
    # Firing before resolved, worst first, then by instance: the first N are the ones to read.
    rank = {"critical": 0, "warning": 1, "info": 2}
    return sorted(
        alerts,
        key=lambda a: (
            a.status == "resolved",
            rank[a.finding.classification.severity],
            a.finding.instance_id,
        ),
    )


def render_entries(
    notification: Notification, options: RenderOptions, flavour: Flavour = MARKDOWN
) -> list[Entry]:
    """One entry per listed alert, then "and K more" entries for the rest.

    A task failing on many instances reads by cause instead (lib.notify.signatures).
    """
    by_cause = signature_entries(
        notification.alerts,
        options.lang,
        lambda alert: _render_alert(alert, options, flavour),
        flavour,
        show_output=options.show_output,
    )
    listed: Sequence[Alert] = []
    if by_cause is not None:
        entries = by_cause
    else:
        alerts = _ordered(notification.alerts)
        listed, rest = alerts[: options.max_alerts_listed], alerts[options.max_alerts_listed :]
        # A message about one failure has no head to say "1 of 200": its entry says it
        # (not "1 of 1": the instance line already names the only one).
        share = failed_share(alerts) if len(alerts) == 1 else None
        share = share if share is not None and share.targeted > 1 else None
        entries = [_render_alert(alert, options, flavour, share) for alert in listed]
        if rest:
            entries += _render_more(rest, options, flavour)
    if options.actions is not None:
        from lib.notify.actions import action_lines

        extra = action_lines(notification, listed, options.actions, options.lang)
        for index, row in extra.per_alert.items():
            entries[index] = replace(entries[index], actions=row)
        entries = [
            *(Entry(body="", actions=row) for row in extra.groups),
            *entries,
            *([Entry(body="", actions=extra.footer)] if extra.footer else []),
        ]
    return entries


def _counts(alerts: Sequence[Alert]) -> tuple[int, int, Counter[str]]:
    firing = [a for a in alerts if a.status == "firing"]
    severities: Counter[str] = Counter(a.finding.classification.severity for a in firing)
    return len(firing), len(alerts) - len(firing), severities


def render_header(
    notification: Notification,
    options: RenderOptions,
    *,
    part: int = 1,
    parts: int = 1,
    flavour: Flavour = MARKDOWN,
) -> str:
    """The first lines of every part: counts by severity, resolved count, group, part i/n.

    A message about one alert starts with that alert's own heading: no summary head (only
    a possible repeat is still said first).
    """
    t = _t(options)
    if len(notification.alerts) == 1 and parts == 1:
        return t["repeat"] if notification.possible_repeat else ""
    firing, resolved, severities = _counts(notification.alerts)
    summary = []
    share = failed_share(notification.alerts)  # "3 of 200 instances failed" when known
    if firing:
        summary.append(share.failed_text(options.lang) if share else t["firing_n"].format(n=firing))
    if resolved:
        summary.append(t["resolved_n"].format(n=resolved))
    worst = next((s for s in _SEVERITIES if severities[s]), "resolved")
    if all(a.finding.classification.category == TEST_CATEGORY for a in notification.alerts):
        worst = TEST_CATEGORY
    head = t["header"].format(icon=_ICON[worst], summary=t[","].join(summary) or "-")
    if parts > 1:
        head += t["part"].format(i=part, n=parts)
    counts = " · ".join(f"{t[s]} {severities[s]}" for s in _SEVERITIES if severities[s])
    lines = [head]
    if notification.possible_repeat:  # resent after a lost answer (lib.app.outbox, UNSURE)
        lines.append(t["repeat"] + "  ")
    if counts:
        lines.append(counts + "  ")
    lines.append(f"{t['group']}{t[':']}{flavour.code(notification.group)}")
    return "\n".join(lines)


def render_title(
    notification: Notification, options: RenderOptions, flavour: Flavour = MARKDOWN
) -> str:
    """A short title for chat lists: subject and counts, one line of plain text."""
    t = _t(options)
    firing, resolved, _ = _counts(notification.alerts)
    names = {a.finding.name for a in notification.alerts}
    first = notification.alerts[0].finding if notification.alerts else None
    subject = (first.name if first and len(names) == 1 and first.name else None) or (
        notification.group
    )
    if notification.alerts and all(a.subject == "agent" for a in notification.alerts):
        subject = f"Agent {notification.alerts[0].finding.instance_id}"
    subject = flavour.title(subject)
    if len(subject) > 40:
        subject = subject[:39] + "…"
    mark = t["repeat_title"] if notification.possible_repeat else ""
    if firing:
        return f"{mark}assistwatch " + t["title_firing"].format(subject=subject, n=firing)
    return f"{mark}assistwatch " + t["title_resolved"].format(subject=subject, n=resolved)


def render_markdown(
    notification: Notification, options: RenderOptions, flavour: Flavour = MARKDOWN
) -> str:
    """The whole notification as one markdown text (console, logs): no size limit."""
    entries = render_entries(notification, options, flavour)
    header = render_header(notification, options, flavour=flavour)
    return "\n\n".join(part for part in [header, *(e.render() for e in entries)] if part)


def _fit(entry: Entry | str, limit: int, measure: Callable[[str], int]) -> str:
    """Render ``entry`` within ``limit``: shorten its output first, cut its text last."""
    if isinstance(entry, str):
        entry = Entry(body=entry)
    text = entry.render()
    if measure(text) <= limit:
        return text
    # Keep as many trailing output lines as fit (binary search: sizes grow with lines).
    low, high = 0, len(entry.output.splitlines())
    while low < high:
        mid = (low + high + 1) // 2
        if measure(entry.keep_last_lines(mid).render()) <= limit:
            low = mid
        else:
            high = mid - 1
    text = entry.keep_last_lines(low).render()
    if measure(text) <= limit:
        return text
    # The fields alone are too big (a huge ErrorInfo): a visible cut beats a rejected message.
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid] + "…") <= limit:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"


def split_markdown(
    entries: Sequence[Entry | str],
    limit_bytes: int,
    *,
    separator: str = "\n\n",
    measure: Callable[[str], int] = utf8_bytes,
) -> list[str]:
    """Pack entries into as few parts as possible, each within ``limit_bytes``.

    Entries are kept whole and in order; an entry that alone exceeds the limit has its
    output shortened first (then, as a last resort, its text cut with "…").

    Args:
        entries: rendered entries or plain strings.
        limit_bytes: the size each part must fit.
        separator: joins entries within a part.
        measure: size of a text; UTF-8 bytes by default, JSON-escaped bytes for robots.

    Returns:
        The parts' texts (at least one, possibly empty).
    """
    return [text for text, _ in pack_entries(entries, limit_bytes, separator, measure)]


def pack_entries(
    entries: Sequence[Entry | str],
    limit_bytes: int,
    separator: str = "\n\n",
    measure: Callable[[str], int] = utf8_bytes,
) -> list[tuple[str, tuple[str, ...]]]:
    """Like :func:`split_markdown`, with the alert keys each part covers.

    A receiver puts those keys in ``Message.covers``, so when part 2 of 3 fails only its
    alerts stay in the outbox.
    """
    sep_size = measure(separator)
    parts: list[tuple[str, tuple[str, ...]]] = []
    current: list[str] = []
    covers: list[str] = []
    size = 0
    for entry in entries:
        text = _fit(entry, limit_bytes, measure)
        text_size = measure(text)
        if current and size + sep_size + text_size > limit_bytes:
            parts.append((separator.join(current), tuple(covers)))
            current, covers, size = [], [], 0
        size += (sep_size if current else 0) + text_size
        current.append(text)
        if isinstance(entry, Entry):
            covers.extend(entry.covers)
    parts.append((separator.join(current), tuple(covers)))
    return parts
