"""The Cloud Assistant actions of the ECS OpenAPI, as pure functions: params in, JSON out.

Each action takes the RPC parameters (flat strings, as they arrive in the query or a form
body) and a :class:`~tests.fakes.dataset.Dataset`, and returns the response body in the
shape of the API reference (seeds 000/001, 003, 004; DescribeCloudAssistantStatus and
ListTagResources from the ECS reference). Bad parameters raise :class:`ApiError` with the code and HTTP status the
reference lists. Behaviour the docs state and a client can trip over is kept on purpose:

- DescribeInvocations filters the overall status with ``InvokeStatus`` (there is no
  ``InvocationStatus`` request parameter: like the real gateway, unknown parameters are
  ignored, so a client sending it gets everything back unfiltered).
- ``IncludeOutput=true`` is only honoured with ``InvokeId`` or ``InstanceId``.
- ``CommandName`` and ``RepeatMode`` are ignored when ``InstanceId`` is given; with
  ``InstanceId`` the answer lists only that instance and its status is that instance's.
- ``MaxResults`` outside 1..50 is refused; ``NextToken`` is opaque and bound to the filter.
- DescribeInstances (alibabacloud_ecs20140526 models): ``InstanceIds`` is a JSON array of at
  most 100 ids; ``PageSize`` 1..100 defaults to 10 (so 100 ids with no PageSize come back a
  page of 10 — the trap this fake keeps); ``MaxResults`` is clamped to 10..100 and pages by
  NextToken; released (unknown) instances are simply absent; ``Status`` filters.
- ListTagResources takes no page size: the fake cuts its answer into pages of
  ``Pager.tag_page_size`` (resource, tag) pairs, so one instance's tags may span pages;
  more than 50 ``ResourceId.N`` and a missing or unknown ``ResourceType`` are refused, and
  instances without tags (or unknown) are simply absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from tests.fakes.dataset import (
    AgentStatus,
    Command,
    Dataset,
    EcsInstance,
    Execution,
    FileSend,
    InstanceRun,
    command,
    file_send,
    overall_command_status,
    overall_file_status,
    run,
    target,
)

__all__ = ["ACTIONS", "ApiError", "Order", "Pager", "handle"]

Order = Literal["newest", "shuffled"]
Params = Mapping[str, str]
T = TypeVar("T")

_MAX_PAGE = 50
_DEFAULT_PAGE = 10
_MAX_TAGS = 20
_MAX_INSTANCE_IDS = 100
# InstanceId.N of SendFile: "up to 50 instance IDs. Valid values of N: 1 to 50"
# (alibabacloud_ecs20140526 SendFileRequest); RunCommand's is 1 to 100 (RunCommandRequest).
_MAX_SEND_FILE_IDS = 50
_MAX_TAG_RESOURCE_IDS = 50
_DEFAULT_TAG_PAGE = 10
# ListTagResources' ResourceType values (ECS reference); the dataset tags instances only.
_TAG_RESOURCE_TYPES = frozenset(
    {
        "instance",
        "disk",
        "snapshot",
        "image",
        "securitygroup",
        "volume",
        "eni",
        "ddh",
        "ddhcluster",
        "keypair",
        "launchtemplate",
        "reservedinstance",
        "snapshotpolicy",
        "elasticityassurance",
        "capacityreservation",
        "command",
        "invocation",
        "activation",
        "managedinstance",
    }
)


class ApiError(Exception):
    """An API error: HTTP status, Code and Message as the real service answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# --- parameters -------------------------------------------------------------------------


