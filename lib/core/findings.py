"""Cloud Assistant records → Findings: one failed execution on one instance or node.

Status decides (DESIGN "Identity"): a terminal non-success status is a finding; a Success
record is never one, whatever its ErrorCode field says. ErrorCode, ErrorInfo and ExitCode
only classify it, through the catalogue in :mod:`lib.core.catalogue`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from lib.core import catalogue
from lib.core.catalogue import Classification, Kind, Severity

if TYPE_CHECKING:  # the API models are only read here; a run that needs them imports them
    from lib.core.records.ecs import (
        DecodedText,
        Invocation,
        InvocationResult,
        SendFileInvocation,
    )
    from lib.core.records.eflo import EfloInvocation, EfloSendFileInvocation

__all__ = [
    "CANCELLED_STATUSES",
    "FAILURE_STATUSES",
    "IN_FLIGHT_STATUSES",
    "OUTPUT_LIMIT",
    "SUCCESS_STATUSES",
    "TERMINAL_STATUSES",
    "Classification",
    "Finding",
    "Kind",
    "Provider",
    "Severity",
    "bounded_output",
    "findings_from_eflo_invocation",
    "findings_from_eflo_send_file",
    "findings_from_invocation",
    "findings_from_results",
    "findings_from_send_file",
    "is_finding",
    "is_terminal",
    "targeted_count",
]

Provider = Literal["ecs", "eflo"]


class Finding(BaseModel):
    """A terminal non-success execution of one invocation on one instance or node."""

    model_config = ConfigDict(frozen=True)

    account: str  # "self" for the function's own account, else the account id / role ARN
    provider: Provider
    region: str
    kind: Kind
    invoke_id: str
    instance_id: str  # ECS instance id or Lingjun node id
    # DescribeInstances, read when the alert is told (lib.app.instances): shown, never keyed on.
    instance_name: str | None = None
    instance_status: str | None = None  # Running, Stopped …, or "Released" (no longer listed)
    status: str  # the per-instance status as the API says it: Failed, Timeout, Invalid …
    error_code: str | None = None
    error_info: str | None = None
    exit_code: int | None = None
    name: str | None = None  # command name, or the file name for sends
    command_id: str | None = None
    command_type: str | None = None  # RunShellScript …
    target_dir: str | None = None  # file sends
    repeat_mode: str | None = None  # Once, Period, NextRebootOnly, EveryReboot
    timed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: str | None = None  # decoded text, bounded; redacted when rendered
    dropped: int | None = None  # bytes of output Cloud Assistant dropped
    # How many instances (nodes) the invocation targeted, read from the same answer this
    # failure came from (lib.core.findings.targeted_count); None: not known. Shown as
    # "3 of 200", never keyed on.
    targeted: int | None = None
    classification: Classification


# --- Status decides ------------------------------------------------------------------------
# Per-instance statuses (InvokeInstance/InvocationResult ``InvocationStatus``, the field the
# references recommend over the legacy InstanceInvokeStatus / InvokeRecordStatus).

FAILURE_STATUSES = frozenset({"Invalid", "Aborted", "Failed", "Error", "Timeout"})
"""Terminal non-success statuses: always findings."""

CANCELLED_STATUSES = frozenset({"Cancelled", "Terminated", "Stopped"})
"""Stopped on purpose: findings only with ``include_cancelled``. ``Stopped`` is the legacy
and aggregate spelling of the same thing."""

SUCCESS_STATUSES = frozenset({"Success", "Finished"})
"""Never findings, whatever ErrorCode says. ``Finished`` is the legacy per-instance value."""

IN_FLIGHT_STATUSES = frozenset({"Pending", "Running", "Scheduled", "Stopping"})
"""Not decided yet: ask again later."""

TERMINAL_STATUSES = FAILURE_STATUSES | CANCELLED_STATUSES | SUCCESS_STATUSES | {"PartialFailed"}
"""Per-instance and aggregate statuses after which nothing changes for a once-task."""

OUTPUT_LIMIT = 4000
"""Characters of command output a Finding keeps (the tail, where errors usually are)."""


def is_terminal(status: str | None) -> bool:
    """Whether ``status`` (per instance or aggregate) is final.

    An unknown status is not terminal: a watch keeps asking rather than miss a failure.
    """
    return status in TERMINAL_STATUSES


def is_finding(status: str | None, *, include_cancelled: bool = False) -> bool:
    """Whether an execution that ended in ``status`` is something to tell people about."""
    if status in FAILURE_STATUSES:
        return True
    return include_cancelled and status in CANCELLED_STATUSES


def _failed(
    *,
    kind: Kind,
    status: str,
    error_code: str | None,
    error_info: str | None,
    exit_code: int | None = None,
    **fields: Any,
) -> Finding:
    """A Finding with its classification: the one place the catalogue is asked."""
    return Finding(
        kind=kind,
        status=status,
        error_code=error_code,
        error_info=error_info,
        exit_code=exit_code,
        classification=catalogue.classify(
            status=status,
            error_code=error_code,
            exit_code=exit_code,
            kind=kind,
            error_info=error_info,
        ),
        **fields,
    )


def findings_from_invocation(
    inv: Invocation,
    *,
    account: str,
    region: str,
    provider: Provider = "ecs",
    include_cancelled: bool = False,
) -> list[Finding]:
    """One Finding per failed instance of a DescribeInvocations record.

    The per-instance ``InvocationStatus`` decides; the legacy ``InstanceInvokeStatus`` is
    read only when the API left the former out.
    """
    found: list[Finding] = []
    targeted = targeted_count(len(inv.invoke_instances))
    for inst in inv.invoke_instances:
        status = inst.invocation_status or inst.instance_invoke_status or ""
        if not is_finding(status, include_cancelled=include_cancelled):
            continue
        found.append(
            _failed(
                account=account,
                provider=provider,
                region=region,
                kind="command",
                invoke_id=inv.invoke_id,
                instance_id=inst.instance_id,
                status=status,
                error_code=inst.error_code,
                error_info=inst.error_info,
                exit_code=inst.exit_code,
                name=inv.command_name,
                command_id=inv.command_id,
                command_type=inv.command_type,
                repeat_mode=inv.repeat_mode,
                timed=bool(inv.timed or inst.timed),
                started_at=inst.start_time,
                finished_at=inst.finish_time or inst.stop_time or inst.update_time,
                output=bounded_output(inst.output),
                dropped=inst.dropped,
                targeted=targeted,
            )
        )
    return found


def findings_from_results(
    results: Iterable[InvocationResult],
    *,
    account: str,
    region: str,
    provider: Provider = "ecs",
    include_cancelled: bool = False,
    invocation: Invocation | None = None,
) -> list[Finding]:
    """One Finding per failed DescribeInvocationResults record.

    Args:
        invocation: the DescribeInvocations record of the same invoke id, when the caller
            has it: results carry no command name, type or repeat mode, nor how many
            instances the invocation targeted (a page of results lists only some).
    """
    found: list[Finding] = []
    for res in results:
        status = res.invocation_status or ""
        if not is_finding(status, include_cancelled=include_cancelled):
            continue
        inv = (
            invocation if invocation is not None and invocation.invoke_id == res.invoke_id else None
        )
        found.append(
            _failed(
                account=account,
                provider=provider,
                region=region,
                kind="command",
                invoke_id=res.invoke_id,
                instance_id=res.instance_id,
                status=status,
                error_code=res.error_code,
                error_info=res.error_info,
                exit_code=res.exit_code,
                name=inv.command_name if inv else None,
                command_id=res.command_id or (inv.command_id if inv else None),
                command_type=inv.command_type if inv else None,
                repeat_mode=inv.repeat_mode if inv else None,
                timed=bool(inv and inv.timed),
                started_at=res.start_time,
                finished_at=res.finished_time or res.stop_time,
                output=bounded_output(res.output),
                dropped=res.dropped,
                targeted=targeted_count(len(inv.invoke_instances)) if inv else None,
            )
        )
    return found


def findings_from_send_file(
    inv: SendFileInvocation,
    *,
    account: str,
    region: str,
    provider: Provider = "ecs",
    include_cancelled: bool = False,
) -> list[Finding]:
    """One Finding per instance a DescribeSendFileResults record failed on."""
    found: list[Finding] = []
    targeted = targeted_count(len(inv.invoke_instances), inv.vm_count)
    for inst in inv.invoke_instances:
        status = inst.invocation_status or ""
        if not is_finding(status, include_cancelled=include_cancelled):
            continue
        found.append(
            _failed(
                account=account,
                provider=provider,
                region=region,
                kind="file",
                invoke_id=inv.invoke_id,
                instance_id=inst.instance_id,
                status=status,
                error_code=inst.error_code,
                error_info=inst.error_info,
                name=inv.name,
                target_dir=inv.target_dir,
                started_at=inst.start_time,
                finished_at=inst.finish_time or inst.update_time,
                targeted=targeted,
            )
        )
    return found


def findings_from_eflo_send_file(
    inv: EfloSendFileInvocation,
    *,
    invoke_id: str,
    account: str,
    region: str,
    include_cancelled: bool = False,
) -> list[Finding]:
    """One Finding per Lingjun node an eflo file send failed on.

    Args:
        invoke_id: the id that was asked for: eflo's answer does not echo it.
    """
    found: list[Finding] = []
    targeted = targeted_count(len(inv.invoke_nodes), inv.node_count)
    for node in inv.invoke_nodes:
        status = node.invocation_status or ""
        if not is_finding(status, include_cancelled=include_cancelled):
            continue
        found.append(
            _failed(
                account=account,
                provider="eflo",
                region=region,
                kind="file",
                invoke_id=invoke_id,
                instance_id=node.node_id,
                status=status,
                error_code=node.error_code,
                error_info=node.error_info,
                name=inv.name,
                target_dir=inv.target_dir.strip() if inv.target_dir else None,
                started_at=node.start_time,
                finished_at=node.finish_time or node.update_time,
                targeted=targeted,
            )
        )
    return found


def findings_from_eflo_invocation(
    inv: EfloInvocation,
    *,
    invoke_id: str,
    account: str,
    region: str,
    include_cancelled: bool = False,
) -> list[Finding]:
    """One Finding per Lingjun node an eflo command execution failed on.

    The per-node ``InvocationStatus`` decides; the legacy ``NodeInvokeStatus`` is read only
    when the API left the former out. ``Client*`` codes stay ordinary findings here: nodes
    have no agent-status API to fold them into (DESIGN "Identity").

    Args:
        invoke_id: the id that was asked for (eflo answers are keyed by it, DESIGN "Watch").
    """
    found: list[Finding] = []
    targeted = targeted_count(len(inv.invoke_nodes))
    for node in inv.invoke_nodes:
        status = node.invocation_status or node.node_invoke_status or ""
        if not is_finding(status, include_cancelled=include_cancelled):
            continue
        found.append(
            _failed(
                account=account,
                provider="eflo",
                region=region,
                kind="command",
                invoke_id=invoke_id,
                instance_id=node.node_id,
                status=status,
                error_code=node.error_code,
                error_info=node.error_info,
                exit_code=node.exit_code,
                name=inv.command_name,
                repeat_mode=inv.repeat_mode,
                timed=bool(node.timed),
                started_at=node.start_time,
                finished_at=node.finish_time or node.stop_time or node.update_time,
                output=bounded_output(node.output),
                dropped=node.dropped,
                targeted=targeted,
            )
        )
    return found


def targeted_count(listed: int, count: int | None = None) -> int | None:
    """How many instances (nodes) an invocation targeted, from the answer that named them.

    DescribeInvocations (ECS and eflo) lists every instance of an invocation in
    ``InvokeInstances`` / ``InvokeNodes``: only the invocation records are paged, never an
    invocation's instance list (docs/decisions.md, "How many were targeted"). File sends
    also say it (``VmCount``, eflo ``NodeCount``); the larger of the two is taken, so a total
    is never smaller than the instances the same answer listed. Every caller asks by invoke
    id or lists without an InstanceId/NodeId filter; an answer narrowed to one instance
    must not come here.

    Args:
        listed: the instances (nodes) the answer listed for the invocation.
        count: the API's own count, where it gives one.

    Returns:
        The total, or None when the answer named none.
    """
    return max(listed, count or 0) or None


def bounded_output(output: DecodedText | None) -> str | None:
    """The text a Finding keeps: the last OUTPUT_LIMIT characters, marked if not decodable.

    Redacted here, where the output enters our hands: an alert is stored in the outbox (OSS,
    Table Store, for weeks) before any message is rendered, so a password a script printed
    must not reach the store either.
    """
    from lib.support.redact import redact_text

    if output is None:
        return None
    text = output.text
    if len(text) > OUTPUT_LIMIT:
        text = "…" + text[-(OUTPUT_LIMIT - 1) :]
    if output.decode_failed:
        text = "[output is not valid Base64; shown as received] " + text
    return redact_text(text)
