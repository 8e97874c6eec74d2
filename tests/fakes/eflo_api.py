"""The Cloud Assistant actions of eflo-controller (2022-12-15), as pure functions: params in,
JSON out.

Answers take eflo's own shapes (the eflo DescribeInvocations reference; seed 002 for
files), which differ from ECS on purpose so a client that assumes ECS trips here:

- nodes, not instances: ``InvokeNodes.InvokeNode[]`` with ``NodeId``, ``NodeCount``;
- times mixed as the references print them: the invocation's ``CreationTime`` and a node's
  ``FinishTime`` in China time with milliseconds (``2023-04-10T10:53:46.156+08:00``), a
  node's other times in UTC (``2023-03-30T16:00:00Z``);
- DescribeSendFileResults: ``TotalCount`` as a string, ``Overwrite`` a boolean, and no
  ``InvokeId`` in the record (seed 002);
- DescribeInvocations: ``Timed`` as a string ("true"/"false"), Output only with
  ``IncludeOutput=true``, Base64 unless ``ContentEncoding=PlainText``.

Both actions require ``InvokeId`` (there is no listing). An id the fake does not know gets
``InvalidInvokeId.NotFound`` (HTTP 404): the eflo references name no code for it, so the
fake answers what ECS's Cloud Assistant answers (see ``lib.cloud.cloudassist.eflo``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fakes.dataset import (
    Dataset,
    EfloCommand,
    EfloFileSend,
    InstanceRun,
    overall_command_status,
    overall_file_status,
)
from tests.fakes.ecs_api import ApiError

__all__ = ["ACTIONS", "API_VERSION", "handle"]

API_VERSION = "2022-12-15"
Params = Mapping[str, str]
_CHINA = timezone(timedelta(hours=8))


def _china_ms(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(_CHINA).isoformat(timespec="milliseconds")


def _utc(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _encode(text: str, encoding: str) -> str:
    if encoding == "PlainText":
        return text
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _bool(params: Params, name: str) -> bool:
    raw = params.get(name, "")
    if raw.lower() in ("", "false"):
        return False
    if raw.lower() == "true":
        return True
    raise ApiError(400, f"InvalidParameter.{name}", f"The specified parameter {name} is not valid.")


def _invoke_id(params: Params) -> str:
    invoke = params.get("InvokeId", "")
    if not invoke:
        raise ApiError(400, "MissingInvokeId", "InvokeId is mandatory for this action.")
    return invoke


def _not_found() -> ApiError:
    return ApiError(404, "InvalidInvokeId.NotFound", "The specified InvokeId does not exist.")


# --- DescribeInvocations ------------------------------------------------------------------


def _node_json(r: InstanceRun, timed: bool, output: str | None) -> dict[str, Any]:
    return _compact(
        {
            "NodeId": r.instance_id,
            "InvocationStatus": r.status,
            "NodeInvokeStatus": r.record_status,
            "ErrorCode": r.error_code,
            "ErrorInfo": r.error_info,
            "ExitCode": r.exit_code,
            "Repeats": r.repeats,
            "Timed": "true" if timed else "false",
            "Output": output,
            "Dropped": r.dropped,
            "CreationTime": _utc(r.creation_time),
            "StartTime": _utc(r.start_time),
            "FinishTime": _china_ms(r.finish_time),
            "UpdateTime": _utc(r.update_time),
            "StopTime": _utc(r.stop_time),
        }
    )


def describe_invocations(ds: Dataset, params: Params) -> dict[str, Any]:
    """eflo DescribeInvocations: one execution, every node (or the one ``NodeId`` names)."""
    invoke = _invoke_id(params)
    encoding = params.get("ContentEncoding") or "Base64"
    if encoding not in ("Base64", "PlainText"):
        raise ApiError(
            400,
            "InvalidParameter.ContentEncoding",
            "The specified parameter ContentEncoding is not valid.",
        )
    with_output = _bool(params, "IncludeOutput")
    found = next((c for c in ds.eflo_commands if c.invoke_id == invoke), None)
    if found is None:
        raise _not_found()
    node = params.get("NodeId")
    runs = [r for r in found.instances if not node or r.instance_id == node]
    return {"Invocations": {"Invocation": [_command_json(found, runs, encoding, with_output)]}}


def _command_json(
    c: EfloCommand, runs: list[InstanceRun], encoding: str, with_output: bool
) -> dict[str, Any]:
    return _compact(
        {
            "InvokeId": c.invoke_id,
            "CommandName": c.command_name,
            "CommandDescription": c.command_description,
            "CommandContent": _encode(c.command_content, encoding),
            "Parameters": c.parameters,
            "CreationTime": _china_ms(c.creation_time),
            "RepeatMode": c.repeat_mode,
            "Frequency": c.frequency,
            "Timeout": c.timeout,
            "Username": c.username,
            "WorkingDir": c.working_dir,
            "InvocationStatus": overall_command_status(r.status for r in runs),
            "InvokeStatus": c.invoke_status,
            "InvokeNodes": {
                "InvokeNode": [
                    _node_json(r, c.timed, _encode(r.output, encoding) if with_output else None)
                    for r in runs
                ]
            },
        }
    )


# --- DescribeSendFileResults --------------------------------------------------------------


def describe_send_file_results(ds: Dataset, params: Params) -> dict[str, Any]:
    """eflo DescribeSendFileResults in seed 002's shape (no InvokeId, TotalCount a string)."""
    invoke = _invoke_id(params)
    found = next((f for f in ds.eflo_file_sends if f.invoke_id == invoke), None)
    if found is None:
        raise _not_found()
    node = params.get("NodeId")
    targets = [t for t in found.instances if not node or t.instance_id == node]
    return {"TotalCount": "1", "Invocations": {"Invocation": [_file_json(found, targets)]}}


def _file_json(f: EfloFileSend, targets: list[Any]) -> dict[str, Any]:
    return _compact(
        {
            "Name": f.name,
            "Description": f.description,
            "Content": f.content,
            "ContentType": f.content_type,
            "TargetDir": f.target_dir,
            "FileOwner": f.file_owner,
            "FileGroup": f.file_group,
            "FileMode": f.file_mode,
            "Overwrite": f.overwrite,
            "CreationTime": _china_ms(f.creation_time),
            "NodeCount": len(f.instances),
            "InvocationStatus": overall_file_status(t.status for t in targets),
            "InvokeNodes": {
                "InvokeNode": [
                    _compact(
                        {
                            "NodeId": t.instance_id,
                            "InvocationStatus": t.status,
                            "ErrorCode": t.error_code,
                            "ErrorInfo": t.error_info,
                            "CreationTime": _utc(t.creation_time),
                            "StartTime": _utc(t.start_time),
                            "FinishTime": _china_ms(t.finish_time),
                            "UpdateTime": _utc(t.update_time),
                        }
                    )
                    for t in targets
                ]
            },
        }
    )


Action = Callable[[Dataset, Params], dict[str, Any]]

ACTIONS: dict[str, Action] = {
    "DescribeInvocations": describe_invocations,
    "DescribeSendFileResults": describe_send_file_results,
}


def handle(action: str, params: Params, ds: Dataset) -> dict[str, Any]:
    """Run one eflo action against the dataset (under its lock); raise ApiError on bad input."""
    fn = ACTIONS.get(action)
    if fn is None:
        raise ApiError(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    with ds.lock:
        return fn(ds, params)