def _bool(params: Params, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(400, f"InvalidParameter.{name}", f"The specified parameter {name} is not valid.")


def _tags(params: Params) -> dict[str, str | None]:
    """Tag.N.Key / Tag.N.Value → {key: value or None}, validated as the reference says."""
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    for name, value in params.items():
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "Tag" or not parts[1].isdigit():
            continue
        n = int(parts[1])
        if parts[2] == "Key":
            keys[n] = value
        elif parts[2] == "Value":
            values[n] = value
    numbers = set(keys) | set(values)
    if any(n < 1 or n > _MAX_TAGS for n in numbers):
        raise ApiError(400, "NumberExceed.Tags", "The Tags parameter number is exceed.")
    out: dict[str, str | None] = {}
    for n in sorted(numbers):
        key = keys.get(n, "")
        if not key:
            raise ApiError(400, "MissingParameter.TagKey", "You must specify Tag.N.Key.")
        if key.startswith(("aliyun", "acs:")) or "http://" in key or "https://" in key:
            raise ApiError(400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.")
        if key in out:
            raise ApiError(400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
        out[key] = values.get(n)
    return out


def _tags_match(wanted: Mapping[str, str | None], tags: Mapping[str, str]) -> bool:
    return all(k in tags and (v is None or tags[k] == v) for k, v in wanted.items())


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _encode(text: str, encoding: str) -> str:
    if encoding == "PlainText":
        return text
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _tag_list(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop unset (None) fields: the API leaves out what it does not know."""
    return {k: v for k, v in d.items() if v is not None}


# --- paging -----------------------------------------------------------------------------

# Request parameters that do not select records: they may change between pages.
_NOT_FILTERS = frozenset(
    {"NextToken", "MaxResults", "PageSize", "PageNumber", "ContentEncoding", "IncludeOutput"}
)


@dataclass
class Pager:
    """Orders records and hands out opaque NextTokens bound to the action and filter."""

    order: Order = "newest"
    seed: int = 0
    tag_page_size: int = _DEFAULT_TAG_PAGE  # ListTagResources pairs per page (server-chosen)
    _tokens: dict[str, tuple[str, str, int]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sort(self, items: Sequence[T], key: Callable[[T], tuple[datetime, str]]) -> list[T]:
        """Newest first by creation time (ties by id), or a seeded shuffle stable across pages."""
        if self.order == "shuffled":
            return sorted(
                items,
                key=lambda item: hashlib.sha256(f"{self.seed}:{key(item)[1]}".encode()).digest(),
            )
        return sorted(items, key=key, reverse=True)

    def page(
        self,
        action: str,
        params: Params,
        items: Sequence[T],
        *,
        page_status: int = 400,
    ) -> tuple[list[T], dict[str, Any]]:
        """One page of ``items`` and the paging fields of the answer."""
        scope = repr(sorted((k, v) for k, v in params.items() if k not in _NOT_FILTERS))
        if "MaxResults" in params or "NextToken" in params:
            size = self._int(params, "MaxResults", "InvalidParameter.MaxResults", 400)
            offset = 0
            if params.get("NextToken"):
                with self._lock:
                    saved = self._tokens.get(params["NextToken"])
                if saved is None or saved[:2] != (action, scope):
                    raise ApiError(
                        400,
                        "InvalidParameter.NextToken",
                        "The specified parameter NextToken is not valid.",
                    )
                offset = saved[2]
            number = offset // size + 1
        else:
            size = self._int(params, "PageSize", "InvalidParam.PageSize", page_status)
            number = self._int(params, "PageNumber", "InvalidParam.PageNumber", page_status, 10**9)
            offset = (number - 1) * size
        chosen = list(items[offset : offset + size])
        token = ""
        if offset + size < len(items):
            token = secrets.token_urlsafe(12)
            with self._lock:
                self._tokens[token] = (action, scope, offset + size)
        meta = {
            "TotalCount": len(items),
            "PageSize": size,
            "PageNumber": number,
            "NextToken": token,
        }
        return chosen, meta

    @staticmethod
    def _int(params: Params, name: str, code: str, status: int, top: int = _MAX_PAGE) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return 1 if name == "PageNumber" else _DEFAULT_PAGE
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= top:
            message = (
                f"The specified parameter {name} is not valid."
                if name == "MaxResults"
                else "The specified parameter is invalid."
            )
            raise ApiError(status, code, message)
        return value


# --- DescribeInvocations ------------------------------------------------------------------


def _instance_json(r: InstanceRun, timed: bool, output: str | None) -> dict[str, Any]:
    return _compact(
        {
            "InstanceId": r.instance_id,
            "InvocationStatus": r.status,
            "InstanceInvokeStatus": r.record_status,
            "ErrorCode": r.error_code,
            "ErrorInfo": r.error_info,
            "ExitCode": r.exit_code,
            "Repeats": r.repeats,
            "Timed": timed,
            "Output": output,
            "Dropped": r.dropped,
            "CreationTime": _time(r.creation_time),
            "StartTime": _time(r.start_time),
            "FinishTime": _time(r.finish_time),
            "UpdateTime": _time(r.update_time),
            "StopTime": _time(r.stop_time) or "",
        }
    )


def _invocation_json(
    c: Command, runs: Sequence[InstanceRun], encoding: str, with_output: bool
) -> dict[str, Any]:
    subset = Command(**{**c.__dict__, "instances": list(runs)})
    return _compact(
        {
            "InvokeId": c.invoke_id,
            "CommandId": c.command_id,
            "CommandName": c.command_name,
            "CommandType": c.command_type,
            "CommandDescription": c.command_description,
            "CommandContent": _encode(c.command_content, encoding),
            "Parameters": c.parameters,
            "CreationTime": _time(c.creation_time),
            "RepeatMode": c.repeat_mode,
            "Frequency": c.frequency,
            "Timed": c.timed,
            "Timeout": c.timeout,
            "Username": c.username,
            "WorkingDir": c.working_dir,
            "TerminationMode": c.termination_mode,
            "Launcher": c.launcher,
            "ContainerId": c.container_id,
            "ContainerName": c.container_name,
            "InvocationStatus": subset.invocation_status,
            "InvokeStatus": subset.invoke_status,
            "InvokeInstances": {
                "InvokeInstance": [
                    _instance_json(r, c.timed, _encode(r.output, encoding) if with_output else None)
                    for r in runs
                ]
            },
            "Tags": _tag_list(c.tags),
        }
    )


def _command_matches(c: Command, params: Params, tags: Mapping[str, str | None]) -> bool:
    """The filters DescribeInvocations and DescribeInvocationResults share."""
    exact = {
        "InvokeId": c.invoke_id,
        "CommandId": c.command_id,
        "CommandType": c.command_type,
        "ResourceGroupId": c.resource_group_id,
    }
    if any(params.get(name) and params[name] != value for name, value in exact.items()):
        return False
    return _tags_match(tags, c.tags)


def describe_invocations(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """DescribeInvocations (seed 003)."""
    tags = _tags(params)
    timed = _bool(params, "Timed")
    include_output = _bool(params, "IncludeOutput") or False
    instance = params.get("InstanceId")
    encoding = params.get("ContentEncoding") or "Base64"
    # The docs: IncludeOutput needs InvokeId or InstanceId; otherwise no output comes back.
    with_output = include_output and bool(params.get("InvokeId") or instance)
    want_status = params.get("InvokeStatus")

    selected: list[tuple[Command, list[InstanceRun]]] = []
    for c in ds.commands:
        if not _command_matches(c, params, tags) or (timed is not None and c.timed != timed):
            continue
        runs = list(c.instances)
        if instance:
            runs = [r for r in runs if r.instance_id == instance]
            if not runs:
                continue
        else:
            if params.get("CommandName") and c.command_name != params["CommandName"]:
                continue
            if params.get("RepeatMode") and c.repeat_mode != params["RepeatMode"]:
                continue
        if want_status:
            statuses = [r.status for r in runs]
            subset = Command(**{**c.__dict__, "instances": runs})
            overall = overall_command_status(statuses)
            if want_status not in (overall, subset.invoke_status):
                continue
        selected.append((c, runs))

    ordered = pager.sort(selected, lambda item: (item[0].creation_time, item[0].invoke_id))
    page, meta = pager.page("DescribeInvocations", params, ordered)
    return {
        **meta,
        "Invocations": {
            "Invocation": [_invocation_json(c, runs, encoding, with_output) for c, runs in page]
        },
    }


# --- DescribeInvocationResults ------------------------------------------------------------


def _result_json(c: Command, r: InstanceRun, e: Execution, encoding: str) -> dict[str, Any]:
    return _compact(
        {
            "InvokeId": c.invoke_id,
            "CommandId": c.command_id,
            "InstanceId": r.instance_id,
            "InvocationStatus": e.status,
            "InvokeRecordStatus": e.record_status,
            "ErrorCode": e.error_code,
            "ErrorInfo": e.error_info,
            "ExitCode": e.exit_code,
            "Output": _encode(e.output, encoding),
            "Dropped": e.dropped,
            "Repeats": e.repeats,
            "StartTime": _time(e.start_time),
            "FinishedTime": _time(e.finish_time),
            "StopTime": _time(e.stop_time) or "",
            "Username": c.username,
            "ContainerId": c.container_id,
            "ContainerName": c.container_name,
            "Launcher": c.launcher,
            "TerminationMode": c.termination_mode,
            "Tags": _tag_list(c.tags),
        }
    )


def describe_invocation_results(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """DescribeInvocationResults (seed 004); IncludeHistory adds periodic tasks' earlier runs."""
    tags = _tags(params)
    history = _bool(params, "IncludeHistory") or False
    encoding = params.get("ContentEncoding") or "Base64"
    want = params.get("InvokeRecordStatus")
    rows: list[tuple[Command, InstanceRun, Execution, int]] = []
    for c in ds.commands:
        if not _command_matches(c, params, tags):
            continue
        for r in c.instances:
            if params.get("InstanceId") and r.instance_id != params["InstanceId"]:
                continue
            executions: list[Execution] = [*(r.history if history else []), r]
            for index, e in enumerate(executions):
                if want and e.record_status != want:
                    continue
                rows.append((c, r, e, index))

    def key(row: tuple[Command, InstanceRun, Execution, int]) -> tuple[datetime, str]:
        c, r, e, index = row
        when = e.start_time or r.creation_time or c.creation_time
        return (when, f"{c.invoke_id}/{r.instance_id}/{index:06d}")

    ordered = pager.sort(rows, key)
    page, meta = pager.page("DescribeInvocationResults", params, ordered, page_status=403)
    return {
        "Invocation": {
            **meta,
            "InvocationResults": {
                "InvocationResult": [_result_json(c, r, e, encoding) for c, r, e, _ in page]
            },
        }
    }


# --- DescribeSendFileResults --------------------------------------------------------------


def _file_json(f: FileSend, targets: Sequence[Any]) -> dict[str, Any]:
    return _compact(
        {
            "InvokeId": f.invoke_id,
            "Name": f.name,
            "Description": f.description,
            "Content": f.content,
            "ContentType": f.content_type,
            "TargetDir": f.target_dir,
            "FileOwner": f.file_owner,
            "FileGroup": f.file_group,
            "FileMode": f.file_mode,
            "Overwrite": f.overwrite,
            "CreationTime": _time(f.creation_time),
            "VmCount": len(f.instances),
            "InvocationStatus": overall_file_status(t.status for t in targets),
            "InvokeInstances": {
                "InvokeInstance": [
                    _compact(
                        {
                            "InstanceId": t.instance_id,
                            "InvocationStatus": t.status,
                            "ErrorCode": t.error_code,
                            "ErrorInfo": t.error_info,
                            "CreationTime": _time(t.creation_time),
                            "StartTime": _time(t.start_time),
                            "FinishTime": _time(t.finish_time),
                            "UpdateTime": _time(t.update_time),
                        }
                    )
                    for t in targets
                ]
            },
            "Tags": _tag_list(f.tags),
        }
    )


def describe_send_file_results(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """DescribeSendFileResults for ECS (seeds 000/001)."""
    tags = _tags(params)
    instance = params.get("InstanceId")
    selected = []
    for f in ds.file_sends:
        if params.get("InvokeId") and f.invoke_id != params["InvokeId"]:
            continue
        if params.get("Name") and f.name != params["Name"]:
            continue
        if params.get("ResourceGroupId") and f.resource_group_id != params["ResourceGroupId"]:
            continue
        if not _tags_match(tags, f.tags):
            continue
        targets = [t for t in f.instances if not instance or t.instance_id == instance]
        if not targets:
            continue
        status = params.get("InvocationStatus")
        if status and overall_file_status(t.status for t in targets) != status:
            continue
        selected.append((f, targets))
    ordered = pager.sort(selected, lambda item: (item[0].creation_time, item[0].invoke_id))
    page, meta = pager.page("DescribeSendFileResults", params, ordered)
    return {**meta, "Invocations": {"Invocation": [_file_json(f, t) for f, t in page]}}


# --- DescribeCloudAssistantStatus ---------------------------------------------------------


def _agent_json(a: AgentStatus) -> dict[str, Any]:
    return _compact(
        {
            "InstanceId": a.instance_id,
            "CloudAssistantStatus": "true" if a.online else "false",
            "CloudAssistantVersion": a.version if a.online else "",
            "OSType": a.os_type,
            "LastHeartbeatTime": _time(a.last_heartbeat),
            "LastInvokedTime": _time(a.last_invoked),
            "ActiveTaskCount": a.active_task_count,
            "InvocationCount": a.invocation_count,
            "SupportSessionManager": a.online,
        }
    )


def describe_cloud_assistant_status(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """DescribeCloudAssistantStatus: is the agent alive on these instances ("true"/"false")."""
    wanted = [v for k, v in params.items() if k.startswith("InstanceId.") and v]
    if len(wanted) > _MAX_INSTANCE_IDS:
        raise ApiError(400, "InvalidInstanceIds.ValueNotSupported", "Too many instance ids.")
    if wanted:
        # An instance the agent never reported from answers "false", as the API does.
        agents = [ds.agents.get(i) or AgentStatus(i, online=False, version="") for i in wanted]
    else:
        agents = sorted(ds.agents.values(), key=lambda a: a.instance_id)
    if params.get("OSType"):
        agents = [a for a in agents if a.os_type.lower() == params["OSType"].lower()]
    page, meta = pager.page("DescribeCloudAssistantStatus", params, agents)
    return {
        **meta,
        "InstanceCloudAssistantStatusSet": {
            "InstanceCloudAssistantStatus": [_agent_json(a) for a in page]
        },
    }


# --- ListTagResources -------------------------------------------------------------------


def _numbered(params: Params, name: str) -> dict[int, str]:
    """``Name.N`` parameters by N."""
    found: dict[int, str] = {}
    for key, value in params.items():
        prefix, _, n = key.partition(".")
        if prefix == name and n.isdigit():
            found[int(n)] = value
    return found


def list_tag_resources(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """ListTagResources: one entry per (resource, tag), paged by NextToken only."""
    kind = params.get("ResourceType")
    if not kind:
        raise ApiError(
            400,
            "MissingParameter.ResourceType",
            'The input parameter "ResourceType" that is mandatory for processing this '
            "request is not supplied.",
        )
    if kind not in _TAG_RESOURCE_TYPES:
        raise ApiError(
            404, "InvalidResourceType.NotFound", "The ResourceType provided does not exist."
        )
    numbered = _numbered(params, "ResourceId")
    if len(numbered) > _MAX_TAG_RESOURCE_IDS or any(
        not 1 <= n <= _MAX_TAG_RESOURCE_IDS for n in numbered
    ):
        raise ApiError(
            400,
            "NumberExceed.ResourceIds",
            f"The ResourceIds parameter's number is exceed , Valid : {_MAX_TAG_RESOURCE_IDS}.",
        )
    wanted = _tags(params)
    if not numbered and not wanted:
        raise ApiError(
            400, "MissingParameter.ResourceIds", "You must specify ResourceId.N or Tag.N."
        )
    ids = set(numbered.values())
    tagged = ds.instance_tags if kind == "instance" else {}
    pairs = [
        (rid, key, value)
        for rid, tags in sorted(tagged.items())
        if (not ids or rid in ids) and tags and _tags_match(wanted, tags)
        for key, value in sorted(tags.items())
    ]
    # The API takes no MaxResults: the server chooses the page size, whatever the client sends.
    sized = {**params, "MaxResults": str(pager.tag_page_size)}
    page, meta = pager.page("ListTagResources", sized, pairs)
    return {
        "NextToken": meta["NextToken"],
        "TagResources": {
            "TagResource": [
                {"ResourceId": rid, "ResourceType": kind, "TagKey": key, "TagValue": value}
                for rid, key, value in page
            ]
        },
    }


# --- RunCommand / SendFile (what `make smoke` does on a real instance) -------------------
#
# Request and answer fields from alibabacloud_ecs20140526 (RunCommandRequest /
# RunCommandResponseBody: CommandId, InvokeId; SendFileRequest / SendFileResponseBody:
# InvokeId). The fake's instances "run" a script of ``echo …``, ``rm -f PATH`` and
# ``exit N`` lines at once (the real agent runs it asynchronously: callers poll either
# way); any other line fails the execution with exit 127, as a shell would.

_SCRIPT_TYPES = ("RunShellScript", "RunBatScript", "RunPowerShellScript")


def _targets(params: Params, limit: int = _MAX_INSTANCE_IDS) -> list[str]:
    wanted = [value for _, value in sorted(_numbered(params, "InstanceId").items()) if value]
    if not wanted:
        raise ApiError(400, "MissingParameter.InstanceIds", "InstanceId is mandatory.")
    if len(wanted) > limit:
        raise ApiError(400, "InvalidInstanceIds.ValueNotSupported", "Too many instance ids.")
    return wanted


def _execute(ds: Dataset, instance: str, script: str) -> InstanceRun:
    agent = ds.agents.get(instance)
    if agent is None or not agent.online:
        return run(instance, "Failed", error_code="ClientNotRunning")
    files = ds.instance_files.setdefault(instance, set())
    output: list[str] = []
    for line in script.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "echo":
            output.append(line.partition("echo")[2].strip())
        elif words[:2] == ["rm", "-f"] and len(words) == 3:
            files.discard(words[2])
        elif words[0] == "exit" and len(words) == 2 and words[1].isdigit():
            code = int(words[1])
            status = "Success" if code == 0 else "Failed"
            error = "" if code == 0 else "ExitCodeNonzero"
            text = "\n".join(output) + "\n"
            return run(instance, status, error_code=error, exit_code=code, output=text)
        else:
            text = "\n".join([*output, f"{words[0]}: command not found"]) + "\n"
            return run(instance, "Failed", error_code="ExitCodeNonzero", exit_code=127, output=text)
    return run(instance, "Success", exit_code=0, output="\n".join(output) + "\n")


def run_command(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """RunCommand: runs the script at once on each instance; KeepCommand is not kept."""
    if params.get("Type") not in _SCRIPT_TYPES:
        raise ApiError(400, "InvalidCommandType.NotSupported", "The specified Type is invalid.")
    script = params.get("CommandContent", "")
    if not script:
        raise ApiError(400, "MissingParameter.CommandContent", "CommandContent is mandatory.")
    if params.get("ContentEncoding", "PlainText") == "Base64":
        script = base64.b64decode(script).decode()
    runs = [_execute(ds, instance, script) for instance in _targets(params)]
    name = params.get("Name") or "assistwatch-run"
    record = command(
        created=datetime.now(timezone.utc),
        instances=runs,
        name=name,
        invoke=f"t-{secrets.token_hex(8)}",
        content=script,
        command_type=params["Type"],
        timeout=int(params.get("Timeout") or 60),
        cmd_id=f"c-{secrets.token_hex(8)}",
    )
    ds.add(record)
    return {"CommandId": record.command_id, "InvokeId": record.invoke_id}


def send_file(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """SendFile: the file lands unless it exists and Overwrite is not true."""
    for required in ("Name", "TargetDir", "Content"):
        if not params.get(required):
            raise ApiError(400, f"MissingParameter.{required}", f"{required} is mandatory.")
    overwrite = params.get("Overwrite", "false").lower() == "true"
    path = f"{params['TargetDir'].rstrip('/')}/{params['Name']}"
    targets = []
    for instance in _targets(params, _MAX_SEND_FILE_IDS):
        agent = ds.agents.get(instance)
        files = ds.instance_files.setdefault(instance, set())
        if agent is None or not agent.online:
            targets.append(target(instance, "Failed", error_code="ClientNotRunning"))
        elif path in files and not overwrite:
            targets.append(target(instance, "Failed", error_code="FileAlreadyExists"))
        else:
            files.add(path)
            targets.append(target(instance, "Success"))
    record = file_send(
        created=datetime.now(timezone.utc),
        targets=targets,
        name=params["Name"],
        invoke=f"f-{secrets.token_hex(8)}",
        content=params["Content"],
        target_dir=params["TargetDir"],
        overwrite=overwrite,
    )
    ds.add(record)
    return {"InvokeId": record.invoke_id}


# --- DescribeInstances ------------------------------------------------------------------

_MAX_DESCRIBE_IDS = 100
_MAX_DESCRIBE_PAGE = 100
_INSTANCE_STATUSES = frozenset({"Pending", "Running", "Starting", "Stopping", "Stopped"})


def _instance_ids(params: Params) -> list[str] | None:
    raw = params.get("InstanceIds")
    if raw is None or raw == "":
        return None
    try:
        ids = json.loads(raw)
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(
            400, "InvalidInstanceIds.Malformed", "The specified parameter InstanceIds is not valid."
        )
    if len(ids) > _MAX_DESCRIBE_IDS:
        raise ApiError(
            400,
            "InvalidInstanceIds.ValueNotSupported",
            f"The specified parameter InstanceIds exceeds {_MAX_DESCRIBE_IDS} ids.",
        )
    return ids


def _ecs_instance_json(instance: EcsInstance, region: str) -> dict[str, Any]:
    return {
        "InstanceId": instance.instance_id,
        "InstanceName": instance.name or f"launch-advisor-{instance.instance_id[-8:]}",
        "HostName": instance.host_name or f"iZ{instance.instance_id[2:]}Z",
        "Status": instance.status,
        "RegionId": region,
        "ZoneId": instance.zone_id,
        "OSType": instance.os_type,
        "InstanceType": "ecs.g7.large",
        "Tags": {"Tag": []},
    }


def describe_instances(ds: Dataset, params: Params, pager: Pager) -> dict[str, Any]:
    """DescribeInstances: by InstanceIds (JSON) and Status; PageSize/PageNumber or NextToken."""
    ids = _instance_ids(params)
    status = params.get("Status") or None
    if status is not None and status not in _INSTANCE_STATUSES:
        raise ApiError(400, "InvalidStatus.ValueNotSupported", "The specified Status is not valid.")
    existing = ds.ecs_instances()
    chosen = [
        existing[i]
        for i in (sorted(set(ids)) if ids is not None else sorted(existing))
        if i in existing and (status is None or existing[i].status == status)
    ]
    if "MaxResults" in params or params.get("NextToken"):
        size = min(max(_int_or(params.get("MaxResults"), 10), 10), _MAX_DESCRIBE_PAGE)
        sized = {**params, "MaxResults": str(size)}
        scope = {k: v for k, v in sized.items() if k != "MaxResults"}
        offset_page, meta = _token_page(pager, scope, size, chosen)
        number = meta["PageNumber"]
        page = offset_page
    else:
        size = _describe_int(params, "PageSize", 10, _MAX_DESCRIBE_PAGE)
        number = _describe_int(params, "PageNumber", 1, 10**9)
        page = chosen[(number - 1) * size : number * size]
        meta = {"NextToken": ""}
    region = params["RegionId"]
    return {
        "TotalCount": len(chosen),
        "PageNumber": number,
        "PageSize": size,
        "NextToken": meta["NextToken"],
        "Instances": {"Instance": [_ecs_instance_json(i, region) for i in page]},
    }


def _int_or(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _describe_int(params: Params, name: str, default: int, top: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= top:
        raise ApiError(
            400, f"InvalidParameter.{name}", f"The specified parameter {name} is not valid."
        )
    return value


def _token_page(
    pager: Pager, params: Params, size: int, items: list[EcsInstance]
) -> tuple[list[EcsInstance], dict[str, Any]]:
    # The shared pager validates MaxResults against 1..50; DescribeInstances allows up to 100,
    # so page in steps the pager accepts and stitch them (same tokens, same binding).
    answer: list[EcsInstance] = []
    meta: dict[str, Any] = {"NextToken": params.get("NextToken", ""), "PageNumber": 1}
    step = {**params}
    while len(answer) < size:
        take = min(_MAX_PAGE, size - len(answer))
        step = {**step, "MaxResults": str(take)}
        if meta["NextToken"]:
            step["NextToken"] = meta["NextToken"]
        else:
            step.pop("NextToken", None)
        got, meta = pager.page("DescribeInstances", step, items)
        answer += got
        if not meta["NextToken"]:
            break
    return answer, meta


Action = Callable[[Dataset, Params, Pager], dict[str, Any]]
ACTIONS: dict[str, Action] = {
    "DescribeInvocations": describe_invocations,
    "DescribeInvocationResults": describe_invocation_results,
    "DescribeSendFileResults": describe_send_file_results,
    "DescribeCloudAssistantStatus": describe_cloud_assistant_status,
    "ListTagResources": list_tag_resources,
    "RunCommand": run_command,
    "SendFile": send_file,
    "DescribeInstances": describe_instances,
}


def handle(action: str, params: Params, ds: Dataset, pager: Pager) -> dict[str, Any]:
    """Run one action against the dataset (under its lock); raise ApiError on bad input."""
    fn = ACTIONS.get(action)
    if fn is None:
        raise ApiError(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    if not params.get("RegionId"):
        raise ApiError(400, "MissingRegionId", "RegionId is mandatory for this action.")
    with ds.lock:
        return fn(ds, params, pager)
