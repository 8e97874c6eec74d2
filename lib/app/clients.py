"""A pass's API clients: one per account and region, counted in the run's API calls and
throttled by that account and region's own budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.cloud.aliyun.client import OpenApiClient

__all__ = ["ECS_VERSION", "SELF_ACCOUNT", "ecs_client"]

ECS_VERSION = "2014-05-26"
SELF_ACCOUNT = "self"  # the function's own account, in a pass's credentials and scopes


def ecs_client(app: Context, account: str, region: str, state: Pass) -> OpenApiClient:
    """A new ECS client of this account and region, counted in the run's API calls."""
    from lib.cloud.aliyun.client import OpenApiClient
    from lib.cloud.aliyun.endpoints import endpoint_for

    endpoint = app.settings.ecs_endpoint or endpoint_for(
        "ecs", region, vpc=app.settings.vpc_endpoints
    )
    client = OpenApiClient(
        app.http,
        endpoint,
        ECS_VERSION,
        state.credentials[account],
        limiter=app.budgets.limiter(account, region),
        sleep=app.sleep,
    )
    state.clients.append(client)
    return client
