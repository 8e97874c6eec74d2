"""``assistwatch silence``: add, list and expire silences in the state store (no redeploy).

    assistwatch silence add --match name=backup-* --match region=cn-hangzhou \\
        --for 2h --reason "disk migration tonight"
    assistwatch silence list
    assistwatch silence expire s-1a2b3c4d
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from lib.edges.cli.common import EXIT_OK

if TYPE_CHECKING:
    from lib.core.silences import Silence
    from lib.state.base import StateStore
    from lib.support.settings import Settings

__all__ = ["add_parser", "run", "silence"]

_LISTS = {"source", "kind", "region", "error_code", "category", "severity", "name", "instance_id"}


def add_parser(subparsers: Any) -> None:
    """Register ``silence``."""
    parser = subparsers.add_parser(
        "silence",
        help="mute matching alerts for a while (kept in the state store)",
        description="Add, list or expire silences. A silence mutes alerts matching every "
        "--match condition until it expires; it lives in ASSISTWATCH_STATE_URL.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a silence")
    add.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="source, kind, region, error_code, category, severity, name (glob), "
        "instance_id (glob) or tag:KEY; repeat a field for any of several values",
    )
    add.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d")
    add.add_argument("--reason", required=True, help="why (shown by list)")
    listing = actions.add_parser("list", help="list silences")
    listing.add_argument("--all", action="store_true", help="include expired ones")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("id")


def _match(pairs: list[str]) -> dict[str, Any]:
    from lib.support.errors import ConfigError

    match: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value:
            raise ConfigError(f"--match {pair!r}: expected FIELD=VALUE")
        if name.startswith("tag:"):
            match.setdefault("instance_tags", {})[name[4:]] = value
        elif name in _LISTS:
            match.setdefault(name, []).append(value)
        else:
            raise ConfigError(f"--match {name}: unknown field")
    if not match:
        raise ConfigError("give at least one --match: a silence of everything is a mistake")
    return match


def silence(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    stream: TextIO,
    now: float | None = None,
    err: TextIO | None = None,
) -> int:
    """Do what ``args`` ask against the store ``environ`` names; print the outcome.

    A refusal is one line on ``err`` (stderr): ``assistwatch silence: …``, exit 1.
    """

    from lib.edges.cli.common import fail
    from lib.state import open_store
    from lib.state.silences import add_silence, expire_silence, list_silences
    from lib.support.errors import AssistwatchError
    from lib.support.settings import load_settings, parse_duration

    moment = time.time() if now is None else now
    try:
        settings = load_settings(environ)
        store = open_store(settings.state_url, environ=environ)
        if args.action == "add":
            try:
                seconds = parse_duration(args.duration).total_seconds()
            except ValueError as error:
                return fail("silence", f"--for: {error}", err)
            added = add_silence(
                store,
                _match(args.match),
                reason=args.reason,
                duration_seconds=seconds,
                now=moment,
                created_by=_user(),
            )
            until = _shown(added.expires_at, settings.timezone)
            stream.write(f"added {added.id} until {until}\n")
            return EXIT_OK
        if args.action == "expire":
            if expire_silence(store, args.id, moment):
                stream.write(f"expired {args.id}\n")
                return EXIT_OK
            return fail("silence", f"no active silence {args.id}", err)
        found = list_silences(store, moment, include_expired=args.all)
        _list(found, store, settings, moment, stream=stream, err=err or sys.stderr)
        return EXIT_OK
    except AssistwatchError as error:
        return fail("silence", str(error), err)


def _list(
    found: list[Silence],
    store: StateStore,
    settings: Settings,
    moment: float,
    *,
    stream: TextIO,
    err: TextIO,
) -> None:
    """One line a silence, naming the alert it mutes when the journal knows it."""
    if not found:
        stream.write("no silences\n")
        return
    named = any("fingerprint" in item.match or "group" in item.match for item in found)
    journal = _journal(store, err) if named else {}
    for item in found:
        until = _shown(item.expires_at, settings.timezone)
        state = "active" if item.active(moment) else "expired"
        stream.write(
            f"{item.id}  {state}  until {until}  {item.match}{_what(item.match, journal)}  "
            f"{item.reason!r}  by {item.created_by or '-'}\n"
        )


def _journal(store: StateStore, err: TextIO) -> dict[str, Any]:
    """The operator page's journal (it knows which alert a fingerprint is), if kept; when
    it cannot be read, the silences are listed all the same, by what they match."""
    from lib.app.journal import RECORD
    from lib.support.errors import AssistwatchError

    try:
        return store.read(RECORD).value
    except AssistwatchError as error:
        err.write(
            f"assistwatch silence: the journal could not be read, alerts not named: {error}\n"
        )
        return {}


def _what(match: dict[str, object], journal: dict[str, Any]) -> str:
    """`` (command · instance)`` a silence of a link mutes, as the journal knows it; the
    cloud's text cleaned of control characters before it reaches a terminal."""
    from lib.app.journal import mutes
    from lib.notify.escape import clean

    known = mutes(match, journal)
    return f" ({clean(known)})" if known else ""


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def run(args: argparse.Namespace) -> int:
    """Run against the process environment."""
    return silence(args, os.environ, stream=sys.stdout)


def _shown(epoch: float, zone: str) -> str:
    """A moment as every message shows it: the configured zone, to the second."""
    from datetime import datetime, timezone

    from lib.notify.render import format_time

    return f"{format_time(datetime.fromtimestamp(epoch, timezone.utc), zone)} ({zone})"
