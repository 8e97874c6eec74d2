"""The ECS Cloud Assistant read calls, paginated with NextToken, one typed page at a time.

Besides the three result APIs and DescribeCloudAssistantStatus, ListTagResources reads the
instance tags that routes and silences may match on (:mod:`lib.cloud.tags`).

Pages are yielded lazily so a poll can stop as soon as it reaches its watermark. The
signing, retrying client is injected as an :class:`ApiCaller` (the real one is
``lib.cloud.aliyun.client.OpenApiClient``); it flattens ``Tag: [{"Key": .., "Value": ..}]`` into
``Tag.1.Key`` and drops ``None`` values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from lib.core.records.ecs import (
    AgentStatusPage,
    ContentEncoding,
    InvocationResultsPage,
    InvocationsPage,
    SendFileResultsPage,
    TagResourcesPage,
)
from lib.support.errors import ApiTransientError, ConfigError

if TYPE_CHECKING:
    from lib.core.records.instances import EcsInstance

__all__ = [
    "MAX_AGENT_IDS",
    "MAX_DESCRIBE_IDS",
    "MAX_PAGE_SIZE",
    "MAX_TAG_IDS",
    "ApiCaller",
    "CloudAssistant",
    "parse_answer",
    "request_id_of",
]

MAX_PAGE_SIZE = 50  # MaxResults ceiling of all three APIs
# InstanceId.N per DescribeCloudAssistantStatus call: the reference gives no ceiling; 50
# matches the page size, so one call answers for every id it names.
MAX_AGENT_IDS = 50
# ResourceId.N per ListTagResources call: "N ranges from 1 to 50" (ECS reference).
MAX_TAG_IDS = 50
# DescribeInstances: InstanceIds is "a JSON array of up to 100 instance IDs"; PageSize's
# maximum is 100 and its default 10 (alibabacloud_ecs20140526 DescribeInstancesRequest).
MAX_DESCRIBE_IDS = 100

_P = TypeVar("_P", bound=BaseModel)
_Page = TypeVar(
    "_Page",
    InvocationsPage,
    InvocationResultsPage,
    SendFileResultsPage,
    AgentStatusPage,
    TagResourcesPage,
)


class ApiCaller(Protocol):
    """Calls one ECS OpenAPI action and returns the decoded JSON answer."""

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        """Call ``action`` with ``params``; raise :class:`lib.support.errors.ApiError` on failure."""
        ...


class CloudAssistant:
    """ECS Cloud Assistant queries of one region.

    Args:
        caller: the signed OpenAPI client.
        region: the region id sent as ``RegionId``.
    """

    def __init__(self, caller: ApiCaller, region: str) -> None:
        self._caller = caller
        self.region = region

    def invocation_pages(
        self,
        *,
        invoke_id: str | None = None,
        instance_id: str | None = None,
        status: str | None = None,
        resource_group_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        repeat_mode: str | None = None,
        command_name: str | None = None,
        timed: bool | None = None,
        include_output: bool = False,
        content_encoding: ContentEncoding = "Base64",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[InvocationsPage]:
        """DescribeInvocations, newest first, one page at a time.

        Args:
            status: an ``InvokeStatus`` filter (one value, e.g. ``Failed``).
            include_output: return each instance's Output; needs invoke_id or instance_id.
            content_encoding: how Output/CommandContent travel; Base64 keeps bytes that are
                not UTF-8 intact, and the models decode it either way.

        Raises:
            ConfigError: page_size out of 1..50, or output asked without an id.
            ApiTransientError: the server repeated a NextToken.
        """
        _check_output_filter(include_output, invoke_id, instance_id)
        params: dict[str, object] = {
            "InvokeId": invoke_id,
            "InstanceId": instance_id,
            "InvokeStatus": status,
            "ResourceGroupId": resource_group_id,
            "Tag": _tag_params(tags),
            "RepeatMode": repeat_mode,
            "CommandName": command_name,
            "Timed": timed,
            "IncludeOutput": include_output,
            "ContentEncoding": content_encoding,
        }
        return self._pages(
            "DescribeInvocations", params, page_size, InvocationsPage, content_encoding
        )

    def invocation_result_pages(
        self,
        *,
        invoke_id: str | None = None,
        instance_id: str | None = None,
        record_status: str | None = None,
        include_history: bool = False,
        content_encoding: ContentEncoding = "Base64",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[InvocationResultsPage]:
        """DescribeInvocationResults (always with Output), one page at a time.

        Args:
            record_status: an ``InvokeRecordStatus`` filter (Running, Finished, Failed …).
            include_history: every past run of a periodic/every-reboot task; needs invoke_id.
            content_encoding: how Output travels (see :meth:`invocation_pages`).

        Raises:
            ConfigError: page_size out of 1..50, or history asked without invoke_id.
            ApiTransientError: the server repeated a NextToken.
        """
        if include_history and not invoke_id:
            raise ConfigError("include_history needs invoke_id (DescribeInvocationResults)")
        params: dict[str, object] = {
            "InvokeId": invoke_id,
            "InstanceId": instance_id,
            "InvokeRecordStatus": record_status,
            "IncludeHistory": include_history,
            "ContentEncoding": content_encoding,
        }
        return self._pages(
            "DescribeInvocationResults",
            params,
            page_size,
            InvocationResultsPage,
            content_encoding,
        )

    def send_file_result_pages(
        self,
        *,
        invoke_id: str | None = None,
        instance_id: str | None = None,
        name: str | None = None,
        status: str | None = None,
        resource_group_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[SendFileResultsPage]:
        """DescribeSendFileResults, one page at a time.

        Args:
            status: an ``InvocationStatus`` filter (Pending, Running, Success, Failed,
                PartialFailed).

        Raises:
            ConfigError: page_size out of 1..50.
            ApiTransientError: the server repeated a NextToken.
        """
        params: dict[str, object] = {
            "InvokeId": invoke_id,
            "InstanceId": instance_id,
            "Name": name,
            "InvocationStatus": status,
            "ResourceGroupId": resource_group_id,
            "Tag": _tag_params(tags),
        }
        return self._pages(
            "DescribeSendFileResults", params, page_size, SendFileResultsPage, "PlainText"
        )

    def agent_status_pages(
        self, instance_ids: Sequence[str], *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[AgentStatusPage]:
        """DescribeCloudAssistantStatus for up to ``MAX_AGENT_IDS`` instances per call."""
        if not 0 < len(instance_ids) <= MAX_AGENT_IDS:
            raise ConfigError(f"DescribeCloudAssistantStatus takes 1..{MAX_AGENT_IDS} instance ids")
        params: dict[str, object] = {"InstanceId": list(instance_ids)}
        return self._pages(
            "DescribeCloudAssistantStatus", params, page_size, AgentStatusPage, "PlainText"
        )

    def tag_resource_pages(self, instance_ids: Sequence[str]) -> Iterator[TagResourcesPage]:
        """ListTagResources for up to ``MAX_TAG_IDS`` ECS instances, one page at a time.

        The API takes no page size: the server sizes its pages and links them by NextToken.

        Raises:
            ConfigError: no instance ids, or more than ``MAX_TAG_IDS``.
        """
        if not 0 < len(instance_ids) <= MAX_TAG_IDS:
            raise ConfigError(f"ListTagResources takes 1..{MAX_TAG_IDS} instance ids")
        params: dict[str, object] = {"ResourceType": "instance", "ResourceId": list(instance_ids)}
        return self._pages("ListTagResources", params, None, TagResourcesPage, "PlainText")

    def instance_tags(self, instance_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """The tags of each instance: ``{instance id: {key: value}}``.

        Asks for at most ``MAX_TAG_IDS`` ids per call and follows NextToken. Instances
        without tags (or unknown to ECS) are absent from the answer, as they are from the API's.

        Raises:
            ApiError: the call failed (e.g. ``Forbidden.RAM`` without ``ecs:ListTagResources``).
        """
        ids = list(dict.fromkeys(instance_ids))  # unique, in order
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(ids), MAX_TAG_IDS):
            batch = ids[start : start + MAX_TAG_IDS]
            asked = set(batch)
            for page in self.tag_resource_pages(batch):
                for item in page.tag_resources:
                    # Only what was asked: a pair for another id would be a server's mistake.
                    if item.resource_id in asked:
                        tags.setdefault(item.resource_id, {})[item.tag_key] = item.tag_value
        return tags

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, EcsInstance]:
        """DescribeInstances by id: ``{instance id: instance}``; released ids are absent.

        At most ``MAX_DESCRIBE_IDS`` ids per call, with ``PageSize`` 100 (the API's default
        page is 10, which would silently drop 90 of 100 instances); further pages by
        PageNumber while TotalCount says there are more.

        Raises:
            ApiError: the call failed (e.g. ``Forbidden.RAM`` without ``ecs:DescribeInstances``).
        """
        import json

        from lib.core.records.instances import InstancesPage

        ids = list(dict.fromkeys(instance_ids))
        found: dict[str, EcsInstance] = {}
        for start in range(0, len(ids), MAX_DESCRIBE_IDS):
            batch = ids[start : start + MAX_DESCRIBE_IDS]
            asked = set(batch)
            number = 1
            while True:
                params: dict[str, object] = {
                    "RegionId": self.region,
                    "InstanceIds": json.dumps(batch),
                    "PageSize": MAX_DESCRIBE_IDS,
                    "PageNumber": number,
                }
                answer = self._caller.call("DescribeInstances", params)
                page = parse_answer("DescribeInstances", InstancesPage, answer, "PlainText")
                for instance in page.instances:
                    if instance.instance_id in asked:  # only what was asked
                        found[instance.instance_id] = instance
                total = page.total_count or 0
                if not page.instances or number * MAX_DESCRIBE_IDS >= total:
                    break
                number += 1
        return found

    def _pages(
        self,
        action: str,
        filters: Mapping[str, object],
        page_size: int | None,
        model: type[_Page],
        content_encoding: ContentEncoding,
    ) -> Iterator[_Page]:
        # Checked here, before the generator starts, so a bad size fails at the call site.
        # None: the API takes no page size (ListTagResources).
        if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"{action}: page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        base = {"RegionId": self.region, **{k: v for k, v in filters.items() if v is not None}}
        return self._iterate(action, base, page_size, model, content_encoding)

    def _iterate(
        self,
        action: str,
        base: Mapping[str, object],
        page_size: int | None,
        model: type[_Page],
        content_encoding: ContentEncoding,
    ) -> Iterator[_Page]:
        seen: set[str] = set()
        token: str | None = None
        while True:
            params = dict(base)
            if page_size is not None:
                params["MaxResults"] = page_size
            if token:
                params["NextToken"] = token
            answer = self._caller.call(action, params)
            page = parse_answer(action, model, answer, content_encoding)
            yield page
            token = page.next_token
            if not token:
                return
            if token in seen:
                # A server that hands back a used token would page forever.
                raise ApiTransientError(
                    action,
                    "RepeatedNextToken",
                    "the server repeated a NextToken; paging stopped",
                    request_id=request_id_of(answer),
                )
            seen.add(token)


def parse_answer(
    action: str, model: type[_P], answer: Mapping[str, Any], encoding: ContentEncoding
) -> _P:
    """Validate an API answer; a malformed one is a transient error naming the action."""
    try:
        return model.model_validate(answer, context={"content_encoding": encoding})
    except ValidationError as exc:
        # Usually a half-written answer from a proxy or an API change: worth a retry.
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:3]
        )
        raise ApiTransientError(
            action, "UnexpectedAnswer", where, request_id=request_id_of(answer)
        ) from None


_REQUEST_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def request_id_of(answer: Mapping[str, Any]) -> str | None:
    """The RequestId of an answer, when it has one that looks like one.

    It goes into error lines, so anything but a plain token (a hostile or broken answer's
    newlines, markup) is dropped rather than echoed.
    """
    value = answer.get("RequestId") if isinstance(answer, Mapping) else None
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def _tag_params(tags: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    if not tags:
        return None
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _check_output_filter(
    include_output: bool, invoke_id: str | None, instance_id: str | None
) -> None:
    if include_output and not (invoke_id or instance_id):
        raise ConfigError("include_output needs invoke_id or instance_id (DescribeInvocations)")
