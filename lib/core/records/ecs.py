"""Typed ECS (2014-05-26) Cloud Assistant answers: DescribeInvocations,
DescribeInvocationResults and DescribeSendFileResults (and ListTagResources, for the
instance tags routes and silences match on).

Field names are snake_case in Python and the API's PascalCase on the wire (an alias
generator, so ``InvokeId`` ↔ ``invoke_id`` everywhere, no exceptions). Parsing is lenient
where the API is sloppy: empty strings mean "absent", numbers and booleans may arrive as
strings, ``{"Invocation": [...]}`` wrappers are unwrapped into plain lists, unknown fields
are ignored (APIs grow), and an unparseable time becomes ``None`` rather than failing a
whole page. Statuses stay plain strings for the same reason; :mod:`lib.core.findings` decides
what they mean.

``Output`` and ``CommandContent`` come Base64-encoded or plain depending on the request's
``ContentEncoding``, which the answer does not repeat: the caller passes it as validation
context (``model_validate(data, context={"content_encoding": "Base64"})``); without it the
text is taken as plain. A string that is not valid Base64 is kept as received and marked
``decode_failed`` instead of failing the page.

Command content, parameters, output and file content can hold secrets, so they are left
out of every ``repr``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_pascal

__all__ = [
    "AgentStatus",
    "AgentStatusPage",
    "ApiModel",
    "ApiTime",
    "ContentEncoding",
    "DecodedText",
    "Invocation",
    "InvocationResult",
    "InvocationResultsBody",
    "InvocationResultsPage",
    "InvocationsPage",
    "InvokeInstance",
    "OptBool",
    "OptInt",
    "OptStr",
    "SendFileInstance",
    "SendFileInvocation",
    "SendFileResultsPage",
    "Tag",
    "TagResource",
    "TagResourcesPage",
    "decode_text",
    "parse_api_time",
    "unwrap",
]

ContentEncoding = Literal["PlainText", "Base64"]


def parse_api_time(value: object) -> datetime | None:
    """Parse an API time such as ``2020-01-19T09:15:46Z`` into an aware datetime.

    Empty or unparseable values give ``None``; a time without an offset is taken as UTC
    (the ECS API always answers in UTC).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        # python 3.10's fromisoformat does not take a trailing "Z".
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


class DecodedText(BaseModel):
    """Text the API sent Base64-encoded or plain, decoded when it could be.

    Attributes:
        text: the decoded text; the raw string as received when ``decode_failed``.
        encoding: the ContentEncoding the request asked for.
        decode_failed: the API said Base64 but the string was not valid Base64.
    """

    model_config = ConfigDict(frozen=True)

    text: str = Field(repr=False)
    encoding: ContentEncoding = "PlainText"
    decode_failed: bool = False

    def __str__(self) -> str:
        return self.text


def decode_text(raw: str, encoding: ContentEncoding) -> DecodedText:
    """Decode ``raw`` as the API sent it; never raises on bad Base64."""
    if encoding != "Base64":
        return DecodedText(text=raw, encoding="PlainText")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return DecodedText(text=raw, encoding="Base64", decode_failed=True)
    # Output is whatever the script printed: not necessarily UTF-8.
    return DecodedText(text=data.decode("utf-8", errors="replace"), encoding="Base64")


def _empty_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _decoded(value: object, info: ValidationInfo) -> object:
    if value is None or isinstance(value, DecodedText):
        return value
    if not isinstance(value, str):
        value = str(value)
    if value == "":
        return None
    context = info.context if isinstance(info.context, dict) else {}
    encoding = context.get("content_encoding", "PlainText")
    return decode_text(value, "Base64" if encoding == "Base64" else "PlainText")


def unwrap(key: str) -> Callable[[object], object]:
    """``{"Invocation": [...]}`` → ``[...]``; tolerate null, a bare list and a lone dict."""

    def unwrap(value: object) -> object:
        if value is None or value == "":
            return []
        if isinstance(value, dict):
            inner = value.get(key)
            if inner is None:
                return []
            return inner if isinstance(inner, list) else [inner]
        return value

    return unwrap


def _none_to_empty_dict(value: object) -> object:
    return {} if value is None or value == "" else value


