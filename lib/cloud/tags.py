"""Instance tags for routes and silences, fetched once per run (issue #5).

Routing and silences match on tags through a pure :data:`lib.core.routing.TagLookup`; this module
is the I/O half. The app builds one :class:`InstanceTags` per run, calls
:meth:`InstanceTags.prefetch` with every finding it will route (outbox redeliveries too),
and passes :meth:`InstanceTags.lookup` as ``tags=``. A lookup never calls the API.

Tags are never worth an alert: when ListTagResources fails (the role lacks
``ecs:ListTagResources``, throttling outlived the retries …) the instances of that account
and region read as untagged, so tag conditions do not match and their alerts fall through
to the default route; the failure becomes one note for the run report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from lib.core.findings import Finding
from lib.support.errors import ApiError

if TYPE_CHECKING:
    from lib.cloud.cloudassist.api import CloudAssistant

__all__ = [
    "BATCH",
    "Fetch",
    "InstanceTags",
    "NotYet",
    "fetch_from",
]

Fetch = Callable[[str, str, list[str]], dict[str, dict[str, str]]]
"""(account, region, instance ids) → {instance id: {key: value}}; untagged ids absent.

Raises :class:`NotYet` when that account cannot be asked yet (its role not assumed so early in
the run): nothing is cached, a later prefetch asks again.
"""

BATCH = 50  # ResourceId.N per ListTagResources call (lib.cloud.cloudassist.api.MAX_TAG_IDS)


class NotYet(Exception):  # not an error: a question for later in the run
    """Raised by a :data:`Fetch` for an account it cannot ask yet."""


_EMPTY: Mapping[str, str] = MappingProxyType({})
_PERMISSION_CODES = ("Forbidden", "NoPermission", "ActionUnauthorized", "AccessDenied")


def fetch_from(assistant_for: Callable[[str, str], CloudAssistant]) -> Fetch:
    """A :data:`Fetch` over the run's ``CloudAssistant`` of each (account, region)."""

    def fetch(account: str, region: str, instance_ids: list[str]) -> dict[str, dict[str, str]]:
        return assistant_for(account, region).instance_tags(instance_ids)

    return fetch


def _taggable(finding: Finding) -> bool:
    # Lingjun (eflo) nodes have no tag API here; Cloud Assistant managed instances (mi-…)
    # are another ResourceType, and an id ListTagResources may refuse would sink the batch.
    return finding.provider == "ecs" and not finding.instance_id.startswith("mi-")


class InstanceTags:
    """The ECS instance tags of one run, by (account, region, instance id).

    Eflo (Lingjun) nodes have no tags here: their lookups are always empty, so a tag
    condition never matches a node.

    Args:
        fetch: reads tags of one account and region (see :func:`fetch_from`); called with
            at most ``batch`` ids, and only for ids not fetched yet.
        wanted: False when no route or silence matches on tags (:func:`lib.core.routing.needs_tags`):
            prefetch then calls nothing at all.
        batch: ids per fetch call.
    """

    def __init__(self, fetch: Fetch, *, wanted: bool = True, batch: int = BATCH) -> None:
        self._fetch = fetch
        self._wanted = wanted
        self._batch = batch
        self._known: dict[tuple[str, str], dict[str, Mapping[str, str]]] = {}
        self._failed: set[tuple[str, str]] = set()
        self._notes: list[str] = []

    @property
    def notes(self) -> tuple[str, ...]:
        """One line per (account, region) whose tags could not be read, for the run report."""
        return tuple(self._notes)

    def prefetch(self, findings: Iterable[Finding]) -> None:
        """Fetch the tags of the findings' ECS instances not known yet; never raises ApiError."""
        if not self._wanted:
            return
        from lib.core.fleet import ids_to_ask

        for scope, ids in ids_to_ask(findings, _taggable, self._known, self._failed).items():
            self._fetch_scope(scope, ids)

    def lookup(self, finding: Finding) -> Mapping[str, str]:
        """The finding's instance tags; empty when unknown, untagged, eflo or failed."""
        return self._known.get((finding.account, finding.region), {}).get(
            finding.instance_id, _EMPTY
        )

    def _fetch_scope(self, scope: tuple[str, str], ids: Sequence[str]) -> None:
        known = self._known.setdefault(scope, {})
        for start in range(0, len(ids), self._batch):
            batch = list(ids[start : start + self._batch])
            try:
                found = self._fetch(scope[0], scope[1], batch)
            except NotYet:
                return  # not reachable yet: ask again later in the run
            except ApiError as error:
                # Stop asking this account and region: the next batch would fail the same way.
                self._failed.add(scope)
                self._notes.append(_note(scope, error))
                return
            for instance_id in batch:
                known[instance_id] = MappingProxyType(dict(found.get(instance_id, {})))


def _note(scope: tuple[str, str], error: ApiError) -> str:
    account, region = scope
    where = f"instance tags unavailable in {region} (account {account})"
    then = "tag routes and tag silences did not match there; those alerts took the default route"
    request = f", RequestId {error.request_id}" if error.request_id else ""
    # The code and request id only: a server message can echo request details.
    if error.code.startswith(_PERMISSION_CODES):
        return (
            f"{where}: the role lacks ecs:ListTagResources ({error.code}{request}); "
            f"grant it to route and silence by tag. {then}."
        )
    return f"{where}: ListTagResources failed ({error.code}{request}). {then}."
