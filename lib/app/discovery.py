"""Where a fleet is, found rather than listed: ECS regions (``ASSISTWATCH_REGIONS=*``) and the
member accounts of a Resource Directory (``ASSISTWATCH_ACCOUNTS=*``).

- Regions: ECS ``DescribeRegions`` (2014-05-26) in the function's own region, answered with
  ``Regions.Region[].RegionId``; kept in the state store for a day (``discovery/regions``),
  so a pass costs no call; when the call fails, yesterday's list is used and said so.
- Members: Resource Manager ``ListAccounts`` (2020-03-31, central endpoint
  ``resourcemanager.aliyuncs.com``), ``PageSize`` 100 and ``PageNumber`` until ``TotalCount``
  is read; each member is reached through the role ``ASSISTWATCH_MEMBER_ROLE`` (default the
  directory's own ``ResourceDirectoryAccountAccessRole``). Only the directory's management
  account or a delegated administrator may list them; a refusal is one report error and the
  pass goes on with the function's own account.

Sources: alibabacloud_ecs20140526 7.11.8 (DescribeRegionsRequest/ResponseBody) and
alibabacloud_resourcemanager20200331 2.6.2 (ListAccountsRequest/ResponseBody), see
docs/decisions.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lib.app.clients import SELF_ACCOUNT, ecs_client
from lib.support.errors import ApiError, ConfigError

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass

__all__ = [
    "ALL",
    "REGIONS_RECORD",
    "RESOURCEMANAGER_ENDPOINT",
    "RESOURCEMANAGER_VERSION",
    "directory_members",
    "discovered_regions",
    "member_roles",
    "role_for",
]

ALL = "*"
REGIONS_RECORD = "discovery/regions"
REGIONS_FOR = timedelta(days=1)
RESOURCEMANAGER_VERSION = "2020-03-31"
RESOURCEMANAGER_ENDPOINT = "https://resourcemanager.aliyuncs.com"
PAGE_SIZE = 100  # ListAccounts: 1 to 100
_MAX_PAGES = 1000  # 100,000 members: a directory's own limit is far below


def discovered_regions(app: Context, state: Pass, home: str | None) -> list[str]:
    """The regions ECS offers this account: from the store if asked within a day, else asked.

    Raises:
        ConfigError: no home region to ask in (not on FC and none configured).
        ApiError: DescribeRegions failed and nothing was ever stored.
    """
    record = app.store.read(REGIONS_RECORD)
    cached = _regions_of(record.value)
    asked_at = _time(record.value.get("asked_at"))
    now = state.started
    if cached and asked_at is not None and now - asked_at < REGIONS_FOR:
        return cached
    if home is None:
        raise ConfigError(
            "ASSISTWATCH_REGIONS=* asks ECS in the function's own region: run on FC, or set "
            "FC_REGION (or list the regions) to run locally"
        )
    try:
        answer = ecs_client(app, SELF_ACCOUNT, home, state).call("DescribeRegions", {})
    except ApiError as error:
        if not cached:
            raise
        state.report.notes.append(
            f"DescribeRegions failed ({error.code}); polling yesterday's {len(cached)} region(s)"
        )
        return cached
    regions = _regions_of(answer)
    if not regions:
        raise ApiError("DescribeRegions", "EmptyAnswer", "DescribeRegions listed no region")
    value = {"regions": regions, "asked_at": now.isoformat()}
    app.store.write(REGIONS_RECORD, value, record.version)  # lost race: the other's is as good
    return regions


def directory_members(app: Context, state: Pass) -> list[str]:
    """Every member account id of the Resource Directory, in the order listed (all pages);
    listed once a run (a fan-out coordinator and the poll it may become both ask)."""
    if state.members is not None:
        return state.members
    from lib.cloud.aliyun.client import OpenApiClient

    client = OpenApiClient(
        app.http,
        app.settings.resourcemanager_endpoint or RESOURCEMANAGER_ENDPOINT,
        RESOURCEMANAGER_VERSION,
        state.credentials[SELF_ACCOUNT],
        limiter=app.budgets.limiter(SELF_ACCOUNT, "central", "resourcemanager"),
        sleep=app.sleep,
    )
    state.clients.append(client)
    members: list[str] = []
    for page in range(1, _MAX_PAGES + 1):
        answer = client.call("ListAccounts", {"PageNumber": page, "PageSize": PAGE_SIZE})
        listed = (answer.get("Accounts") or {}).get("Account") or []
        members += [
            str(a["AccountId"]) for a in listed if isinstance(a, dict) and a.get("AccountId")
        ]
        total = answer.get("TotalCount")
        if not listed or not isinstance(total, int) or page * PAGE_SIZE >= total:
            break
    state.members = list(dict.fromkeys(members))
    return state.members


def member_roles(app: Context, state: Pass, own_account: str | None) -> list[str]:
    """The role ARN to assume in each member account (the function's own account left out)."""
    role = app.settings.member_role
    return [
        f"acs:ram::{account}:role/{role}"
        for account in directory_members(app, state)
        if account != own_account
    ]


def role_for(app: Context, account: str) -> str | None:
    """The role ARN that reaches ``account`` (None: no configured role names it)."""
    if app.settings.accounts == [ALL]:
        return f"acs:ram::{account}:role/{app.settings.member_role}"
    from lib.support.arn import account_of

    return next((arn for arn in app.settings.accounts if account_of(arn) == account), None)


def _regions_of(value: dict[str, Any]) -> list[str]:
    if isinstance(value.get("regions"), list):
        return [str(region) for region in value["regions"] if isinstance(region, str)]
    listed = (value.get("Regions") or {}).get("Region") or []
    return [str(r["RegionId"]) for r in listed if isinstance(r, dict) and r.get("RegionId")]


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
