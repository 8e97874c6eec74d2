"""Fan-out: a timer pass too big for one invocation becomes a coordinator of FC shards.

When ``ASSISTWATCH_SHARDS`` ≥ 2, or (unset) the last pass's timing says this one would not fit
the function's timeout, the timer invocation does not poll: it splits the scopes (account ×
region) into shards, leases each shard a slot in the state store (``fanout/slot/{n}``: its
scopes, this pass's token, until when) and invokes this same function asynchronously once per
shard. A shard is an ordinary poll narrowed to its scopes that runs only while its slot is
its own, so two shards never poll a scope at once; it frees the slot when its run ends. A
slot whose lease ended unfinished (its run died) is free again: the next coordinator pass
gives its scopes out anew. A shard FC refused to invoke is polled here, in-process, and the
refusal is one report error — a scope is never left out. See docs/polling.md "Big fleets".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lib.app.clients import SELF_ACCOUNT
from lib.app.discovery import ALL
from lib.app.spread import spread
from lib.core.shards import Slot, parse_scope, scope_id, shard_count, split
from lib.core.triggers import Poll, ShardTicket
from lib.support.errors import ApiError, AssistwatchError

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Invocation, Pass
    from lib.state.base import Record
    from lib.support.credentials import Credentials

__all__ = ["MEASURE", "coordinate", "hold_slot", "slot_name"]

MEASURE = "fanout/measure"  # what the last in-process timer pass took
SLOTS = "fanout/slots"  # how many slots were ever used (the coordinator reads them all)
LEASE_MARGIN = 60.0  # seconds past the timeout, as for claims

Key = tuple[str, str]


def slot_name(index: int) -> str:
    """The state record of shard slot ``index``."""
    return f"fanout/slot/{index}"


def budget_seconds(invocation: Invocation) -> float:
    """The seconds a pass may poll: its timeout less the time kept to claim and send."""
    timeout = invocation.timeout_seconds
    return max(timeout - max(20.0, timeout / 5), 1.0)


def coordinate(
    app: Context,
    trigger: Poll,
    invocation: Invocation,
    state: Pass,
    *,
    credentials: Credentials,
    regions: list[str],
    poll_shard: Callable[[Poll], None],
) -> bool:
    """Fan this timer pass out if it needs to; True when it did (the caller polls nothing).

    ``poll_shard`` polls a shard in this invocation (one FC refused to invoke).
    """
    if trigger.origin != "timer" or trigger.shard is not None or trigger.scopes:
        return False
    configured = app.settings.shards
    if configured == 1:
        return False
    if not invocation.function_name or not (app.settings.fc_endpoint or invocation.region):
        if configured >= 2:
            state.report.notes.append(
                f"ASSISTWATCH_SHARDS={configured}, but this invocation is not on FC (no "
                "function name and region to invoke): polled in-process"
            )
        return False
    now = app.clock().timestamp()
    count = _int(app.store.read(SLOTS).value.get("count"))
    records = [app.store.read(slot_name(index)) for index in range(count)]
    slots = [Slot.from_value(record.value) for record in records]
    keys = _planned_keys(app, regions, state, invocation.account_id)
    estimate = _estimate(app, slots, len(keys))
    wanted = shard_count(configured, estimate, budget_seconds(invocation), len(keys))
    busy = any(slot.holds(now) for slot in slots)
    if wanted < 2 and not busy:  # in-process, as without fan-out; its timing is the next estimate
        if configured == 0:
            _measure_in_process(app, state, len(keys))
        return False
    held = {parse_scope(s) for slot in slots if slot.holds(now) for s in slot.scopes}
    free = [key for key in keys if key not in held]
    state.report.regions = regions
    if held:
        state.report.notes.append(
            f"fan-out: {len(held)} scope(s) skipped, an earlier shard still holds them "
            "(the next pass polls them if it has finished)"
        )
    died = [slot for slot in slots if slot.died(now)]
    if died:
        scopes = sum(len(slot.scopes) for slot in died)
        state.report.notes.append(
            f"fan-out: took over {scopes} scope(s) of {len(died)} shard(s) whose lease ended "
            "unfinished (their runs died)"
        )
    if not free:
        return True
    token = uuid.uuid4().hex
    lease = now + invocation.timeout_seconds + LEASE_MARGIN
    leased = _lease(
        app, records, slots, split(free, max(wanted, 2)), token=token, lease=lease, state=state
    )
    refused = _dispatch(
        app, trigger, invocation, state, credentials=credentials, token=token, leased=leased
    )
    state.report.shards = len(leased) - len(refused)
    why = f"ASSISTWATCH_SHARDS={configured}"
    if not configured:
        why = "earlier shards still running" if estimate is None else f"estimated {estimate:.0f} s"
    state.report.notes.append(
        f"fan-out ({why}): {state.report.shards} shard(s) dispatched to "
        f"{invocation.function_name} for {len(free)} scope(s)"
    )
    if refused:
        error, scopes = refused[0][2], sum(len(part) for _, part, _ in refused)
        state.report.errors.append(
            f"fan-out: {len(refused)} of {len(leased)} shard invocation(s) refused ({error}); "
            f"their {scopes} scope(s) were polled in-process by this coordinator"
        )
        for index, part, _ in refused:
            poll_shard(_shard_poll(trigger, token, index, part))
    return True


def _lease(
    app: Context,
    records: list[Record],
    slots: list[Slot],
    parts: list[list[Key]],
    *,
    token: str,
    lease: float,
    state: Pass,
) -> list[tuple[int, list[Key]]]:
    """Write each part into a free slot (a compare-and-swap); return the slots this pass got."""
    now = app.clock().timestamp()
    indexes = [index for index, slot in enumerate(slots) if not slot.holds(now)]
    indexes += list(range(len(slots), len(slots) + len(parts)))
    leased: list[tuple[int, list[Key]]] = []
    for part, index in zip(parts, indexes, strict=False):
        slot = Slot(token, [scope_id(*key) for key in part], "dispatched", lease)
        expected = records[index].version if index < len(records) else None
        if app.store.write(slot_name(index), slot.value(), expected):
            leased.append((index, part))
        else:  # another coordinator leased it first: its scopes wait for the next pass
            state.report.notes.append(f"fan-out: slot {index} was leased by another pass")
    _raise_count(app, max((index + 1 for index, _ in leased), default=0))
    return leased


def hold_slot(app: Context, trigger: Poll, invocation: Invocation, state: Pass) -> bool:
    """A shard starts: take its slot's lease (False: superseded or already polled; say so)."""
    ticket = trigger.shard
    assert ticket is not None
    name = slot_name(ticket.slot)
    record = app.store.read(name)
    slot = Slot.from_value(record.value)
    runner = invocation.request_id or uuid.uuid4().hex
    now = app.clock().timestamp()
    mine = sorted(slot.scopes) == sorted(scope_id(*key) for key in trigger.scopes)
    if not mine or not slot.may_start(ticket.token, runner, now):
        state.report.notes.append(
            f"shard {ticket.slot}: its slot belongs to another pass or was already polled; "
            "nothing polled"
        )
        return False
    slot.status, slot.runner = "running", runner
    slot.lease_until = now + invocation.timeout_seconds + LEASE_MARGIN
    if not app.store.write(name, slot.value(), record.version):
        state.report.notes.append(
            f"shard {ticket.slot}: another invocation took it; nothing polled"
        )
        return False
    started = time.monotonic()

    def finish(ok: bool) -> None:  # free the slot; its timing is the next estimate
        current = app.store.read(name)
        held = Slot.from_value(current.value)
        if held.token != ticket.token or held.runner != runner:
            return
        held.status = "done" if ok else "released"
        held.lease_until = app.clock().timestamp()
        held.seconds = round(time.monotonic() - started, 3)
        held.api_calls = sum(client.calls for client in state.clients)
        app.store.write(name, held.value(), current.version)

    state.finishers.append(finish)
    return True


