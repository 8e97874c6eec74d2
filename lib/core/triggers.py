"""FC event bytes → one typed Trigger. The only place raw event dicts are looked at.

Accepted (DESIGN "Trigger events"):

- a timer event ``{"triggerTime", "triggerName", "payload"}``; the payload may be empty or a
  JSON object narrowing the poll (``regions``, ``sources``, ``resourceGroupId``, ``scopes``);
  a fan-out shard's event (``{"action": "poll", "scopes": [...], "shard": {...}}``) is a poll
  narrowed to its scopes and holding its slot's lease (lib.app.fanout);
- an EventBridge CloudEvent of type ``ecs:CloudAssistant:TaskCompleted``, or a list of them
  (trigger batching): merged by invoke id into targeted fetches; an event without an invoke
  id becomes a poll of its region;
- ``{"action": "poll", ...}`` and ``{"action": "watch", ...}`` by hand (console, CLI);
- any of those inside an FC 3.0 HTTP trigger's v1 envelope (``rawPath``, ``body``, …).

Anything else raises BadInput with a message that says what was expected.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, get_args

from lib.support.errors import BadInput
from lib.support.settings import Source, parse_duration

__all__ = [
    "TASK_COMPLETED",
    "ParsedEvent",
    "Poll",
    "ShardTicket",
    "Target",
    "Targets",
    "Trigger",
    "Watch",
    "parse_event",
]

TASK_COMPLETED = "ecs:CloudAssistant:TaskCompleted"
_SOURCES = set(get_args(Source))
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")  # fullmatch: "cn-hangzhou\n" is not one
# Resource group ids look like rg-acfmzw2jz2z…; lenient beyond "short, plain ASCII".
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class ShardTicket:
    """A fan-out shard's claim to its slot: the slot's index and its coordinator's token."""

    slot: int
    token: str


@dataclass(frozen=True)
class Poll:
    """Look at everything (or the narrowed part) and tell what is new."""

    origin: Literal["timer", "manual", "event"]
    regions: tuple[str, ...] = ()  # empty: the configured regions
    sources: tuple[Source, ...] = ()  # empty: the configured sources
    resource_group_id: str | None = None
    lookback: timedelta | None = None
    scopes: tuple[tuple[str, str], ...] = ()  # (account, region); empty: every account × region
    shard: ShardTicket | None = None  # a fan-out shard: poll only while holding this slot


@dataclass(frozen=True)
class Target:
    """One invocation to fetch, optionally narrowed to the instances an event named."""

    invoke_id: str
    instance_ids: tuple[str, ...] = ()  # empty: every instance of the invocation


@dataclass(frozen=True)
class Targets:
    """Fetch these invocations now (EventBridge TaskCompleted events, merged by invoke id)."""

    region: str | None  # None: the function's own region
    targets: tuple[Target, ...]
    account: str | None = None


@dataclass(frozen=True)
class Watch:
    """Remember these invocations and check them on every poll until they are terminal."""

    provider: Literal["ecs", "eflo"]
    region: str
    invoke_ids: tuple[str, ...]
    kind: Literal["command", "file"] | None = None
    account: str | None = None


Trigger = Poll | Targets | Watch


@dataclass(frozen=True)
class ParsedEvent:
    """The trigger, and whether it came through an HTTP trigger (the reply is then HTTP)."""

    trigger: Trigger
    http: bool = False
    notes: tuple[str, ...] = field(default=())  # e.g. events merged, regions split


def parse_event(raw: bytes | str | dict[str, Any] | list[Any]) -> ParsedEvent:
    """Parse an FC event into a trigger; raise BadInput with a specific reason."""
    data = _json(raw) if isinstance(raw, bytes | str) else _well_formed(raw, "event")
    if isinstance(data, dict) and _is_http_envelope(data):
        try:
            return ParsedEvent(_parse(_json(_http_body(data), what="HTTP request body")), http=True)
        except BadInput as error:
            error.http = True
            raise
    return ParsedEvent(_parse(data))


