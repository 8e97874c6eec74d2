"""Watch requests: invocations followed by InvokeId until they end, Lingjun (eflo) nodes included.

eflo has no API that lists invocations, so this is how Lingjun work is watched.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib.app.agents import agent_alerts
from lib.app.events import ask_ecs
from lib.app.scopes import SELF_ACCOUNT, accounts_for, scope_for
from lib.app.state import due_for_refresh, load
from lib.app.telling import tell_now
from lib.support.errors import BadInput

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass, Scope
    from lib.cloud.cloudassist.eflo import EfloAssistant
    from lib.core.findings import Finding
    from lib.core.triggers import Watch
    from lib.support.credentials import Credentials

__all__ = ["check_watches", "watch"]


def watch(app: Context, trigger: Watch, credentials: Credentials, state: Pass) -> None:
    """Remember invocations to follow until terminal, and look at them right away."""
    from lib.core.watches import WatchList, record_name
    from lib.state.records import update_record

    accounts = accounts_for(app, credentials, state)
    account = trigger.account or SELF_ACCOUNT
    if account.startswith("acs:ram::"):  # a role ARN from ASSISTWATCH_ACCOUNTS
        from lib.support.arn import account_of

        account = account_of(account)
    if account not in accounts:
        raise BadInput(
            f"watch names account {account!r}, which is neither this function's nor one "
            "of ASSISTWATCH_ACCOUNTS"
        )
    state.report.regions = [trigger.region]

    def added(value: dict[str, Any]) -> dict[str, Any]:
        try:
            watches = WatchList.model_validate(value).add(
                trigger.invoke_ids, trigger.kind, state.started
            )
        except ValueError as error:  # over the list's cap: refused, nothing stored
            raise BadInput(f"watch refused: {error}") from None
        return watches.model_dump(mode="json")

    update_record(
        app.store,
        record_name(account, trigger.provider, trigger.region),
        added,
        what="the watch list",
    )
    state.report.notes.append(
        f"watching {len(trigger.invoke_ids)} {trigger.provider} invocation(s) in "
        f"{trigger.region} until they end"
    )
    scope = scope_for(app, account, trigger.region, state)
    # The request's own ids, within its deadline; the rest of the list is the polls' turn.
    found = check_watches(app, scope, state, providers=(trigger.provider,), only=trigger.invoke_ids)
    agent_alerts(app, scope, found, state)


def check_watches(
    app: Context,
    scope: Scope,
    state: Pass,
    *,
    providers: tuple[str, ...] = ("ecs", "eflo"),
    only: tuple[str, ...] | None = None,
) -> list[Finding]:
    """Ask about watched invocations of this account and region while the deadline allows.

    Oldest first from the list's cursor, at least one a list, so the run still claims and
    sends in time however many are watched (issue #12); the next poll goes on from where
    this one stopped. ``only``: just these ids (a watch request's own), cursor untouched.
    Ended ones are forgotten. Returns the agent faults among the failures (ECS only), for
    the region's agent alerts.
    """
    from lib.core.watches import WatchList, record_name

    faults: list[Finding] = []
    for provider in providers:
        name = record_name(scope.account, provider, scope.region)
        watches = load(WatchList, app.store.read(name), name, state)
        if not watches.items:
            continue
        findings: list[Finding] = []
        done = watches.expired(state.started)
        if done:
            state.report.notes.append(
                f"{len(done)} watch(es) older than Cloud Assistant's history forgotten"
            )
        turn = [key for key in watches.in_turn() if key[1] not in done]
        if only is not None:
            wanted = set(only)
            turn = [key for key in turn if key[1] in wanted]
        asked = 0
        for key in turn:
            if asked and state.deadline_reached():
                break
            invoke_id = key[1]
            found, ended = _ask_watched(
                app, scope, provider, invoke_id, kind=watches.items[invoke_id].kind, state=state
            )
            asked += 1
            findings += found
            if ended is None:
                state.report.notes.append(f"{invoke_id}: unknown to {provider}; no longer watched")
            if ended is not False:
                done.append(invoke_id)
        cursor = watches.cursor
        if asked < len(turn):
            state.report.notes.append(
                f"asked about {asked} of {len(turn)} watched {provider} invocation(s) in "
                f"{scope.region} before the run's deadline; the next poll goes on from there"
            )
            if only is None:
                cursor = turn[asked - 1]
        elif only is None:
            cursor = None  # all asked: the next poll starts with the oldest again
        # Only ECS faults fold (is_agent_fault): nodes have no agent-status API.
        faults += tell_now(app, findings, state)
        if done or cursor != watches.cursor or due_for_refresh(watches.written_at, state.started):
            change = functools.partial(_forget_watches, tuple(done), state.started, cursor)
            state.updates.append((name, change))
    return faults


def _ask_watched(
    app: Context,
    scope: Scope,
    provider: str,
    invoke_id: str,
    *,
    kind: str | None,
    state: Pass,
) -> tuple[list[Finding], bool | None]:
    """A watched invocation's failures and whether it ended (None: nobody knows it)."""
    if provider == "eflo":
        return _ask_eflo(app, scope, invoke_id, kind, state)
    findings: list[Finding] = []
    verdicts: list[bool | None] = []
    for asked in ("command", "file"):
        if kind is not None and (asked == "command") != (kind == "command"):
            continue
        found, ended = ask_ecs(app, scope, invoke_id, asked, state)
        findings += found
        verdicts.append(ended)
    known = [v for v in verdicts if v is not None]
    return findings, (all(known) if known else None)


def _ask_eflo(
    app: Context, scope: Scope, invoke_id: str, kind: str | None, state: Pass
) -> tuple[list[Finding], bool | None]:
    """A watched Lingjun invocation: eflo-controller answers by InvokeId only."""
    from lib.app.paging import IN_FLIGHT
    from lib.core.findings import findings_from_eflo_invocation, findings_from_eflo_send_file

    eflo = _eflo(app, scope, state)
    where = {"account": scope.account, "region": scope.region}
    cancelled = app.settings.include_cancelled
    findings: list[Finding] = []
    verdicts: list[bool] = []
    if kind in (None, "command"):
        command = eflo.invocations(invoke_id)
        if command is not None:
            state.report.records += len(command.invoke_nodes) or 1
            status = command.invocation_status or command.invoke_status or ""
            verdicts.append(status not in IN_FLIGHT)
            findings += findings_from_eflo_invocation(
                command, invoke_id=invoke_id, include_cancelled=cancelled, **where
            )
    if kind in (None, "file"):
        sent = eflo.send_file_results(invoke_id)
        if sent is not None:
            state.report.records += len(sent.invoke_nodes) or 1
            verdicts.append((sent.invocation_status or "") not in IN_FLIGHT)
            findings += findings_from_eflo_send_file(
                sent, invoke_id=invoke_id, include_cancelled=cancelled, **where
            )
    return findings, (all(verdicts) if verdicts else None)


def _eflo(app: Context, scope: Scope, state: Pass) -> EfloAssistant:
    """The eflo-controller client of a scope's account and region, built on first use."""
    key = (scope.account, scope.region)
    if key not in state.eflo:
        from lib.cloud.cloudassist.eflo import EfloAssistant, eflo_client

        client = eflo_client(
            app.http,
            scope.region,
            state.credentials[scope.account],
            endpoint=app.settings.eflo_endpoint,
            limiter=app.budgets.limiter(scope.account, scope.region, "eflo"),
            sleep=app.sleep,
        )
        state.clients.append(client)
        state.eflo[key] = EfloAssistant(client, scope.region)
    return state.eflo[key]


def _forget_watches(
    gone: tuple[str, ...],
    now: datetime,
    cursor: tuple[datetime, str] | None,
    value: dict[str, Any],
) -> dict[str, Any]:
    from lib.core.watches import WatchList

    watches = WatchList.model_validate(value).without(gone).touched(now).moved_to(cursor)
    return watches.model_dump(mode="json")
