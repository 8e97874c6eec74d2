"""Typed Lingjun (eflo-controller 2022-12-15) Cloud Assistant answers: DescribeInvocations
and DescribeSendFileResults.

Same conventions as :mod:`lib.core.records.ecs` (PascalCase aliases, empty strings are
absent, unknown fields ignored), with eflo's own names: nodes instead of instances
(``InvokeNodes.InvokeNode[]``, ``NodeId``, ``NodeCount``). The answer does not echo the
InvokeId that was asked for (seed 002's sample carries none), so callers key records by
the id they asked for (DESIGN "Watch"); ``invoke_id`` is kept only in case a later API
version adds it.

eflo's own types are coerced here: times with ``+08:00`` and milliseconds (and a stray
newline, as in seed 002's sample) become aware datetimes, ``TotalCount`` arrives as a
string, ``Overwrite`` as a boolean and ``Timed`` as a string ("true"/"false"). Command
content and output are decoded per the request's ContentEncoding (validation context, as
in :mod:`lib.core.records.ecs`) and kept out of every ``repr``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from lib.core.records.ecs import (
    ApiModel,
    ApiTime,
    Encoded,
    OptBool,
    OptInt,
    OptStr,
    unwrap,
)

__all__ = [
    "EfloInvocation",
    "EfloInvocationNode",
    "EfloInvocationsPage",
    "EfloSendFileInvocation",
    "EfloSendFileNode",
    "EfloSendFileResultsPage",
]


class EfloSendFileNode(ApiModel):
    """One node of an eflo file send.

    ``invocation_status``: Pending, Invalid, Running, Aborted, Success, Failed, Error,
    Timeout.
    """

    node_id: str
    invocation_status: OptStr = None
    creation_time: ApiTime = None
    start_time: ApiTime = None
    finish_time: ApiTime = None
    update_time: ApiTime = None
    error_code: OptStr = None
    error_info: OptStr = None


class EfloSendFileInvocation(ApiModel):
    """One file send from eflo DescribeSendFileResults (``Invocations.Invocation[]``)."""

    invoke_id: OptStr = None  # not in the reference's answer; see the module docstring
    invocation_status: OptStr = None
    creation_time: ApiTime = None
    name: OptStr = None
    description: OptStr = None
    target_dir: OptStr = None
    file_owner: OptStr = None
    file_group: OptStr = None
    file_mode: OptStr = None
    overwrite: OptBool = None
    content_type: OptStr = None
    content: OptStr = Field(default=None, repr=False)
    node_count: OptInt = None
    invoke_nodes: Annotated[list[EfloSendFileNode], BeforeValidator(unwrap("InvokeNode"))] = Field(
        default_factory=list
    )


class EfloSendFileResultsPage(ApiModel):
    """The answer of eflo DescribeSendFileResults (one InvokeId, so no paging)."""

    request_id: OptStr = None
    total_count: OptInt = None  # a string in the reference
    invocations: Annotated[list[EfloSendFileInvocation], BeforeValidator(unwrap("Invocation"))] = (
        Field(default_factory=list)
    )


class EfloInvocationNode(ApiModel):
    """One node of an eflo command execution (``InvokeNodes.InvokeNode[]``).

    ``invocation_status`` is the per-node status (Pending, Invalid, Aborted, Running,
    Success, Failed, Error, Timeout, Cancelled, Stopping, Terminated, Scheduled);
    ``node_invoke_status`` is the legacy one, read only when the former is missing.
    """

    node_id: str
    invocation_status: OptStr = None
    node_invoke_status: OptStr = None
    creation_time: ApiTime = None
    start_time: ApiTime = None
    finish_time: ApiTime = None
    stop_time: ApiTime = None
    update_time: ApiTime = None
    repeats: OptInt = None
    exit_code: OptInt = None
    error_code: OptStr = None
    error_info: OptStr = None
    output: Encoded = Field(default=None, repr=False)
    dropped: OptInt = None
    timed: OptBool = None  # a string ("true"/"false") in the reference


class EfloInvocation(ApiModel):
    """One command execution from eflo DescribeInvocations (``Invocations.Invocation[]``).

    ``invocation_status`` is the recommended aggregate status; ``invoke_status`` the
    legacy one. eflo's answer carries no CommandId or CommandType.
    """

    invoke_id: OptStr = None  # echoed by DescribeInvocations; callers still key by the id asked
    invocation_status: OptStr = None
    invoke_status: OptStr = None
    creation_time: ApiTime = None
    command_name: OptStr = None
    command_description: OptStr = None
    command_content: Encoded = Field(default=None, repr=False)
    parameters: str | dict[str, Any] | None = Field(default=None, repr=False)
    repeat_mode: OptStr = None
    frequency: OptStr = None
    timeout: OptInt = None
    username: OptStr = None
    working_dir: OptStr = None
    invoke_nodes: Annotated[list[EfloInvocationNode], BeforeValidator(unwrap("InvokeNode"))] = (
        Field(default_factory=list)
    )


class EfloInvocationsPage(ApiModel):
    """The answer of eflo DescribeInvocations (one InvokeId, so no paging)."""

    request_id: OptStr = None
    invocations: Annotated[list[EfloInvocation], BeforeValidator(unwrap("Invocation"))] = Field(
        default_factory=list
    )
