"""``assistwatch watch``: ask the watcher to follow invocations (eflo nodes, or ECS by id).

Builds the ``{"action": "watch", ...}`` event and runs it through ``lib.edges.entry.handle``,
the path FC takes: the ids are stored in the state store, asked about at once, and checked
on every poll until they end.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lib.edges.cli.common import LocalContext, add_output_flags, run_event

__all__ = ["add_parser", "run", "watch_event"]


def add_parser(subparsers: Any) -> None:
    """Register ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="register invocations to check on every poll until they finish",
        description="Register invocations (Lingjun/eflo nodes have no API that lists them) "
        "so every poll checks them until they are terminal.",
    )
    parser.add_argument("invoke_ids", nargs="+", metavar="INVOKE_ID")
    parser.add_argument("--provider", choices=["ecs", "eflo"], default="eflo")
    parser.add_argument("--region", required=True)
    parser.add_argument("--kind", choices=["command", "file"])
    parser.add_argument("--account", help="a RAM role ARN from ASSISTWATCH_ACCOUNTS")
    add_output_flags(parser)


def watch_event(args: argparse.Namespace) -> dict[str, Any]:
    """The watch event the flags describe."""
    event: dict[str, Any] = {
        "action": "watch",
        "provider": args.provider,
        "region": args.region,
        "invokeIds": list(args.invoke_ids),
    }
    if args.kind:
        event["kind"] = args.kind
    if args.account:
        event["account"] = args.account
    return event


def run(args: argparse.Namespace) -> int:
    """Hand the watch event to the entry; print its report."""
    event = json.dumps(watch_event(args)).encode()
    return run_event("watch", event, LocalContext(), args)
