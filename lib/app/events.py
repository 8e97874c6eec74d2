"""Task events: the invocations an event names, fetched by InvokeId (ECS commands and files)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from lib.app.agents import agent_alerts
from lib.app.scopes import SELF_ACCOUNT, accounts_for, regions_for, scope_for
from lib.app.telling import tell_now

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.paging import Listed
    from lib.app.run import Invocation, Pass, Scope
    from lib.core.findings import Finding
    from lib.core.triggers import Targets
    from lib.support.credentials import Credentials

__all__ = ["ask_ecs", "targets"]


def targets(
    app: Context, trigger: Targets, invocation: Invocation, credentials: Credentials, state: Pass
) -> None:
    """Fetch the invocations an event names and tell their failures now."""
    region = regions_for(app, (trigger.region,) if trigger.region else (), invocation)[0]
    state.report.regions = [region]
    accounts = accounts_for(app, credentials, state)
    # An event from an account we assume a role in is fetched with that role.
    account = trigger.account if trigger.account in accounts else SELF_ACCOUNT
    scope = scope_for(app, account, region, state)
    findings: list[Finding] = []
    for target in trigger.targets:
        wanted = set(target.instance_ids)
        found, _ = ask_ecs(app, scope, target.invoke_id, "command", state)
        findings += [f for f in found if not wanted or f.instance_id in wanted]
    agent_alerts(app, scope, tell_now(app, findings, state), state)


def ask_ecs(
    app: Context, scope: Scope, invoke_id: str, kind: Literal["command", "file"], state: Pass
) -> tuple[list[Finding], bool | None]:
    """One ECS command invocation's or file send's failures, and whether it ended.

    None: the id is unknown to that API.
    """
    from lib.core.findings import findings_from_invocation, findings_from_send_file

    if kind == "command":
        pages = scope.assistant.invocation_pages(invoke_id=invoke_id)
        listed = (item for page in pages for item in page.invocations)
        return _ask(app, scope, listed, findings_from_invocation, state)
    sent = scope.assistant.send_file_result_pages(invoke_id=invoke_id)
    files = (item for page in sent for item in page.invocations)
    return _ask(app, scope, files, findings_from_send_file, state)


def _ask(
    app: Context,
    scope: Scope,
    listed: Iterable[Listed],
    build: Callable[..., list[Finding]],
    state: Pass,
) -> tuple[list[Finding], bool | None]:
    """The failures of what an InvokeId lookup listed, and whether all of it ended."""
    from lib.app.paging import IN_FLIGHT, overall_status

    findings: list[Finding] = []
    ended: bool | None = None
    for item in listed:
        state.report.records += len(item.invoke_instances) or 1
        ended = (ended is not False) and overall_status(item) not in IN_FLIGHT
        findings += build(
            item,
            account=scope.account,
            region=scope.region,
            include_cancelled=app.settings.include_cancelled,
        )
    return findings, ended
