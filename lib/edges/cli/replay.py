"""``assistwatch replay``: a saved API answer through the whole pipeline; nothing sent unless asked.

The saved ``DescribeInvocations`` or ``DescribeSendFileResults`` JSON is served to the
app by an ``httpx.MockTransport`` (any other action answers an empty page), the state
lives in a throw-away directory, and every failure is treated as new. Receivers render
what they would send; with ``--send`` they really send it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lib.edges.cli.common import EXIT_FAILED, EXIT_OK, print_json

if TYPE_CHECKING:
    import httpx

    from lib.core.notification import Message, Notification
    from lib.notify.base import Receiver

__all__ = ["DryRunReceiver", "add_parser", "replay", "run"]

LIST_ACTIONS = {"ecs.command": "DescribeInvocations", "ecs.file": "DescribeSendFileResults"}


def add_parser(subparsers: Any) -> None:
    """Register ``replay``."""
    parser = subparsers.add_parser(
        "replay",
        help="run a saved API response through the pipeline (nothing sent unless --send)",
        description="Feed a saved DescribeInvocations / DescribeSendFileResults answer to "
        "the watcher and show the alerts and messages it makes.",
    )
    parser.add_argument("file", type=Path, help="the saved JSON answer")
    parser.add_argument("--source", choices=sorted(LIST_ACTIONS), help="default: guessed")
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument("--send", action="store_true", help="really send to the receivers")


class DryRunReceiver:
    """Renders with the real receiver, keeps the messages instead of sending them."""

    def __init__(self, inner: Receiver) -> None:
        self.name = inner.name
        self.inner = inner
        self.kept: list[Message] = []

    def render(self, notification: Notification) -> list[Message]:
        """The real receiver's rendering."""
        return self.inner.render(notification)

    def send(self, message: Message) -> None:
        """Keep the message; nothing leaves the process."""
        self.kept.append(message)


def guess_source(answer: Mapping[str, Any]) -> str:
    """ecs.file when the records describe files (FileName/TargetDir), else ecs.command."""
    invocations = (answer.get("Invocations") or {}).get("Invocation") or []
    first = invocations[0] if invocations else {}
    return "ecs.file" if "TargetDir" in first or "FileName" in first else "ecs.command"


def _transport(action: str, answer: Mapping[str, Any]) -> httpx.MockTransport:
    import httpx

    page = {k: v for k, v in answer.items() if k != "NextToken"}  # one page: no paging
    empty = {"RequestId": "replay", "Invocations": {"Invocation": []}}

    def serve(request: httpx.Request) -> httpx.Response:
        asked = request.url.params.get("Action") or request.headers.get("x-acs-action")
        return httpx.Response(200, json=page if asked == action else empty)

    return httpx.MockTransport(serve)


def replay(
    path: Path,
    environ: Mapping[str, str],
    out: TextIO,
    *,
    source: str | None = None,
    region: str = "cn-hangzhou",
    send: bool = False,
) -> int:
    """Replay ``path``; print the report and each rendered message."""
    import httpx
    from pydantic import SecretStr

    from lib.app import Invocation, build_app
    from lib.app.receivers import build_receivers
    from lib.core.triggers import Poll
    from lib.support.credentials import Credentials
    from lib.support.errors import AssistwatchError
    from lib.support.log import configure
    from lib.support.settings import load_settings

    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        out.write(f"assistwatch replay: cannot read {path}: {error}\n")
        return EXIT_FAILED
    chosen = source or guess_source(answer)
    configure(sys.stderr)  # logs beside, never inside, what `out` shows
    with tempfile.TemporaryDirectory(prefix="assistwatch-replay-") as state:
        try:
            settings = load_settings(
                environ,
                regions=[region],
                sources=[chosen],
                ecs_endpoint="https://ecs.replay.invalid",
                state_url=f"file://{state}",
                show_output=False,  # the saved answer is all there is
            )
            http = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
            receivers: dict[str, Any] = dict(build_receivers(settings, http=http))
            if not send:
                receivers = {name: DryRunReceiver(r) for name, r in receivers.items()}
            app = build_app(
                settings,
                transport=_transport(LIST_ACTIONS[chosen], answer),
                receivers=receivers,
                environ={},
            )
            report = app.run(
                Poll(origin="manual", lookback=timedelta(days=3650)),
                Invocation(
                    request_id="replay",
                    credentials=Credentials("replay", SecretStr("replay-not-a-secret")),
                ),
            )
        except AssistwatchError as error:
            out.write(f"assistwatch replay: {error}\n")
            return EXIT_FAILED
    print_json(report.model_dump(mode="json"), out)
    for receiver in receivers.values():
        for message in getattr(receiver, "kept", []):
            out.write(f"\n--- {message.receiver}: {message.title} (not sent)\n{message.text}\n")
    return EXIT_OK if report.ok else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    """Replay the file with the process environment's receivers."""
    return replay(
        args.file, os.environ, sys.stdout, source=args.source, region=args.region, send=args.send
    )
