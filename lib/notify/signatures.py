"""One message per cause: a task failing on many instances, rendered by error signature.

A signature is (error code, exit code, normalised output tail): numbers, hex ids, instance ids,
IP addresses and times in the last lines are replaced by placeholders, so "disk full on /data
(98%)" on 30 instances is one cause. :func:`signature_entries` renders such a notification as

    `rollout.sh` failed on 37 of 200 instances: 30 × ExitCodeNonzero · exit 1 · "No space
    left…" (i-…, i-…), 7 × ClientNotRunning (…)

("of 200" when the invocation's total is known, lib.notify.share; else "on 37 instances")

then one full entry per signature (its output shown once) naming every instance in it.
Alerts, claims and fingerprints stay per instance; only rendering changes. Kept apart from
:mod:`lib.notify.render`, which calls it (two lines there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lib.notify.escape import MARKDOWN, Flavour, clean
from lib.notify.share import failed_share
from lib.support.redact import redact_text

if TYPE_CHECKING:
    from lib.core.alerts import Alert
    from lib.core.findings import Finding

__all__ = ["Signature", "signature", "signature_entries"]

Signature = tuple[str, "int | None", str]

_TAIL_LINES = 3
_NORMALISE = (
    (re.compile(r"\b(?:i|mi|e01|t|c|f)-[0-9a-z]{6,}\b"), "<id>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+"), "<n>"),
)
_TELLING = re.compile(
    r"error|fail|denied|refused|no such|not found|no space|timed? ?out|killed|fatal", re.I
)
_MIN_ALERTS = 4  # fewer are read one by one (each with its own action links, lib.notify.actions)
_IDS_SHOWN_IN_LEAD = 3  # per signature in the summary line; the signature's entry names all
_CAUSES_IN_LEAD = 10  # signatures the summary line names; the entries below show every one
_IDS_PER_ENTRY = 50  # ~1.3 KB of ids: fits beside a header within WeCom's 4,096 bytes
_NAME_CHARS = 256  # as lib.notify.render shows a name


def _tail(output: str | None) -> str:
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    text = "\n".join(lines[-_TAIL_LINES:])
    for pattern, placeholder in _NORMALISE:
        text = pattern.sub(placeholder, text)
    return text


def signature(finding: Finding) -> Signature:
    """(error code, exit code, normalised output tail) of one failure."""
    code = finding.error_code or finding.classification.code
    return (code, finding.exit_code, _tail(finding.output))


def _label(sig: Signature, example: Finding, fl: Flavour, quote: bool) -> str:
    """The cause: code, exit, and (``quote``: output is shown) its telling line, redacted."""
    code, exit_code, tail = sig
    parts = [fl.code(code)]
    if exit_code is not None:
        parts.append(f"exit {exit_code}")
    output = redact_text(clean(example.output or "")) if quote and tail else ""
    lines = [line.strip() for line in output.splitlines() if line.strip()][-_TAIL_LINES:]
    # The line that says what went wrong, if one does; else the last.
    telling = [line for line in lines if _TELLING.search(line)]
    if lines:
        line = (telling or lines)[-1]
        parts.append(f'"{fl.text(line[:60])}{"…" if len(line) > 60 else ""}"')
    return " · ".join(parts)


def _by_cause(alerts: Sequence[Alert]) -> list[tuple[Signature, list[Alert]]] | None:
    """Signatures with their alerts, most first; None when alert by alert reads better."""
    if len(alerts) < _MIN_ALERTS:
        return None
    if any(a.status != "firing" or a.subject != "execution" or a.reminder for a in alerts):
        return None
    if len({a.finding.name or a.finding.command_id or a.finding.invoke_id for a in alerts}) != 1:
        return None
    groups: dict[Signature, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: a.finding.instance_id):
        groups.setdefault(signature(alert.finding), []).append(alert)
    if len(groups) == len(alerts):
        return None  # every failure its own: nothing to fold
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0][0]))


def _clip(name: str) -> str:
    """A task's name as a heading shows it (render's limit), so ids after it always fit."""
    return name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…"


def _ids(chunk: Sequence[Alert], fl: Flavour) -> str:
    """The chunk's instances; each with its invoke id when the chunk spans several."""
    if len({a.finding.invoke_id for a in chunk}) == 1:
        return ", ".join(fl.code(a.finding.instance_id) for a in chunk)
    return ", ".join(
        f"{fl.code(a.finding.instance_id)} ({fl.code(a.finding.invoke_id)})" for a in chunk
    )


