"""Resource Manager (2020-03-31) ``ListAccounts`` over a list of member accounts, as the
official SDK models it (alibabacloud_resourcemanager20200331 ListAccountsRequest /
ListAccountsResponseBody): ``PageNumber`` from 1 (default 1), ``PageSize`` 1–100 (default
10); the answer carries ``Accounts.Account[]`` (AccountId, DisplayName, FolderId, JoinMethod,
JoinTime, ModifyTime, ResourceDirectoryId, ResourceDirectoryPath, Status, Type),
``TotalCount``, ``PageNumber`` and ``PageSize``. It imports nothing from ``lib``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.ecs_api import ApiError

__all__ = ["API_VERSION", "handle", "member"]

API_VERSION = "2020-03-31"
_DIRECTORY = "rd-3G7hXw"


def member(account_id: str, name: str = "", *, status: str = "CreateSuccess") -> dict[str, Any]:
    """One member as ListAccounts describes it."""
    return {
        "AccountId": account_id,
        "DisplayName": name or f"member-{account_id[-4:]}",
        "FolderId": "fd-QRzuim",
        "JoinMethod": "created",
        "JoinTime": "2021-01-18T08:01:50.522Z",
        "ModifyTime": "2021-01-18T08:04:37.668Z",
        "ResourceDirectoryId": _DIRECTORY,
        "ResourceDirectoryPath": f"{_DIRECTORY}/r-Wm/fd-QRzuim/{account_id}",
        "Status": status,
        "Type": "ResourceAccount",
    }


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"InvalidParameter.{name}", f"The {name} is invalid.") from None
    if not low <= value <= high:
        raise ApiError(400, f"InvalidParameter.{name}", f"The {name} is invalid.")
    return value


def handle(
    action: str, params: Mapping[str, str], members: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Answer one Resource Manager action; raise ApiError on a bad one."""
    if action != "ListAccounts":
        raise ApiError(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    page = _int(params, "PageNumber", 1, 1, 1_000_000)
    size = _int(params, "PageSize", 10, 1, 100)
    listed = list(members)[(page - 1) * size : page * size]
    return {
        "Accounts": {"Account": listed},
        "TotalCount": len(members),
        "PageNumber": page,
        "PageSize": size,
    }
