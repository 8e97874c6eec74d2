"""The ``assistwatch`` command (also ``python -m lib``): run, check, send-test, replay, watch, silence.

Each command lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; :data:`COMMANDS` registers them, so adding a command is one module
and one line here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

# Command name → module under lib.edges.cli. Imported lazily: `assistwatch run` should not pay
# for what `check` imports.
COMMANDS: dict[str, str] = {
    "run": "lib.edges.cli.run",
    "check": "lib.edges.cli.check",
    "send-test": "lib.edges.cli.send_test",
    "replay": "lib.edges.cli.replay",
    "watch": "lib.edges.cli.watch",
    "silence": "lib.edges.cli.silence",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="assistwatch",
        description="Watch Cloud Assistant command runs and file sends; tell people once "
        "when they fail. Configuration comes from ASSISTWATCH_* variables (see the README).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMANDS.values():
        module = importlib.import_module(module_name)
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    module = importlib.import_module(COMMANDS[args.command])
    status: int = module.run(args)
    return status