def _task(chunk: Sequence[Alert], fl: Flavour) -> str:
    """The task a chunk of ids belongs to: its name, and its invoke id when it has one."""
    first = chunk[0].finding
    name = fl.code(_clip(first.name or first.command_id or first.invoke_id))
    invokes = {a.finding.invoke_id for a in chunk}
    return f"{name} {fl.code(first.invoke_id)}" if len(invokes) == 1 else name


def _lead(ordered: list[tuple[Signature, list[Alert]]], zh: bool, fl: Flavour, quote: bool) -> str:
    alerts = [alert for _, members in ordered for alert in members]
    share = failed_share(alerts)
    first = ordered[0][1][0].finding
    name = first.name or first.command_id or first.invoke_id
    parts = []
    for sig, members in ordered[:_CAUSES_IN_LEAD]:
        ids = ", ".join(fl.code(a.finding.instance_id) for a in members[:_IDS_SHOWN_IN_LEAD])
        more = "…" if len(members) > _IDS_SHOWN_IN_LEAD else ""
        label = _label(sig, members[0].finding, fl, quote)
        o, e = ("（", "）") if zh else (" (", ")")
        parts.append(f"{len(members)} × {label}{o}{ids}{more}{e}")
    if len(ordered) > _CAUSES_IN_LEAD:
        parts.append("…")
    # "on 37 of 200 instances" when the invocations' totals are known (lib.notify.share)
    if zh:
        where = share.of("zh") if share else f"{len(alerts)} 台实例"
        return f"{fl.code(_clip(name))} 在 {where}上失败：" + "；".join(parts)
    where = share.of("en") if share else f"{len(alerts)} instances"
    return f"{fl.code(_clip(name))} failed on {where}: " + "; ".join(parts)


def signature_entries(
    alerts: Sequence[Alert],
    lang: str,
    render_one: Callable[[Alert], Any],
    fl: Flavour = MARKDOWN,
    *,
    show_output: bool = True,
) -> list[Any] | None:
    """Entries by signature, or None when the notification is better read alert by alert.

    ``render_one`` renders one alert as :class:`lib.notify.render.Entry` (a dataclass with
    ``body``, ``output`` and ``covers``), passed in so this module does not import the renderer.

    Used for a notification of firing execution failures of one task (one name) on at least
    ``_MIN_ALERTS`` instances where some share a signature. ``show_output``: the receiver
    shows command output, so the summary may quote each cause's telling line (redacted).
    """
    ordered = _by_cause(alerts)
    if ordered is None:
        return None
    zh = lang == "zh"
    lead = _lead(ordered, zh, fl, show_output)
    same = "同样失败的实例" if zh else "Same failure on"
    o, e, c = ("（", "）", "：") if zh else (" (", ")", ": ")
    entries: list[Any] = []
    for index, (_, members) in enumerate(ordered):
        first = render_one(members[0])
        # Ids in chunks, each its own entry: a robot's size limit splits between them, never
        # through one, so every instance stays named whatever the limit.
        for start in range(0, len(members), _IDS_PER_ENTRY):
            chunk = members[start : start + _IDS_PER_ENTRY]
            ids = _ids(chunk, fl)
            covers = tuple(a.key for a in chunk)
            if start:  # a continuation names its task: a size split may part it from the lead
                body = f"- {same}{o}{_task(chunk, fl)}, …{e}{c}{ids}"
                entries.append(replace(first, body=body, output="", covers=covers))
                continue
            body = f"{first.body}\n- {same}{o}{len(members)}{e}{c}{ids}"
            if index == 0:
                body = f"{lead}\n\n{body}"
            entries.append(replace(first, body=body, covers=covers))
    return entries