def _dispatch(
    app: Context,
    trigger: Poll,
    invocation: Invocation,
    state: Pass,
    *,
    credentials: Credentials,
    token: str,
    leased: list[tuple[int, list[Key]]],
) -> list[tuple[int, list[Key], AssistwatchError]]:
    """Invoke a shard per leased slot, at once; return those FC refused."""
    from lib.cloud.aliyun.client import OpenApiClient
    from lib.cloud.fc import FC_VERSION, fc_endpoint, invoke_async

    function = invocation.function_name or ""
    endpoint = app.settings.fc_endpoint or fc_endpoint(invocation.region or "")
    client = OpenApiClient(
        app.http, endpoint, FC_VERSION, credentials, limiter=app.limiter, sleep=app.sleep
    )
    state.clients.append(client)

    def one(position: int) -> AssistwatchError | None:
        index, part = leased[position]
        event = _event(_shard_poll(trigger, token, index, part))
        try:
            invoke_async(client, function, event, qualifier=invocation.qualifier)
        except AssistwatchError as error:  # refused, or a name FC would refuse: in-process
            return error
        return None

    outcomes = spread(one, len(leased), app.settings.concurrency)
    return [
        (index, part, error)
        for (index, part), error in zip(leased, outcomes, strict=True)
        if error is not None
    ]


