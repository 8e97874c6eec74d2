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
from lib.errors import BadInput

if TYPE_CHECKING:
    from lib.aliyun.credentials import Credentials
    from lib.app.core import App
    from lib.app.run import Pass
    from lib.app.scopes import Scope
    from lib.cloudassist.eflo import EfloAssistant
    from lib.findings import Finding
    from lib.triggers import Watch

__all__ = ["check_watches", "watch"]


def watch(app: App, trigger: Watch, credentials: Credentials, state: Pass) -> None:
    """Remember invocations to follow until terminal, and look at them right away."""
    from lib.state.records import update_record
    from lib.watches import WatchList, record_name

    accounts = accounts_for(app, credentials, state)
    account = trigger.account or SELF_ACCOUNT
    if account.startswith("acs:ram::"):  # a role ARN from ASSISTWATCH_ACCOUNTS
        from lib.aliyun.sts import account_of

        account = account_of(account)
    if account not in accounts:
        raise BadInput(
            f"watch names account {account!r}, which is neither this function's nor one "
            "of ASSISTWATCH_ACCOUNTS"
        )
    state.report.regions = [trigger.region]
    update_record(
        app.store,
        record_name(account, trigger.provider, trigger.region),
        lambda value: (
            WatchList.model_validate(value)
            .add(trigger.invoke_ids, trigger.kind, state.started)
            .model_dump(mode="json")
        ),
        what="the watch list",
    )
    state.report.notes.append(
        f"watching {len(trigger.invoke_ids)} {trigger.provider} invocation(s) in "
        f"{trigger.region} until they end"
    )
    scope = scope_for(app, account, trigger.region, state)
    found = check_watches(app, scope, state, providers=(trigger.provider,))
    agent_alerts(app, scope, found, state)


def check_watches(
    app: App, scope: Scope, state: Pass, *, providers: tuple[str, ...] = ("ecs", "eflo")
) -> list[Finding]:
    """Ask about every watched invocation of this account and region; forget ended ones.

    Returns the agent faults among the failures (ECS only), for the region's agent alerts.
    """
    from lib.watches import WatchList, record_name

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
        for invoke_id, item in watches.items.items():
            if invoke_id in done:
                continue
            found, ended = _ask_watched(
                app, scope, provider, invoke_id, kind=item.kind, state=state
            )
            findings += found
            if ended is None:
                state.report.notes.append(f"{invoke_id}: unknown to {provider}; no longer watched")
            if ended is not False:
                done.append(invoke_id)
        # Only ECS faults fold (is_agent_fault): nodes have no agent-status API.
        faults += tell_now(app, findings, state)
        if done or due_for_refresh(watches.written_at, state.started):
            state.updates.append(
                (name, functools.partial(_forget_watches, tuple(done), state.started))
            )
    return faults


def _ask_watched(
    app: App,
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
    app: App, scope: Scope, invoke_id: str, kind: str | None, state: Pass
) -> tuple[list[Finding], bool | None]:
    """A watched Lingjun invocation: eflo-controller answers by InvokeId only."""
    from lib.findings import findings_from_eflo_invocation, findings_from_eflo_send_file
    from lib.poll import IN_FLIGHT

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


def _eflo(app: App, scope: Scope, state: Pass) -> EfloAssistant:
    """The eflo-controller client of a scope's account and region, built on first use."""
    key = (scope.account, scope.region)
    if key not in state.eflo:
        from lib.cloudassist.eflo import EfloAssistant, eflo_client

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


def _forget_watches(gone: tuple[str, ...], now: datetime, value: dict[str, Any]) -> dict[str, Any]:
    from lib.watches import WatchList

    return WatchList.model_validate(value).without(gone).touched(now).model_dump(mode="json")