OptStr = Annotated[str | None, BeforeValidator(_empty_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_empty_to_none)]
OptBool = Annotated[bool | None, BeforeValidator(_empty_to_none)]
ApiTime = Annotated[datetime | None, BeforeValidator(parse_api_time)]
Encoded = Annotated[DecodedText | None, BeforeValidator(_decoded)]


class ApiModel(BaseModel):
    """PascalCase on the wire, snake_case in Python; extra fields ignored; frozen."""

    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class Tag(ApiModel):
    """One tag of a command execution or file send (``Tags.Tag[]``)."""

    tag_key: str
    tag_value: OptStr = None


class InvokeInstance(ApiModel):
    """One instance of a DescribeInvocations record (``InvokeInstances.InvokeInstance[]``).

    ``invocation_status`` is the authoritative per-instance status (Pending, Invalid,
    Aborted, Running, Success, Failed, Error, Timeout, Cancelled, Stopping, Terminated,
    Scheduled); ``instance_invoke_status`` is the legacy one the docs advise against.
    """

    instance_id: str
    invocation_status: OptStr = None
    instance_invoke_status: OptStr = None
    creation_time: ApiTime = None
    update_time: ApiTime = None
    start_time: ApiTime = None
    finish_time: ApiTime = None
    stop_time: ApiTime = None
    repeats: OptInt = None
    exit_code: OptInt = None
    error_code: OptStr = None
    error_info: OptStr = None
    output: Encoded = Field(default=None, repr=False)
    dropped: OptInt = None
    timed: OptBool = None


class Invocation(ApiModel):
    """One command execution from DescribeInvocations (``Invocations.Invocation[]``).

    ``invocation_status`` is the recommended aggregate status; ``invoke_status`` is the
    legacy one (Running, Finished, Failed, Stopped …).
    """

    invoke_id: str
    invocation_status: OptStr = None
    invoke_status: OptStr = None
    creation_time: ApiTime = None
    command_id: OptStr = None
    command_name: OptStr = None
    command_type: OptStr = None
    command_description: OptStr = None
    command_content: Encoded = Field(default=None, repr=False)
    parameters: str | dict[str, Any] | None = Field(default=None, repr=False)
    repeat_mode: OptStr = None
    frequency: OptStr = None
    timed: OptBool = None
    username: OptStr = None
    working_dir: OptStr = None
    timeout: OptInt = None
    container_id: OptStr = None
    container_name: OptStr = None
    termination_mode: OptStr = None
    launcher: OptStr = None
    invoke_instances: Annotated[list[InvokeInstance], BeforeValidator(unwrap("InvokeInstance"))] = (
        Field(default_factory=list)
    )
    tags: Annotated[list[Tag], BeforeValidator(unwrap("Tag"))] = Field(default_factory=list)


class InvocationsPage(ApiModel):
    """One page of DescribeInvocations."""

    request_id: OptStr = None
    total_count: OptInt = None
    page_number: OptInt = None
    page_size: OptInt = None
    next_token: OptStr = None
    invocations: Annotated[list[Invocation], BeforeValidator(unwrap("Invocation"))] = Field(
        default_factory=list
    )


class InvocationResult(ApiModel):
    """One execution on one instance from DescribeInvocationResults.

    ``invocation_status`` is the per-instance status (same values as
    :class:`InvokeInstance`); ``invoke_record_status`` is the coarse record status
    (Running, Finished, Failed, Stopped …).
    """

    invoke_id: str
    instance_id: str
    invocation_status: OptStr = None
    invoke_record_status: OptStr = None
    command_id: OptStr = None
    start_time: ApiTime = None
    finished_time: ApiTime = None
    stop_time: ApiTime = None
    repeats: OptInt = None
    exit_code: OptInt = None
    error_code: OptStr = None
    error_info: OptStr = None
    output: Encoded = Field(default=None, repr=False)
    dropped: OptInt = None
    username: OptStr = None
    container_id: OptStr = None
    container_name: OptStr = None
    launcher: OptStr = None
    termination_mode: OptStr = None
    oss_output_delivery: OptStr = None
    oss_output_status: OptStr = None
    oss_output_uri: OptStr = None
    oss_output_error_code: OptStr = None
    oss_output_error_info: OptStr = None
    tags: Annotated[list[Tag], BeforeValidator(unwrap("Tag"))] = Field(default_factory=list)


