"""``assistwatch send-test``: a sample failure alert to each configured receiver.

The sample is marked as a test in its name and invoke id so nobody acts on it. Nothing
is written to the state store.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from lib.edges.cli.common import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from lib.core.alerts import Alert

__all__ = ["add_parser", "run", "sample_alert", "send_test"]


def add_parser(subparsers: Any) -> None:
    """Register ``send-test``."""
    parser = subparsers.add_parser(
        "send-test",
        help="send a sample alert to each configured receiver",
        description="Render and send one sample failure (marked TEST) to every receiver "
        "the configuration names, and say which took it.",
    )
    parser.add_argument("--receiver", action="append", default=[], help="only these receivers")


def sample_alert(now: datetime | None = None) -> Alert:
    """A failed once-command, clearly a test, classified like a real one."""
    from lib.core.alerts import Alert, fingerprint
    from lib.core.catalogue import Classification
    from lib.core.findings import Finding
    from lib.notify.render import TEST_CATEGORY

    # Drawn as a test (🧪 [测试]), never as 🔴 严重: nobody should act on it.
    _TEST = Classification(
        code="AssistwatchSendTest",
        category=TEST_CATEGORY,
        severity="info",
        explanation_zh="这是 assistwatch send-test 发出的测试消息，说明这个接收方能收到告警。",
        explanation_en="A test message from assistwatch send-test: this receiver gets alerts.",
        hint_zh="无需处理。",
        hint_en="Nothing to do.",
    )

    when = now or datetime.now(timezone.utc)
    finding = Finding(
        account="self",
        provider="ecs",
        region="cn-hangzhou",
        kind="command",
        invoke_id="t-assistwatch-send-test",
        instance_id="i-assistwatch-test",
        status="Failed",
        error_code=None,
        error_info="assistwatch send-test: this is a test alert",
        exit_code=1,
        name="assistwatch-send-test (TEST, no action needed)",
        command_type="RunShellScript",
        repeat_mode="Once",
        started_at=when,
        finished_at=when,
        output="assistwatch send-test\nthis alert is a test\n",
        classification=_TEST,
    )
    return Alert(
        fingerprint=fingerprint(finding),
        group=finding.invoke_id,
        reason="send-test",
        starts_at=when,
        finding=finding,
    )


def send_test(
    environ: Mapping[str, str],
    only: list[str],
    out: TextIO,
    *,
    transport: Any = None,
    err: TextIO | None = None,
) -> int:
    """Send the sample to each receiver; 0 if every one took it.

    A bad setting or routing file, an unknown ``--receiver`` or no receiver at all is one
    line on ``err`` (stderr) and exit 1, never a traceback and never a silent success.
    """
    import httpx

    from lib.app.receivers import build_receivers
    from lib.core.notification import Notification
    from lib.edges.cli.common import fail
    from lib.edges.cli.probes import fix_for
    from lib.support.errors import AssistwatchError
    from lib.support.log import configure
    from lib.support.settings import load_settings

    errors = err or sys.stderr
    configure(errors)  # logs beside, never inside, what `out` shows
    with httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        try:
            settings = load_settings(environ)
            receivers = build_receivers(settings, http=http, environ=environ)
        except AssistwatchError as error:
            return fail("send-test", str(error), errors)
        configured = [name for name in receivers if name != "console" or settings.console]
        if not configured:
            return fail(
                "send-test",
                "no receiver is configured: set ASSISTWATCH_DINGTALK_URL (or _WECOM_URL, "
                "_FEISHU_URL, _WEBHOOK_URL) or a routing file (ASSISTWATCH_CONFIG)",
                errors,
            )
        unknown = [name for name in only if name not in configured]
        if unknown:
            return fail(
                "send-test",
                f"no receiver named {', '.join(unknown)} (configured: {', '.join(configured)})",
                errors,
            )
        alert = sample_alert()
        failed = False
        for name in only or configured:
            receiver = receivers[name]
            notification = Notification(receiver=name, group=alert.group, alerts=(alert,))
            try:
                messages = receiver.render(notification)
                for message in messages:
                    receiver.send(message)
                out.write(f"ok    {name:<12} {len(messages)} message(s) taken\n")
            except AssistwatchError as error:
                failed = True
                fix = fix_for(_service(receiver), str(error))
                out.write(f"FAIL  {name:<12} {error}{f' → {fix}' if fix else ''}\n")
    return EXIT_FAILED if failed else EXIT_OK


def _service(receiver: Any) -> str:
    """``dingtalk``, ``wecom``, ``feishu`` … for a receiver object (for its refusal's fix)."""
    kind = getattr(receiver, "kind", None)
    if isinstance(kind, str) and kind != "robot":
        return kind
    return type(receiver).__name__.removesuffix("Receiver").lower()


def run(args: argparse.Namespace) -> int:
    """Send to the receivers the process environment configures."""
    return send_test(os.environ, list(args.receiver), sys.stdout)
