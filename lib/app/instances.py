"""Instance context for a pass: DescribeInstances once per run and region, for the alerts it tells."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.scopes import scope_for

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert
    from lib.core.findings import Finding
    from lib.core.fleet import InstanceLookup
    from lib.core.records.instances import EcsInstance

__all__ = ["instance_lookup", "with_instances"]


def instance_lookup(app: Context, state: Pass, findings: list[Finding]) -> InstanceLookup:
    """The state of ``findings``' ECS instances, described once per run (cached in the pass)."""
    if state.instances is None:
        from lib.cloud.instances import InstanceDirectory

        def describe(account: str, region: str, ids: list[str]) -> dict[str, EcsInstance]:
            if account not in state.credentials:  # not reachable yet: ask again later
                raise LookupError(account)
            return scope_for(app, account, region, state).assistant.describe_instances(ids)

        state.instances = InstanceDirectory(describe)
    state.instances.prefetch(findings)
    return state.instances.lookup


def with_instances(app: Context, state: Pass, alerts: list[Alert]) -> list[Alert]:
    """The alerts with their instance's name and status, as DescribeInstances says now."""
    from lib.core.fleet import with_instance

    lookup = instance_lookup(app, state, [alert.finding for alert in alerts])
    out: list[Alert] = []
    for alert in alerts:
        finding = with_instance(alert.finding, lookup(alert.finding))
        out.append(
            alert if finding is alert.finding else alert.model_copy(update={"finding": finding})
        )
    return out
