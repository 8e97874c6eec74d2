"""Instance context for a run: DescribeInstances once per (account, region), cached (issue #15).

The I/O half of :mod:`lib.core.fleet`. The app builds one :class:`InstanceDirectory` per run,
prefetches the instances of the findings it is about to decide or tell, and hands
:meth:`InstanceDirectory.lookup` to the pure code. A lookup never calls the API.

Context is never worth an alert: when DescribeInstances fails (the role lacks
``ecs:DescribeInstances``, throttling outlived the retries …) that account and region's
instances read as unknown — messages show the id alone and agent faults alarm as before —
and the failure becomes one note for the run report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lib.core.fleet import RELEASED, InstanceState, describable, ids_to_ask
from lib.support.errors import ApiError

if TYPE_CHECKING:
    from lib.core.findings import Finding
    from lib.core.records.instances import EcsInstance

__all__ = ["Describe", "InstanceDirectory"]

Describe = Callable[[str, str, list[str]], "dict[str, EcsInstance]"]
"""(account, region, instance ids) → {instance id: instance}; released ids absent."""

_PERMISSION_CODES = ("Forbidden", "NoPermission", "ActionUnauthorized", "AccessDenied")


class InstanceDirectory:
    """The ECS instances a run has named, by (account, region, instance id)."""

    def __init__(self, describe: Describe) -> None:
        self._describe = describe
        self._known: dict[tuple[str, str], dict[str, InstanceState]] = {}
        self._failed: set[tuple[str, str]] = set()
        self._notes: list[str] = []
        self.calls = 0

    @property
    def notes(self) -> tuple[str, ...]:
        """One line per (account, region) whose instances could not be described."""
        return tuple(self._notes)

    def prefetch(self, findings: Iterable[Finding]) -> None:
        """Describe the findings' ECS instances not known yet; never raises ApiError."""
        for scope, ids in ids_to_ask(findings, describable, self._known, self._failed).items():
            self._fetch(scope, ids)

    def lookup(self, finding: Finding) -> InstanceState | None:
        """The finding's instance as described this run; None when unknown."""
        return self._known.get((finding.account, finding.region), {}).get(finding.instance_id)

    def _fetch(self, scope: tuple[str, str], ids: list[str]) -> None:
        try:
            self.calls += 1
            found = self._describe(scope[0], scope[1], ids)
        except LookupError:
            return  # that account cannot be asked yet: nothing cached, asked again later
        except ApiError as error:
            self._failed.add(scope)
            self._notes.append(_note(scope, error))
            return
        known = self._known.setdefault(scope, {})
        for instance_id in ids:
            instance = found.get(instance_id)
            if instance is None:  # no longer listed: released (or never in this account)
                known[instance_id] = InstanceState(instance_id, RELEASED)
            else:
                known[instance_id] = InstanceState(
                    instance_id, instance.status or "", name=instance.instance_name or None
                )


def _note(scope: tuple[str, str], error: ApiError) -> str:
    account, region = scope
    where = f"instance context unavailable in {region} (account {account})"
    then = "messages there show instance ids only and stopped instances were not recognised"
    request = f", RequestId {error.request_id}" if error.request_id else ""
    if error.code.startswith(_PERMISSION_CODES):
        return (
            f"{where}: the role lacks ecs:DescribeInstances ({error.code}{request}); "
            f"grant it to name instances and quiet stopped ones. {then}."
        )
    return f"{where}: DescribeInstances failed ({error.code}{request}). {then}."
