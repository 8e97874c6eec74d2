"""Cloud Assistant records → Findings: one failed execution on one instance or node.

Status decides (DESIGN "Identity"): a terminal non-success status is a finding; a Success
record is never one, whatever its ErrorCode field says. ErrorCode, ErrorInfo and ExitCode
only classify it, through the catalogue in :mod:`lib.catalogue`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Classification", "Finding", "Kind", "Provider", "Severity"]

Provider = Literal["ecs", "eflo"]
Kind = Literal["command", "file"]
Severity = Literal["critical", "warning", "info"]


class Classification(BaseModel):
    """What an error code means to a person: category, severity, zh/en text and a hint."""

    model_config = ConfigDict(frozen=True)

    code: str  # the ErrorCode, or a synthetic one such as "ExitCodeNonzero" / "Unknown"
    category: str  # agent | instance | command | file | timeout | quota | cancelled | unknown
    severity: Severity
    explanation_zh: str
    explanation_en: str
    hint_zh: str
    hint_en: str


class Finding(BaseModel):
    """A terminal non-success execution of one invocation on one instance or node."""

    model_config = ConfigDict(frozen=True)

    account: str  # "self" for the function's own account, else the account id / role ARN
    provider: Provider
    region: str
    kind: Kind
    invoke_id: str
    instance_id: str  # ECS instance id or Lingjun node id
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
    classification: Classification
