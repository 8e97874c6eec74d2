"""Typed Lingjun (eflo-controller 2022-12-15) Cloud Assistant answers: DescribeSendFileResults.

Same conventions as :mod:`lib.cloudassist.models` (PascalCase aliases, empty strings are
absent, unknown fields ignored), with eflo's own names: nodes instead of instances
(``InvokeNodes.InvokeNode[]``, ``NodeId``, ``NodeCount``). The answer does not echo the
InvokeId that was asked for (seed 002's sample carries none), so callers key records by
the id they asked for (DESIGN "Watch"); ``invoke_id`` is kept only in case a later API
version adds it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from lib.cloudassist.models import ApiModel, ApiTime, OptBool, OptInt, OptStr, unwrap

__all__ = ["EfloSendFileInvocation", "EfloSendFileNode", "EfloSendFileResultsPage"]


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
