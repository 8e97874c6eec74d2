"""``assistwatch run``: one poll now, or one saved FC event, through the FC entry.

The exact path FC takes (``lib.edges.entry.handle``), with a local context: credentials come from
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET`` (/ ``_SECURITY_TOKEN``). The run report is
summed up a line per figure (JSON on stdout with ``--json``); a failure is one line
on stderr; the JSON log lines go to stderr with ``--json`` or ``-v``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lib.edges.cli.common import LocalContext, add_output_flags, fail, run_event

__all__ = ["add_parser", "poll_event", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``run``."""
    parser = subparsers.add_parser(
        "run",
        help="poll now (or run a saved event file) and print the run report",
        description="Run one pass exactly as FC would: a poll of the configured regions, "
        "or the FC event in --event (a timer, EventBridge or action JSON; '-' reads stdin).",
    )
    parser.add_argument("--event", metavar="FILE", help="an FC event file ('-': stdin)")
    parser.add_argument("--region", action="append", default=[], help="narrow the poll")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        help="narrow the poll: ecs.command, ecs.file, eflo.command, eflo.file",
    )
    parser.add_argument("--resource-group", help="narrow the poll to one resource group id")
    parser.add_argument(
        "--lookback", help="look again this far back, e.g. 2h (failures in it are sent again)"
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds, as FC's timeout")
    add_output_flags(parser)


def poll_event(args: argparse.Namespace) -> dict[str, Any]:
    """The ``{"action": "poll"}`` event the flags describe."""
    event: dict[str, Any] = {"action": "poll"}
    if args.region:
        event["regions"] = list(args.region)
    if args.source:
        event["sources"] = list(args.source)
    if args.resource_group:
        event["resourceGroupId"] = args.resource_group
    if args.lookback:
        event["lookback"] = args.lookback
    return event


def _event_bytes(args: argparse.Namespace) -> bytes:
    if args.event is None:
        return json.dumps(poll_event(args)).encode()
    if args.event == "-":
        return sys.stdin.buffer.read()
    return Path(args.event).read_bytes()


def run(args: argparse.Namespace) -> int:
    """Run the pass; exit 0 when the report is ok, 1 otherwise."""
    from lib.edges.cli.common import LocalFunction

    try:
        event = _event_bytes(args)
    except OSError as error:
        return fail("run", f"cannot read the event {args.event}: {error.strerror}")
    context = LocalContext(function=LocalFunction(timeout=args.timeout))
    return run_event("run", event, context, args, retried=True)