class InvocationResultsBody(ApiModel):
    """The ``Invocation`` object of DescribeInvocationResults: results and paging."""

    total_count: OptInt = None
    page_number: OptInt = None
    page_size: OptInt = None
    next_token: OptStr = None
    invocation_results: Annotated[
        list[InvocationResult], BeforeValidator(unwrap("InvocationResult"))
    ] = Field(default_factory=list)


class InvocationResultsPage(ApiModel):
    """One page of DescribeInvocationResults (paging lives inside ``Invocation``)."""

    request_id: OptStr = None
    invocation: Annotated[InvocationResultsBody, BeforeValidator(_none_to_empty_dict)] = Field(
        default_factory=InvocationResultsBody
    )

    @property
    def results(self) -> list[InvocationResult]:
        """The execution records of this page."""
        return self.invocation.invocation_results

    @property
    def next_token(self) -> str | None:
        """The token for the next page; ``None`` on the last one."""
        return self.invocation.next_token


class SendFileInstance(ApiModel):
    """One instance of a file send (``InvokeInstances.InvokeInstance[]``).

    ``invocation_status``: Pending, Invalid, Running, Aborted, Success, Failed, Error,
    Timeout.
    """

    instance_id: str
    invocation_status: OptStr = None
    creation_time: ApiTime = None
    start_time: ApiTime = None
    finish_time: ApiTime = None
    update_time: ApiTime = None
    error_code: OptStr = None
    error_info: OptStr = None


class SendFileInvocation(ApiModel):
    """One file send from DescribeSendFileResults (``Invocations.Invocation[]``)."""

    invoke_id: str
    invocation_status: OptStr = None
    creation_time: ApiTime = None
    name: OptStr = None
    description: OptStr = None
    target_dir: OptStr = None
    file_owner: OptStr = None
    file_group: OptStr = None
    file_mode: OptStr = None
    # The zh reference prints "false" (a string), the en one false: both are accepted.
    overwrite: OptBool = None
    content_type: OptStr = None
    content: OptStr = Field(default=None, repr=False)
    vm_count: OptInt = None
    invoke_instances: Annotated[
        list[SendFileInstance], BeforeValidator(unwrap("InvokeInstance"))
    ] = Field(default_factory=list)
    tags: Annotated[list[Tag], BeforeValidator(unwrap("Tag"))] = Field(default_factory=list)


class SendFileResultsPage(ApiModel):
    """One page of DescribeSendFileResults."""

    request_id: OptStr = None
    total_count: OptInt = None
    page_number: OptInt = None
    page_size: OptInt = None
    next_token: OptStr = None
    invocations: Annotated[list[SendFileInvocation], BeforeValidator(unwrap("Invocation"))] = Field(
        default_factory=list
    )


class AgentStatus(ApiModel):
    """One instance of DescribeCloudAssistantStatus: is the agent alive there."""

    instance_id: str
    cloud_assistant_status: OptStr = None  # "true" / "false"
    cloud_assistant_version: OptStr = None
    last_heartbeat_time: ApiTime = None

    @property
    def healthy(self) -> bool:
        """True when the API reports the agent running."""
        return (self.cloud_assistant_status or "").lower() == "true"


class AgentStatusPage(ApiModel):
    """One page of DescribeCloudAssistantStatus."""

    request_id: OptStr = None
    next_token: OptStr = None
    instance_cloud_assistant_status_set: Annotated[
        list[AgentStatus], BeforeValidator(unwrap("InstanceCloudAssistantStatus"))
    ] = Field(default_factory=list)


class TagResource(ApiModel):
    """One (resource, tag) pair of ListTagResources (``TagResources.TagResource[]``).

    An instance with three tags is three of these, possibly on different pages.
    """

    resource_id: str
    resource_type: OptStr = None
    tag_key: str
    # A tag may have an empty value; it is still a tag, so None reads as "".
    tag_value: Annotated[str, BeforeValidator(lambda v: "" if v is None else v)] = ""


class TagResourcesPage(ApiModel):
    """One page of ListTagResources; resources without tags are simply absent."""

    request_id: OptStr = None
    next_token: OptStr = None
    tag_resources: Annotated[list[TagResource], BeforeValidator(unwrap("TagResource"))] = Field(
        default_factory=list
    )
