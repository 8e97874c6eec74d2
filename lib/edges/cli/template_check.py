"""``assistwatch check`` renders every configured message template against a sample.

A template that compiles can still fail on the night it is first used: a misspelt field
(templates run with ``StrictUndefined``), a filter applied to the wrong type, a loop the
sandbox refuses. Each template is rendered here against a sample notification that has
every kind of alert (a command failing on two instances, one already resolved, a file send,
an agent alert, a missed run) in both languages and for the receiver's flavour, and the
first failure is reported at its ``FILE:LINE``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from lib.edges.cli.preflight import Line

if TYPE_CHECKING:
    from lib.app.config import RoutingConfig
    from lib.core.alerts import Alert
    from lib.core.notification import Notification
    from lib.core.overrides import TemplateSource
    from lib.notify.escape import Flavour

__all__ = ["sample_notification", "template_lines"]

_AT = datetime(2026, 1, 5, 3, 0, 7, tzinfo=timezone.utc)


def _alert(**fields: object) -> Alert:
    from lib.core.alerts import Alert, fingerprint
    from lib.core.catalogue import classify
    from lib.core.findings import Finding

    values: dict[str, object] = {
        "account": "self",
        "provider": "ecs",
        "region": "cn-hangzhou",
        "kind": "command",
        "invoke_id": "t-hz0sample0001",
        "instance_id": "i-bp1sample00000001",
        "instance_name": "web-01",
        "instance_status": "Running",
        "status": "Failed",
        "error_code": None,
        "error_info": None,
        "exit_code": 1,
        "name": "deploy.sh",
        "command_id": "c-hz0sample0001",
        "started_at": _AT - timedelta(seconds=42),
        "finished_at": _AT,
        "output": "starting\nerror: no space left on device (/data)\n",
    }
    subject = fields.pop("subject", "execution")
    status = fields.pop("alert_status", "firing")
    values.update(fields)
    classification = classify(
        status=str(values["status"]),
        error_code=values["error_code"],  # type: ignore[arg-type]
        exit_code=values["exit_code"],  # type: ignore[arg-type]
        kind=values["kind"],  # type: ignore[arg-type]
        error_info=values["error_info"],  # type: ignore[arg-type]
    )
    finding = Finding(**values, classification=classification)  # type: ignore[arg-type]
    return Alert(
        fingerprint=fingerprint(finding),
        status=status,  # type: ignore[arg-type]
        group=finding.invoke_id,
        reason="sample",
        starts_at=_AT,
        ends_at=_AT + timedelta(minutes=5) if status == "resolved" else None,
        finding=finding,
        subject=subject,  # type: ignore[arg-type]
    )


def sample_notification() -> Notification:
    """One notification with every kind of alert a template may be handed."""
    from lib.core.notification import Notification

    alerts = (
        _alert(),
        _alert(instance_id="i-bp1sample00000002", instance_name=None, alert_status="resolved"),
        _alert(
            kind="file",
            invoke_id="f-hz0sample0001",
            name="app.conf",
            target_dir="/etc/app/",
            exit_code=None,
            error_code="FileAlreadyExists",
            output=None,
        ),
        _alert(
            subject="agent",
            instance_id="i-bp1sample00000003",
            status="Failed",
            error_code="ClientNotRunning",
            exit_code=None,
            output=None,
        ),
        _alert(
            subject="missed",
            instance_id="i-bp1sample00000004",
            name="backup.sh",
            status="Success",
            exit_code=0,
            output=None,
        ),
    )
    return Notification(receiver="sample", group="t-hz0sample0001", alerts=alerts)


def _flavour(kind: str) -> Flavour:
    from lib.notify import escape

    return {"dingtalk": escape.DINGTALK, "feishu": escape.FEISHU, "wecom": escape.WECOM}.get(
        kind, escape.MARKDOWN
    )


def _render(template: TemplateSource, flavours: list[Flavour]) -> str | None:
    """The first problem rendering ``template`` against the sample, or None."""
    from lib.notify.render import RenderOptions
    from lib.notify.template import TemplateProblem
    from lib.notify.templated import try_template

    sample = sample_notification()
    for lang in ("zh", "en"):
        options = RenderOptions(lang=lang, template=template)
        for flavour in flavours:
            try:
                try_template(sample, options, flavour)
            except TemplateProblem as problem:
                return f"{problem} ({lang}, {flavour.name})"
    return None


def template_lines(config: RoutingConfig) -> list[Line]:
    """One line per configured template: ok, or FAIL at the line that broke."""
    kinds = {spec.name: spec.type for spec in config.receivers}
    found: list[tuple[str, TemplateSource, list[Flavour]]] = []
    for spec in config.receivers:
        if spec.template is not None:
            found.append((f"receiver {spec.name}", spec.template, [_flavour(spec.type)]))
    for index, route in enumerate(config.table.routes):
        if route.overrides.template is not None:
            distinct = {_flavour(kinds.get(name, name)) for name in route.receivers}
            ordered = sorted(distinct, key=lambda flavour: flavour.name)
            found.append((f"routes[{index}]", route.overrides.template, ordered))
    lines = []
    for what, template, flavours in found:
        problem = _render(template, flavours)
        if problem is None:
            lines.append(Line("ok", "template", f"{what}: {template.where} renders the sample"))
        else:
            lines.append(Line("FAIL", "template", f"{what}: {problem}"))
    return lines
