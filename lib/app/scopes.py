"""Where a pass looks: regions, accounts (own and assumed roles), a client for each pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.clients import ECS_VERSION, SELF_ACCOUNT, ecs_client
from lib.app.run import Scope
from lib.support.errors import ApiError, ConfigError

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Invocation, Pass
    from lib.cloud.aliyun.sts import AssumedRoles
    from lib.support.credentials import Credentials

__all__ = [
    "ECS_VERSION",
    "SELF_ACCOUNT",
    "accounts_for",
    "assumed_roles",
    "ecs_client",
    "regions_for",
    "scope_for",
]


def regions_for(app: Context, wanted: tuple[str, ...], invocation: Invocation) -> list[str]:
    """The regions asked for, else the configured ones, else the function's own."""
    regions = list(wanted) or [r for r in app.settings.regions if r != "*"]
    if not regions and invocation.region:
        regions = [invocation.region]
    if not regions:
        raise ConfigError(
            "no region to watch: set ASSISTWATCH_REGIONS (e.g. cn-hangzhou) or run on FC"
        )
    return regions


def scope_for(app: Context, account: str, region: str, state: Pass) -> Scope:
    """One client per account, region and run: that run's credentials, shared connections."""
    if (account, region) in state.scopes:
        return state.scopes[account, region]
    from lib.cloud.cloudassist.api import CloudAssistant

    scope = Scope(account, region, CloudAssistant(ecs_client(app, account, region, state), region))
    state.scopes[account, region] = scope
    return scope


def accounts_for(
    app: Context,
    credentials: Credentials,
    state: Pass,
    *,
    own: str | None = None,
    wanted: set[str] | None = None,
) -> list[str]:
    """The function's own account, then every account it may assume a role in.

    ``own``: the function's account id, left out of the Resource Directory's members.
    ``wanted``: only these accounts (a fan-out shard's); their roles are not listed again.
    """
    state.credentials[SELF_ACCOUNT] = credentials
    accounts = [SELF_ACCOUNT]
    if not app.settings.accounts:
        return accounts
    from lib.app.spread import spread
    from lib.support.arn import account_of

    roles = list(app.settings.accounts)
    if wanted is not None:
        from lib.app.discovery import role_for

        roles = [r for a in sorted(wanted - {SELF_ACCOUNT}) if (r := role_for(app, a))]
    elif roles == ["*"]:  # every member of the Resource Directory
        from lib.app.discovery import member_roles

        try:
            roles = member_roles(app, state, own)
        except ApiError as error:  # not the management account (or no permission): say so
            state.report.errors.append(f"Resource Directory members: {error}")
            return accounts
    sts = assumed_roles(app)

    def assume(index: int) -> Credentials | ApiError:  # the roles at once, as the scopes
        try:
            return sts.credentials_for(roles[index], credentials)
        except ApiError as error:  # one account's role must not blind the others
            return error

    for role, got in zip(roles, spread(assume, len(roles), app.settings.concurrency), strict=True):
        account = account_of(role)
        if isinstance(got, ApiError):
            state.report.errors.append(f"account {account}: {got}")
            continue
        state.credentials[account] = got
        accounts.append(account)
    return accounts


def assumed_roles(app: Context) -> AssumedRoles:
    """The STS client, built on first use and kept warm with its cache of role credentials."""
    if app.roles is None:
        from lib.cloud.aliyun.sts import AssumedRoles

        app.roles = AssumedRoles(app.http, endpoint=app.settings.sts_endpoint, limiter=app.limiter)
    return app.roles
