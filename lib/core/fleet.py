"""Instance context decides noise: what a stopped or released instance makes of a failure.

Pure: the app reads DescribeInstances once per run (lib.cloud.instances) and hands the
answers in as :class:`InstanceState` values; nothing here calls anything.

- An agent fault (``Client*``) on a Stopped, Stopping or released instance is not an alarm:
  the agent is down because the machine is, which someone did on purpose. It is counted
  ("quiet: instance stopped") instead.
- A command failure on a stopped instance is still told (the command did fail), with the
  instance's status shown beside its name.
- Unknown context (DescribeInstances failed, a Lingjun node, a managed instance) changes
  nothing: the alert behaves as it did before instance context existed.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass

from lib.core.findings import Finding

__all__ = [
    "RELEASED",
    "SLEEPING_STATUSES",
    "InstanceLookup",
    "InstanceState",
    "describable",
    "ids_to_ask",
    "quiet_reason",
    "split_quiet",
    "with_instance",
]

RELEASED = "Released"  # our word for an instance DescribeInstances no longer lists
SLEEPING_STATUSES = frozenset({"Stopped", "Stopping"})


@dataclass(frozen=True)
class InstanceState:
    """What DescribeInstances said of one instance this run (``Released``: not listed)."""

    instance_id: str
    status: str
    name: str | None = None


InstanceLookup = Callable[[Finding], "InstanceState | None"]
"""A finding → its instance's state this run; None when unknown (never asked, or failed)."""


def describable(finding: Finding) -> bool:
    """An ECS instance DescribeInstances can answer for (not a node, not a managed ``mi-``)."""
    return finding.provider == "ecs" and finding.instance_id.startswith("i-")


def ids_to_ask(
    findings: Iterable[Finding],
    askable: Callable[[Finding], bool],
    known: Mapping[tuple[str, str], Container[str]],
    failed: Container[tuple[str, str]],
) -> dict[tuple[str, str], list[str]]:
    """Instance ids not known yet, by (account, region), in order, once each.

    Shared by the run's per-instance caches (tags, instance context): ``askable`` picks the
    findings the API can answer for; scopes in ``failed`` are not asked again.
    """
    wanted: dict[tuple[str, str], list[str]] = {}
    for finding in findings:
        scope = (finding.account, finding.region)
        if not askable(finding) or scope in failed:
            continue
        if finding.instance_id not in known.get(scope, ()):
            ids = wanted.setdefault(scope, [])
            if finding.instance_id not in ids:
                ids.append(finding.instance_id)
    return wanted


def quiet_reason(state: InstanceState | None) -> str | None:
    """Why an agent fault on this instance is not an alarm (None: it is one)."""
    if state is None:
        return None
    if state.status == RELEASED:
        return "instance released"
    if state.status in SLEEPING_STATUSES:
        return "instance stopped"
    return None


def split_quiet(
    faults: Iterable[Finding], lookup: InstanceLookup
) -> tuple[list[Finding], dict[str, list[Finding]]]:
    """Agent faults → (alarms, {quiet reason: faults}) by each instance's state."""
    alarms: list[Finding] = []
    quiet: dict[str, list[Finding]] = {}
    for fault in faults:
        reason = quiet_reason(lookup(fault))
        if reason is None:
            alarms.append(fault)
        else:
            quiet.setdefault(reason, []).append(with_instance(fault, lookup(fault)))
    return alarms, quiet


def with_instance(finding: Finding, state: InstanceState | None) -> Finding:
    """The finding with its instance's name and status (unchanged when unknown)."""
    if state is None:
        return finding
    name = state.name or finding.instance_name
    if finding.instance_name == name and finding.instance_status == state.status:
        return finding
    return finding.model_copy(update={"instance_name": name, "instance_status": state.status})
