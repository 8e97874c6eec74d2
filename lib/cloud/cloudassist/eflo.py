"""The two Lingjun (eflo-controller 2022-12-15) Cloud Assistant read calls, one InvokeId each.

eflo has no API that lists invocations: DescribeInvocations and DescribeSendFileResults both
require an ``InvokeId`` (seed 002, and the eflo DescribeInvocations reference), so Lingjun
work is watched by id (DESIGN "Watch"). Requests are RPC with a form-encoded body and no
``RegionId`` (the region is the endpoint's); build the caller with :func:`eflo_client`.

An id eflo does not know: the eflo references list no error code for it. Cloud Assistant
on Lingjun is the ECS service underneath and ECS answers ``InvalidInvokeId.NotFound``
(HTTP 404), so that code, and an answer with no invocation at all, both mean "unknown":
the calls return None and the caller stops watching the id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import httpx

from lib.cloud.aliyun.client import OpenApiClient
from lib.cloud.aliyun.endpoints import endpoint_for
from lib.cloud.aliyun.ratelimit import RateLimiter
from lib.cloud.cloudassist.api import ApiCaller, parse_answer
from lib.core.records.ecs import ContentEncoding
from lib.core.records.eflo import (
    EfloInvocation,
    EfloInvocationsPage,
    EfloSendFileInvocation,
    EfloSendFileResultsPage,
)
from lib.support.credentials import Credentials
from lib.support.errors import ApiRequestError

__all__ = ["EFLO_VERSION", "NOT_FOUND_CODES", "EfloAssistant", "eflo_client"]

EFLO_VERSION = "2022-12-15"
NOT_FOUND_CODES = frozenset({"InvalidInvokeId.NotFound", "InvokeId.NotFound"})
"""Error codes that mean "no such InvokeId" (see the module docstring)."""

_Page = TypeVar("_Page", EfloInvocationsPage, EfloSendFileResultsPage)


def eflo_client(
    http: httpx.Client,
    region: str,
    credentials: Credentials,
    *,
    endpoint: str | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] | None = None,
) -> OpenApiClient:
    """The signed eflo-controller client of one region (form-encoded RPC, version 2022-12-15).

    Args:
        endpoint: an override (``ASSISTWATCH_EFLO_ENDPOINT``: tests, demo, VPC); default the
            region's public endpoint.

    Raises:
        ConfigError: a region id or endpoint that is not one.
    """
    return OpenApiClient(
        http,
        endpoint or endpoint_for("eflo", region),
        EFLO_VERSION,
        credentials,
        style="form",
        limiter=limiter,
        sleep=sleep,
    )


class EfloAssistant:
    """Lingjun Cloud Assistant queries of one region.

    Args:
        caller: the signed eflo-controller client (see :func:`eflo_client`).
        region: the region the caller's endpoint serves (kept for findings).
    """

    def __init__(self, caller: ApiCaller, region: str) -> None:
        self._caller = caller
        self.region = region

    def invocations(
        self,
        invoke_id: str,
        *,
        node_id: str | None = None,
        include_output: bool = True,
        content_encoding: ContentEncoding = "Base64",
    ) -> EfloInvocation | None:
        """DescribeInvocations for one command execution, with every node's status.

        Args:
            invoke_id: the execution to ask about (``t-…``).
            node_id: only this node.
            include_output: return each node's Output (the only way to get it on eflo).
            content_encoding: how Output/CommandContent travel; Base64 keeps bytes that are
                not UTF-8 intact, and the model decodes it either way.

        Returns:
            The execution, its ``invoke_id`` set to the id asked for; None when eflo does
            not know the id.

        Raises:
            ApiError: any other failure (see :class:`lib.cloud.aliyun.client.OpenApiClient`).
        """
        params: dict[str, object] = {
            "InvokeId": invoke_id,
            "NodeId": node_id,
            "IncludeOutput": include_output,
            "ContentEncoding": content_encoding,
        }
        page = self._ask("DescribeInvocations", params, EfloInvocationsPage, content_encoding)
        if page is None:
            return None
        found = _pick(page.invocations, invoke_id)
        return None if found is None else found.model_copy(update={"invoke_id": invoke_id})

    def send_file_results(
        self, invoke_id: str, *, node_id: str | None = None
    ) -> EfloSendFileInvocation | None:
        """DescribeSendFileResults for one file send.

        Returns:
            The send, its ``invoke_id`` set to the id asked for (the answer carries none);
            None when eflo does not know the id.

        Raises:
            ApiError: any other failure.
        """
        params: dict[str, object] = {"InvokeId": invoke_id, "NodeId": node_id}
        page = self._ask("DescribeSendFileResults", params, EfloSendFileResultsPage, "PlainText")
        if page is None:
            return None
        found = _pick(page.invocations, invoke_id)
        return None if found is None else found.model_copy(update={"invoke_id": invoke_id})

    def _ask(
        self,
        action: str,
        params: Mapping[str, object],
        model: type[_Page],
        encoding: ContentEncoding,
    ) -> _Page | None:
        try:
            answer = self._caller.call(action, {k: v for k, v in params.items() if v is not None})
        except ApiRequestError as error:
            if error.code in NOT_FOUND_CODES:
                return None
            raise
        return parse_answer(action, model, answer, encoding)


_Found = TypeVar("_Found", EfloInvocation, EfloSendFileInvocation)


def _pick(invocations: list[_Found], invoke_id: str) -> _Found | None:
    # One id was asked for: the record that echoes it, else one that names no id at all
    # (seed 002's file results); a record naming another id is not an answer.
    for item in invocations:
        if item.invoke_id == invoke_id:
            return item
    return next((item for item in invocations if item.invoke_id is None), None)