def _json(raw: bytes | str, *, what: str = "event") -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{what} is not UTF-8 text") from None
    if not raw.strip():
        raise BadInput(f"{what} is empty: expected a timer, EventBridge or action event (JSON)")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise BadInput(f"{what} is not valid JSON: {error.msg} at char {error.pos}") from None
    except RecursionError:
        raise BadInput(f"{what} is nested too deeply to be a trigger") from None
    return _well_formed(data, what)


def _well_formed(data: Any, what: str) -> Any:
    """``data`` if every string in it is well-formed Unicode; else BadInput naming the field.

    A lone surrogate (``"\\ud800"``) is valid JSON but no character: stored, signed or sent
    later it would fail far from here, after the claims.
    """
    from lib.support.text import lone_surrogate_at

    where = lone_surrogate_at(data)
    if where is not None:
        raise BadInput(f"{what}: {where[:80]} is not valid Unicode text (a lone surrogate)")
    return data


def _region(value: str, what: str) -> str:
    """``value`` if it is a region id (``cn-hangzhou``), else BadInput; never echoes junk."""
    if _REGION.fullmatch(value):
        return value
    raise BadInput(f"{what} is not a region id (expected e.g. cn-hangzhou)")


def _is_http_envelope(data: dict[str, Any]) -> bool:
    return "rawPath" in data and "requestContext" in data


def _http_body(envelope: dict[str, Any]) -> str:
    body = envelope.get("body") or ""
    if not isinstance(body, str):
        raise BadInput("HTTP request body must be a string")
    if envelope.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text
            raise BadInput(
                "HTTP request body claims Base64 but is not valid Base64 UTF-8"
            ) from None
    return body


def _parse(data: Any) -> Trigger:
    if isinstance(data, list):
        return _cloud_events(data)
    if not isinstance(data, dict):
        raise BadInput(
            f"event must be a JSON object or a list of events, got {type(data).__name__}"
        )
    if "triggerTime" in data or "triggerName" in data:
        return _timer(data)
    if "specversion" in data or ("type" in data and "source" in data):
        return _cloud_events([data])
    action = data.get("action")
    if action == "poll":
        return _poll("manual", data)
    if action == "watch":
        return _watch(data)
    if action is not None:
        raise BadInput(f"unknown action {str(action)[:40]!r}: expected 'poll' or 'watch'")
    keys = ", ".join(sorted(repr(str(key)[:30]) for key in data)[:8]) or "none"
    if len(keys) > 100:  # escaped or many keys: the line stays one readable line
        keys = keys[:99] + "…"
    raise BadInput(
        f"not a trigger assistwatch knows (keys: {keys}); expected a timer event, an "
        f"EventBridge {TASK_COMPLETED} event, or {{'action': 'poll'|'watch'}}"
    )


def _timer(data: dict[str, Any]) -> Poll:
    payload = data.get("payload")
    if payload in (None, ""):
        return Poll(origin="timer")
    narrowed = _json(payload, what="timer payload") if isinstance(payload, str) else payload
    if not isinstance(narrowed, dict):
        raise BadInput("timer payload must be empty or a JSON object (regions, sources, …)")
    return _poll("timer", narrowed)


def _poll(origin: Literal["timer", "manual"], data: dict[str, Any]) -> Poll:
    regions = [_region(region, "regions") for region in _str_list(data.get("regions"), "regions")]
    sources = _str_list(data.get("sources"), "sources")
    unknown = [source for source in sources if source not in _SOURCES]
    if unknown:
        raise BadInput(
            f"unknown source {unknown[0]!r}: expected one of {', '.join(sorted(_SOURCES))}"
        )
    group = data.get("resourceGroupId")
    if group not in (None, "") and not (isinstance(group, str) and _GROUP.fullmatch(group)):
        raise BadInput("resourceGroupId must be a resource group id (like rg-acfm…)")
    lookback = None
    if data.get("lookback") is not None:
        try:
            lookback = parse_duration(data["lookback"])
        except ValueError as error:
            raise BadInput(f"lookback: {error}") from None
    from lib.core.shards import parse_scope

    try:
        scopes = tuple(parse_scope(text) for text in _str_list(data.get("scopes"), "scopes"))
    except ValueError as error:
        raise BadInput(f"scopes: {error}") from None
    return Poll(
        origin=origin,
        regions=tuple(regions),
        sources=tuple(sources),  # type: ignore[arg-type]  # checked against _SOURCES above
        resource_group_id=group or None,
        lookback=lookback,
        scopes=scopes,
        shard=_shard(data.get("shard"), scopes),
    )


