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
    from lib.core.catalogue import classify
    from lib.core.findings import Finding

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
        classification=classify(status="Failed", error_code=None, exit_code=1, kind="command"),
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
) -> int:
    """Send the sample to each receiver; 0 if every one took it."""
    import httpx

    from lib.app.receivers import build_receivers
    from lib.core.notification import Notification
    from lib.support.errors import AssistwatchError
    from lib.support.log import configure
    from lib.support.settings import load_settings

    configure(sys.stderr)  # logs beside, never inside, what `out` shows
    try:
        settings = load_settings(environ)
    except AssistwatchError as error:
        out.write(f"FAIL  settings     {error}\n")
        return EXIT_FAILED
    with httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        receivers = build_receivers(settings, http=http)
        alert = sample_alert()
        failed = False
        for name, receiver in receivers.items():
            if only and name not in only:
                continue
            notification = Notification(receiver=name, group=alert.group, alerts=(alert,))
            try:
                messages = receiver.render(notification)
                for message in messages:
                    receiver.send(message)
                out.write(f"ok    {name:<12} {len(messages)} message(s) taken\n")
            except AssistwatchError as error:
                failed = True
                out.write(f"FAIL  {name:<12} {type(error).__name__}: {error}\n")
    return EXIT_FAILED if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Send to the receivers the process environment configures."""
    return send_test(os.environ, list(args.receiver), sys.stdout)