def _shard_poll(trigger: Poll, token: str, index: int, part: list[Key]) -> Poll:
    return Poll(
        origin="timer",
        sources=trigger.sources,
        resource_group_id=trigger.resource_group_id,
        lookback=trigger.lookback,
        scopes=tuple(part),
        shard=ShardTicket(index, token),
    )


def _event(shard: Poll) -> bytes:
    """The shard's event: a poll narrowed to its scopes, with its slot's ticket."""
    assert shard.shard is not None
    event: dict[str, Any] = {
        "action": "poll",
        "scopes": [scope_id(*key) for key in shard.scopes],
        "shard": {"slot": shard.shard.slot, "token": shard.shard.token},
    }
    if shard.sources:
        event["sources"] = list(shard.sources)
    if shard.resource_group_id:
        event["resourceGroupId"] = shard.resource_group_id
    if shard.lookback is not None:
        event["lookback"] = f"{int(shard.lookback.total_seconds())}s"
    return json.dumps(event).encode()


def _planned_keys(app: Context, regions: list[str], state: Pass, own: str | None) -> list[Key]:
    """Every (account, region) of this pass, the accounts named without assuming their roles."""
    roles = list(app.settings.accounts)
    if roles == [ALL]:
        from lib.app.discovery import member_roles

        try:
            roles = member_roles(app, state, own)
        except ApiError as error:  # as accounts_for: said, and the own account still polled
            state.report.errors.append(f"Resource Directory members: {error}")
            roles = []
    from lib.support.arn import account_of

    accounts = [SELF_ACCOUNT, *(account_of(role) for role in roles)]
    return [(account, region) for account in accounts for region in regions]


def _estimate(app: Context, slots: list[Slot], scopes: int) -> float | None:
    """Seconds one invocation would need for ``scopes``: the last shards' or in-process pass's
    time, per scope, times the scopes now (None: nothing measured yet)."""
    measured = [slot for slot in slots if slot.seconds is not None and slot.scopes]
    value = app.store.read(MEASURE).value
    try:
        whole: float | None = float(value["seconds"]) / max(int(value["scopes"]), 1) * scopes
        at = float(value["at"])
    except (KeyError, TypeError, ValueError):
        whole, at = None, 0.0
    if measured and (whole is None or max(slot.lease_until for slot in measured) > at):
        seconds = sum(slot.seconds or 0.0 for slot in measured)  # as if one instance did all
        return seconds / sum(len(slot.scopes) for slot in measured) * scopes
    return whole


def _measure_in_process(app: Context, state: Pass, scopes: int) -> None:
    """Record what this in-process pass took (its API calls and seconds) when it ends."""
    started = time.monotonic()

    def finish(ok: bool) -> None:
        if not ok:
            return
        value = {
            "seconds": round(time.monotonic() - started, 3),
            "api_calls": sum(client.calls for client in state.clients),
            "scopes": scopes,
            "at": app.clock().timestamp(),
        }
        app.store.write(MEASURE, value, app.store.read(MEASURE).version)

    state.finishers.append(finish)


def _raise_count(app: Context, used: int) -> None:
    for _ in range(3):  # a concurrent coordinator may raise it too
        record: Record = app.store.read(SLOTS)
        if _int(record.value.get("count")) >= used:
            return
        if app.store.write(SLOTS, {"count": used}, record.version):
            return


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