def _shard(value: Any, scopes: tuple[tuple[str, str], ...]) -> ShardTicket | None:
    if value is None:
        return None
    slot = value.get("slot") if isinstance(value, dict) else None
    token = value.get("token") if isinstance(value, dict) else None
    if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
        raise BadInput("shard needs slot: a non-negative integer")
    if not isinstance(token, str) or not token or len(token) > 128:
        raise BadInput("shard needs token: the coordinator's token (1-128 characters)")
    if not scopes:
        raise BadInput("a shard needs its scopes (account/region, …)")
    return ShardTicket(slot, token)


def _watch(data: dict[str, Any]) -> Watch:
    provider = data.get("provider")
    if provider not in ("ecs", "eflo"):
        raise BadInput("watch needs provider 'ecs' or 'eflo'")
    region = data.get("region")
    if not isinstance(region, str) or not region:
        raise BadInput("watch needs a region")
    _region(region, "watch region")
    invoke_ids = _str_list(data.get("invokeIds"), "invokeIds")
    if not invoke_ids:
        raise BadInput("watch needs invokeIds: a non-empty list of invoke ids")
    from lib.core.watches import MAX_IDS_PER_REQUEST  # lazily: watch requests are rare

    invoke_ids = list(dict.fromkeys(invoke_ids))
    if len(invoke_ids) > MAX_IDS_PER_REQUEST:
        raise BadInput(
            f"watch has {len(invoke_ids)} invokeIds; at most {MAX_IDS_PER_REQUEST} a request "
            "(send several requests)"
        )
    kind = data.get("kind")
    if kind not in (None, "command", "file"):
        raise BadInput("watch kind must be 'command' or 'file' (or absent: both are asked)")
    account = data.get("account")
    if account is not None and not isinstance(account, str):
        raise BadInput("watch account must be a string")
    return Watch(provider, region, tuple(dict.fromkeys(invoke_ids)), kind, account)


def _cloud_events(events: list[Any]) -> Trigger:
    if not events:
        raise BadInput("empty event list: nothing to do (expected one or more CloudEvents)")
    merged: dict[str, list[str]] = {}
    regions: set[str] = set()
    accounts: set[str] = set()
    without_id = False
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadInput(f"event {index} of the batch is not a JSON object")
        kind = event.get("type")
        if kind != TASK_COMPLETED:
            raise BadInput(
                f"event {index}: unknown type {str(kind)[:60]!r}; expected {TASK_COMPLETED}"
            )
        payload = event.get("data")
        if payload is not None and not isinstance(payload, dict):
            raise BadInput(f"event {index}: data must be a JSON object")
        payload = payload or {}
        region = _first(event, payload, "aliyunregionid", "regionId", "RegionId")
        if region:
            regions.add(_region(region, f"event {index}: region"))
        account = _first(event, payload, "aliyunaccountid")
        if account:
            accounts.add(account)
        invoke_id = _first(payload, {}, "invokeId", "InvokeId")
        if not invoke_id:
            without_id = True
            continue
        instances = merged.setdefault(invoke_id, [])
        instance_id = _first(payload, {}, "instanceId", "InstanceId")
        if instance_id and instance_id not in instances:
            instances.append(instance_id)
    if len(regions) > 1:
        raise BadInput(
            f"a batch spans several regions ({', '.join(sorted(regions))}): expected one"
        )
    region = next(iter(regions), None)
    if without_id or not merged:
        return Poll(origin="event", regions=(region,) if region else ())
    return Targets(
        region=region,
        targets=tuple(Target(invoke_id, tuple(ids)) for invoke_id, ids in merged.items()),
        account=next(iter(accounts)) if len(accounts) == 1 else None,
    )


def _first(primary: dict[str, Any], secondary: dict[str, Any], *names: str) -> str | None:
    for source in (primary, secondary):
        for name in names:
            value = source.get(name)
            if isinstance(value, str) and value:
                return value
    return None


def _str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item for item in value if item]
    raise BadInput(f"{name} must be a list of strings or a comma-separated string")
