"""The Cloud Assistant fake's in-memory truth, and builders that make it read like a story.

A test writes what happened, the fake answers every API from it::

    ds = Dataset()
    ds.add(
        command(
            name="deploy.sh",
            created=now - timedelta(minutes=5),
            instances=[
                run("i-1", status="Failed", error_code="ExitCodeNonzero", exit_code=2,
                    output="rsync: connection refused"),
                run("i-2"),
            ],
        )
    )

Statuses are kept consistent the way the API makes them (seed 003 / 000): the overall
``InvocationStatus`` and the legacy ``InvokeStatus`` / ``InstanceInvokeStatus`` /
``InvokeRecordStatus`` are *derived* from the per-instance statuses, never set by hand.
Output is kept as plain text; the fake encodes it (Base64 by default) when it answers.
Lingjun (eflo) work is kept apart from ECS work (``eflo_commands``, ``eflo_file_sends``,
built with :func:`eflo_command` / :func:`eflo_file_send` on ``e01-…`` node ids): eflo and
ECS are separate APIs, and an ECS call never sees a node's invocation.
Nothing here imports ``lib``: the fake is an independent witness of the protocol.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

__all__ = [
    "COMMAND_ERROR_INFO",
    "COMMAND_STATUSES",
    "FILE_ERROR_INFO",
    "FILE_STATUSES",
    "MAX_OUTPUT",
    "AgentStatus",
    "Command",
    "Dataset",
    "EfloCommand",
    "EfloFileSend",
    "Execution",
    "FileSend",
    "FileTarget",
    "InstanceRun",
    "agent",
    "command",
    "command_id",
    "eflo_command",
    "eflo_file_send",
    "eflo_invoke_id",
    "execution",
    "file_invoke_id",
    "file_send",
    "instance_id",
    "invoke_id",
    "node_id",
    "overall_command_status",
    "overall_file_status",
    "record_status",
    "run",
    "target",
]

# Per-instance statuses of a command (seed 003, InvokeInstance.InvocationStatus).
COMMAND_STATUSES = frozenset(
    {
        "Pending",
        "Invalid",
        "Aborted",
        "Running",
        "Success",
        "Failed",
        "Error",
        "Timeout",
        "Cancelled",
        "Stopping",
        "Terminated",
        "Scheduled",
    }
)
# Per-instance statuses of a file send (seed 000/001).
FILE_STATUSES = frozenset(
    {"Pending", "Invalid", "Running", "Aborted", "Success", "Failed", "Error", "Timeout"}
)
_FAILED = frozenset({"Invalid", "Aborted", "Failed", "Error", "Timeout"})
_STOPPED = frozenset({"Cancelled", "Terminated"})
_TERMINAL = _FAILED | _STOPPED | {"Success"}
MAX_OUTPUT = 24 * 1024  # Output is cut at 24 KB; Dropped counts the rest (seed 003)

# ErrorInfo the API writes for each ErrorCode (seed 003, commands; seed 000/001, files).
COMMAND_ERROR_INFO = {
    "InstanceNotExists": "the specified instance does not exists",
    "InstanceReleased": "the specified instance was released during task execution",
    "InstanceNotRunning": "the specified instance was not running during task execution",
    "CommandNotApplicable": "the OS type of the instance does not support the specified command type",
    "AccountNotExists": "the specified account does not exist",
    "DirectoryNotExists": "the specified directory does not exist",
    "BadCronExpression": "the cron expression is invalid",
    "ClientNotRunning": "the aliyun service is not running on the instance",
    "ClientNotResponse": "the aliyun service in the instance does not response",
    "ClientIsUpgrading": "the aliyun service in the instance is upgrading during task execution",
    "ClientNeedUpgrade": "the aliyun service in the instance need to be upgraded",
    "DeliveryTimeout": "the command delivery has been timeout",
    "ExecutionTimeout": "the command execution has been timeout",
    "ExecutionException": "the command execution got an exception",
    "ExecutionInterrupted": "the command execution was interrupted",
    "ExitCodeNonzero": "the command execution exit code is not zero",
    "SecurityGroupRuleDenied": "the security group rules denied access to the aliyun service",
}
FILE_ERROR_INFO = {
    "InstanceNotExists": "the specified instance does not exists",
    "InstanceReleased": "the specified instance has been released",
    "InstanceNotRunning": "the instance is not running when create task",
    "AccountNotExists": "the specified account does not exists",
    "ClientNotRunning": "the aliyun service is not running on the instance",
    "ClientNotResponse": "the aliyun service in the instance does not response",
    "ClientIsUpgrading": "the aliyun service in the instance is upgrading now",
    "ClientNeedUpgrade": "the aliyun service in the instance need upgrade",
    "DeliveryTimeout": "the command delivery has been timeout",
    "FileCreateFail": "the file creation is failed due to unknown error",
    "FileAlreadyExists": "File already exists",
    "FileContentInvalid": "the content of file is invalid",
    "FileNameInvalid": "File name is invalid",
    "FilePathInvalid": "File path is invalid",
    "FileAuthorityInvalid": "the authority of file is invalid",
    "UserGroupNotExists": "Group not exists",
}


# --- ids -------------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _token(seed: str, length: int) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest(), "big")
    out = []
    for _ in range(length):
        digest, rem = divmod(digest, len(_ALPHABET))
        out.append(_ALPHABET[rem])
    return "".join(out)


def instance_id(name: str) -> str:
    """A realistic, stable ECS instance id for a story name: ``i-bp1…`` (20 chars)."""
    return "i-bp1" + _token("instance:" + name, 17)


def invoke_id(name: str) -> str:
    """A stable command invoke id: ``t-hz…``."""
    return "t-hz" + _token("invoke:" + name, 14)


def file_invoke_id(name: str) -> str:
    """A stable file-send invoke id: ``f-hz…``."""
    return "f-hz" + _token("file:" + name, 14)


def node_id(name: str) -> str:
    """A realistic, stable Lingjun node id for a story name: ``e01-cn-…``."""
    return "e01-cn-" + _token("node:" + name, 11)


def eflo_invoke_id(name: str) -> str:
    """A stable eflo invoke id: ``t-bj0…`` for commands and file sends alike (seed 002)."""
    return "t-bj0" + _token("eflo:" + name, 12)


def command_id(name: str) -> str:
    """A stable command id: ``c-hz…``."""
    return "c-hz" + _token("command:" + name, 14)


# --- status rules (seed 003 / 000) -------------------------------------------------------


def overall_command_status(statuses: Iterable[str]) -> str:
    """Aggregate per-instance statuses into the overall InvocationStatus (seed 003).

    The doc lists the "at least one instance is …" rules in the order Pending, Scheduled,
    Running, Stopping; the first that applies wins. Cancelled/Terminated count as Stopped.
    """
    states = list(statuses)
    for busy in ("Pending", "Scheduled", "Running", "Stopping"):
        if busy in states:
            return busy
    if not states or all(s in _STOPPED for s in states):
        return "Stopped"
    done = [s for s in states if s not in _STOPPED]
    if all(s == "Success" for s in done):
        return "Success"
    if all(s in _FAILED for s in done):
        return "Failed"
    return "PartialFailed"


def overall_file_status(statuses: Iterable[str]) -> str:
    """Aggregate per-instance file-send statuses into the overall InvocationStatus (seed 000)."""
    states = list(statuses)
    for busy in ("Pending", "Running"):
        if busy in states:
            return busy
    if states and all(s == "Success" for s in states):
        return "Success"
    if states and all(s in _FAILED for s in states):
        return "Failed"
    return "PartialFailed"


def record_status(status: str) -> str:
    """The legacy per-execution status (InstanceInvokeStatus / InvokeRecordStatus).

    A command that ran to the end is "Finished" even with a non-zero exit code (seed 004
    shows InvocationStatus Failed with InvokeRecordStatus Finished); one that never ran or
    was cut off is "Failed"; a cancelled or terminated one "Stopped".
    """
    if status in ("Success", "Failed"):
        return "Finished"
    if status in ("Invalid", "Aborted", "Error", "Timeout"):
        return "Failed"
    if status in _STOPPED:
        return "Stopped"
    if status == "Stopping":
        return "Stopping"
    return "Running"  # Pending, Running, Scheduled


def _legacy_invoke_status(statuses: Sequence[str], timed: bool) -> str:
    records = [record_status(s) for s in statuses]
    if timed or any(r in ("Running", "Stopping") for r in records):
        return "Running"  # a periodic task stays Running until it is stopped (seed 003)
    if all(r == "Stopped" for r in records):
        return "Stopped"
    if all(r in ("Finished", "Stopped") for r in records):
        return "Finished"
    if all(r in ("Failed", "Stopped") for r in records):
        return "Failed"
    return "PartialFinished"


# --- records ----------------------------------------------------------------------------


@dataclass
class Execution:
    """One execution of a command on one instance (periodic tasks have many)."""

    status: str
    error_code: str = ""
    error_info: str = ""
    exit_code: int | None = None
    output: str = ""  # plain text, already cut to MAX_OUTPUT
    dropped: int = 0
    start_time: datetime | None = None
    finish_time: datetime | None = None
    stop_time: datetime | None = None
    repeats: int = 1

    @property
    def record_status(self) -> str:
        """InvokeRecordStatus / InstanceInvokeStatus of this execution."""
        return record_status(self.status)


@dataclass
class InstanceRun(Execution):
    """A command on one instance: its latest execution plus earlier ones (``history``)."""

    instance_id: str = ""
    creation_time: datetime | None = None
    update_time: datetime | None = None
    history: list[Execution] = field(default_factory=list)  # oldest first


@dataclass
class Command:
    """One RunCommand / InvokeCommand invocation (an InvokeId) over one or more instances."""

    invoke_id: str
    command_id: str
    command_name: str
    creation_time: datetime
    instances: list[InstanceRun]
    command_type: str = "RunShellScript"
    command_content: str = ""
    command_description: str = ""
    repeat_mode: str = "Once"
    frequency: str = ""
    timeout: int = 60
    username: str = "root"
    working_dir: str = ""
    parameters: str = "{}"
    termination_mode: str = "Process"
    launcher: str = ""
    container_id: str = ""
    container_name: str = ""
    resource_group_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    stopped: bool = False  # StopInvocation was called on a periodic task

    @property
    def invocation_status(self) -> str:
        """Overall InvocationStatus, aggregated from the instances."""
        return overall_command_status(r.status for r in self.instances)

    @property
    def timed(self) -> bool:
        """Whether the task will run again by itself (Period / reboot modes, not stopped)."""
        return self.repeat_mode != "Once" and not self.stopped

    @property
    def invoke_status(self) -> str:
        """The legacy overall InvokeStatus (seed 003: "not recommended", still returned)."""
        return _legacy_invoke_status([r.status for r in self.instances], self.timed)


@dataclass
class FileTarget:
    """A file send on one instance."""

    instance_id: str
    status: str = "Success"
    error_code: str = ""
    error_info: str = ""
    creation_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    update_time: datetime | None = None


@dataclass
class FileSend:
    """One SendFile invocation (an ``f-`` InvokeId)."""

    invoke_id: str
    name: str
    creation_time: datetime
    instances: list[FileTarget]
    content: str = ""
    content_type: str = "PlainText"
    target_dir: str = "/root"
    file_owner: str = "root"
    file_group: str = "root"
    file_mode: str = "0644"
    overwrite: bool = False
    description: str = ""
    resource_group_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def invocation_status(self) -> str:
        """Overall InvocationStatus, aggregated from the instances."""
        return overall_file_status(t.status for t in self.instances)


@dataclass
class EfloCommand(Command):
    """A RunCommand on Lingjun nodes (eflo-controller): ``instances`` hold node runs."""


@dataclass
class EfloFileSend(FileSend):
    """A SendFile to Lingjun nodes (eflo-controller): ``instances`` hold node targets."""


@dataclass
class AgentStatus:
    """What DescribeCloudAssistantStatus reports for one instance."""

    instance_id: str
    online: bool = True
    version: str = "2.2.3.857"
    os_type: str = "Linux"
    last_heartbeat: datetime | None = None
    last_invoked: datetime | None = None
    active_task_count: int = 0
    invocation_count: int = 0


@dataclass
class EcsInstance:
    """What DescribeInstances reports for one ECS instance (``Instances.Instance[]``)."""

    instance_id: str
    name: str = ""
    status: str = "Running"  # Pending, Running, Starting, Stopping, Stopped
    zone_id: str = "cn-hangzhou-i"
    host_name: str = ""
    os_type: str = "linux"


@dataclass
class Dataset:
    """Everything the fake knows. Mutate it between runs; hold ``lock`` for in-place edits."""

    commands: list[Command] = field(default_factory=list)
    file_sends: list[FileSend] = field(default_factory=list)
    agents: dict[str, AgentStatus] = field(default_factory=dict)
    # ECS instance tags (ListTagResources); an instance without tags is simply absent.
    instance_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    # ECS instances (DescribeInstances). Any instance the dataset otherwise names (runs, file
    # targets, agents, tags) exists and is Running, unnamed, unless set here or released.
    instances: dict[str, EcsInstance] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    eflo_commands: list[EfloCommand] = field(default_factory=list)
    eflo_file_sends: list[EfloFileSend] = field(default_factory=list)
    # Paths that exist on each instance: SendFile adds them (and refuses to overwrite one
    # without Overwrite=true), RunCommand's ``rm -f PATH`` removes them.
    instance_files: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def add(self, *records: Command | FileSend | AgentStatus) -> Dataset:
        """Add commands, file sends (ECS or eflo) or agent statuses (an agent replaces the same
        instance's)."""
        with self.lock:
            for record in records:
                # The eflo kinds first: they are subclasses of the ECS ones.
                if isinstance(record, EfloCommand):
                    self.eflo_commands.append(record)
                elif isinstance(record, EfloFileSend):
                    self.eflo_file_sends.append(record)
                elif isinstance(record, Command):
                    self.commands.append(record)
                elif isinstance(record, FileSend):
                    self.file_sends.append(record)
                else:
                    self.agents[record.instance_id] = record
        return self

    def tag(self, instance_id: str, tags: Mapping[str, str]) -> Dataset:
        """Give an ECS instance these tags (added to, or replacing the values of, its own)."""
        with self.lock:
            self.instance_tags.setdefault(instance_id, {}).update(tags)
        return self

    def instance(self, instance_id: str, *, name: str = "", status: str = "Running") -> Dataset:
        """Name an ECS instance and set its status (DescribeInstances)."""
        with self.lock:
            self.instances[instance_id] = EcsInstance(instance_id, name=name, status=status)
            self.released.discard(instance_id)
        return self

    def release(self, instance_id: str) -> Dataset:
        """Release an ECS instance: DescribeInstances no longer lists it."""
        with self.lock:
            self.released.add(instance_id)
        return self

    def ecs_instances(self) -> dict[str, EcsInstance]:
        """Every ECS instance that exists now, by id (released ones absent)."""
        with self.lock:
            named = {run.instance_id for c in self.commands for run in c.instances}
            named |= {t.instance_id for f in self.file_sends for t in f.instances}
            named |= set(self.agents) | set(self.instance_tags)
            found = {i: EcsInstance(i) for i in sorted(named) if i.startswith("i-")}
            found.update(self.instances)
            return {i: found[i] for i in sorted(found) if i not in self.released}

    def remove(self, invoke_id: str) -> None:
        """Forget an invocation, as Cloud Assistant does when its history expires."""
        with self.lock:
            self.commands = [c for c in self.commands if c.invoke_id != invoke_id]
            self.file_sends = [f for f in self.file_sends if f.invoke_id != invoke_id]
            self.eflo_commands = [c for c in self.eflo_commands if c.invoke_id != invoke_id]
            self.eflo_file_sends = [f for f in self.eflo_file_sends if f.invoke_id != invoke_id]

    def command(self, invoke_id: str) -> Command:
        """The command with this invoke id (KeyError if none)."""
        with self.lock:
            for c in self.commands:
                if c.invoke_id == invoke_id:
                    return c
        raise KeyError(invoke_id)

    def file_send(self, invoke_id: str) -> FileSend:
        """The file send with this invoke id (KeyError if none)."""
        with self.lock:
            for f in self.file_sends:
                if f.invoke_id == invoke_id:
                    return f
        raise KeyError(invoke_id)


# --- builders ---------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("use timezone-aware datetimes (UTC)")
    return value.astimezone(timezone.utc).replace(microsecond=0)


def _cut(output: str, dropped: int) -> tuple[str, int]:
    data = output.encode("utf-8")
    if len(data) <= MAX_OUTPUT:
        return output, dropped
    return data[:MAX_OUTPUT].decode("utf-8", "ignore"), dropped + len(data) - MAX_OUTPUT


def _default_exit(status: str, exit_code: int | None) -> int | None:
    if exit_code is not None:
        return exit_code
    return {"Success": 0, "Failed": 1}.get(status)


def execution(
    status: str = "Success",
    *,
    error_code: str = "",
    error_info: str | None = None,
    exit_code: int | None = None,
    output: str = "",
    started: datetime | None = None,
    finished: datetime | None = None,
    repeats: int = 1,
) -> Execution:
    """An earlier execution of a periodic task (for ``run(..., history=[...])``)."""
    if status not in COMMAND_STATUSES:
        raise ValueError(f"unknown command status {status!r}")
    text, dropped = _cut(output, 0)
    return Execution(
        status=status,
        error_code=error_code,
        error_info=COMMAND_ERROR_INFO.get(error_code, "") if error_info is None else error_info,
        exit_code=_default_exit(status, exit_code),
        output=text,
        dropped=dropped,
        start_time=_utc(started),
        finish_time=_utc(finished),
        repeats=repeats,
    )


def run(
    instance: str,
    status: str = "Success",
    *,
    error_code: str = "",
    error_info: str | None = None,
    exit_code: int | None = None,
    output: str = "",
    started: datetime | None = None,
    finished: datetime | None = None,
    stopped: datetime | None = None,
    repeats: int | None = None,
    history: Sequence[Execution] = (),
) -> InstanceRun:
    """A command on one instance. ``instance`` is an id (``i-…``, ``e01-…``) or a story name.

    Times left out are filled by :func:`command` from its creation time; ErrorInfo defaults
    to the API's text for ``error_code``; ExitCode defaults to 0 for Success, 1 for Failed.
    """
    latest = execution(
        status,
        error_code=error_code,
        error_info=error_info,
        exit_code=exit_code,
        output=output,
        started=started,
        finished=finished,
    )
    iid = instance if instance.startswith(("i-", "e01-", "mi-")) else instance_id(instance)
    fields = {name: getattr(latest, name) for name in Execution.__dataclass_fields__}
    fields["stop_time"] = _utc(stopped)
    # repeats=None: command() counts the executions (history + latest).
    fields["repeats"] = -1 if repeats is None else repeats
    return InstanceRun(**fields, instance_id=iid, history=list(history))


def _fill_times(r: InstanceRun, created: datetime) -> None:
    r.creation_time = r.creation_time or created
    if r.status in ("Pending", "Scheduled"):
        return  # not started yet
    if r.status in ("Invalid", "Aborted", "Cancelled"):
        # Never started on the instance: it ended without a StartTime.
        r.finish_time = r.finish_time or created + timedelta(seconds=1)
        r.update_time = r.update_time or r.finish_time
        if r.status == "Cancelled":
            r.stop_time = r.stop_time or r.finish_time
        return
    r.start_time = r.start_time or created + timedelta(seconds=1)
    if r.status in _TERMINAL and r.finish_time is None:
        r.finish_time = r.start_time + timedelta(seconds=2)
    r.update_time = r.update_time or r.finish_time or r.start_time
    if r.status in _STOPPED and r.stop_time is None:
        r.stop_time = r.finish_time


def command(
    *,
    created: datetime,
    instances: Sequence[InstanceRun],
    name: str = "deploy.sh",
    invoke: str | None = None,
    content: str = "#!/bin/bash\necho hello\n",
    command_type: str = "RunShellScript",
    repeat_mode: str = "Once",
    frequency: str = "",
    timeout: int = 60,
    username: str = "root",
    working_dir: str = "/root",
    parameters: str = "{}",
    description: str = "",
    resource_group_id: str = "",
    tags: dict[str, str] | None = None,
    stopped: bool = False,
    cmd_id: str | None = None,
) -> Command:
    """A command invocation. ``invoke`` is an invoke id (``t-…``) or a story name."""
    when = _utc(created)
    assert when is not None
    if repeat_mode not in ("Once", "Period", "NextRebootOnly", "EveryReboot"):
        raise ValueError(f"unknown repeat mode {repeat_mode!r}")
    runs = list(instances)
    for r in runs:
        _fill_times(r, when)
        for n, earlier in enumerate(r.history, 1):
            earlier.repeats = n
        if r.repeats < 0:
            r.repeats = len(r.history) + (1 if r.start_time is not None else 0)
    key = invoke or f"{name}@{when.isoformat()}"
    return Command(
        invoke_id=key if key.startswith("t-") else invoke_id(key),
        command_id=cmd_id or command_id(name),
        command_name=name,
        creation_time=when,
        instances=runs,
        command_type=command_type,
        command_content=content,
        command_description=description,
        repeat_mode=repeat_mode,
        frequency=frequency,
        timeout=timeout,
        username=username,
        working_dir=working_dir,
        parameters=parameters,
        resource_group_id=resource_group_id,
        tags=dict(tags or {}),
        stopped=stopped,
    )


def target(
    instance: str,
    status: str = "Success",
    *,
    error_code: str = "",
    error_info: str | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
) -> FileTarget:
    """A file send on one instance; ErrorInfo defaults to the API's text for the code."""
    if status not in FILE_STATUSES:
        raise ValueError(f"unknown file-send status {status!r}")
    iid = instance if instance.startswith(("i-", "e01-", "mi-")) else instance_id(instance)
    return FileTarget(
        instance_id=iid,
        status=status,
        error_code=error_code,
        error_info=FILE_ERROR_INFO.get(error_code, "") if error_info is None else error_info,
        start_time=_utc(started),
        finish_time=_utc(finished),
    )


def file_send(
    *,
    created: datetime,
    targets: Sequence[FileTarget],
    name: str = "app.conf",
    invoke: str | None = None,
    content: str = "key=value\n",
    target_dir: str = "/etc/app",
    overwrite: bool = False,
    file_owner: str = "root",
    file_group: str = "root",
    file_mode: str = "0644",
    description: str = "",
    resource_group_id: str = "",
    tags: dict[str, str] | None = None,
) -> FileSend:
    """A file send. ``invoke`` is an invoke id (``f-…``) or a story name."""
    when = _utc(created)
    assert when is not None
    items = list(targets)
    for t in items:
        t.creation_time = t.creation_time or when
        if t.status not in ("Pending", "Invalid"):
            t.start_time = t.start_time or when + timedelta(seconds=1)
        if t.status not in ("Pending", "Running") and t.finish_time is None:
            t.finish_time = (t.start_time or when) + timedelta(seconds=1)
        t.update_time = t.update_time or t.finish_time or t.start_time or when
    key = invoke or f"{name}@{when.isoformat()}"
    return FileSend(
        invoke_id=key if key.startswith("f-") else file_invoke_id(key),
        name=name,
        creation_time=when,
        instances=items,
        content=content,
        target_dir=target_dir,
        overwrite=overwrite,
        file_owner=file_owner,
        file_group=file_group,
        file_mode=file_mode,
        description=description,
        resource_group_id=resource_group_id,
        tags=dict(tags or {}),
    )


def _check_nodes(ids: Iterable[str]) -> None:
    wrong = [i for i in ids if not i.startswith("e01-")]
    if wrong:
        raise ValueError(f"not Lingjun node ids: {wrong} (use run(node_id('name'), ...))")


def eflo_command(
    *,
    created: datetime,
    nodes: Sequence[InstanceRun],
    name: str = "train.sh",
    invoke: str | None = None,
    content: str = "#!/bin/bash\necho hello\n",
    command_type: str = "RunShellScript",
    repeat_mode: str = "Once",
    frequency: str = "",
    timeout: int = 60,
    username: str = "root",
    working_dir: str = "/root",
    parameters: str = "{}",
    description: str = "",
) -> EfloCommand:
    """A RunCommand on Lingjun nodes: ``nodes`` are :func:`run` results on node ids
    (``run(node_id("gpu-1"), "Failed", ...)``); ``invoke`` is an invoke id (``t-…``) or a
    story name."""
    _check_nodes(r.instance_id for r in nodes)
    built = command(
        created=created,
        instances=nodes,
        name=name,
        invoke="t-placeholder",
        content=content,
        command_type=command_type,
        repeat_mode=repeat_mode,
        frequency=frequency,
        timeout=timeout,
        username=username,
        working_dir=working_dir,
        parameters=parameters,
        description=description,
    )
    key = invoke or f"{name}@{built.creation_time.isoformat()}"
    fields = {**built.__dict__, "invoke_id": key if key.startswith("t-") else eflo_invoke_id(key)}
    return EfloCommand(**fields)


def eflo_file_send(
    *,
    created: datetime,
    nodes: Sequence[FileTarget],
    name: str = "app.conf",
    invoke: str | None = None,
    content: str = "key=value\n",
    target_dir: str = "/etc/app",
    overwrite: bool = False,
    file_owner: str = "root",
    file_group: str = "root",
    file_mode: str = "0644",
    description: str = "",
) -> EfloFileSend:
    """A SendFile to Lingjun nodes: ``nodes`` are :func:`target` results on node ids;
    ``invoke`` is an invoke id (``t-…``, as seed 002 shows for files too) or a story name."""
    _check_nodes(t.instance_id for t in nodes)
    built = file_send(
        created=created,
        targets=nodes,
        name=name,
        invoke="f-placeholder",
        content=content,
        target_dir=target_dir,
        overwrite=overwrite,
        file_owner=file_owner,
        file_group=file_group,
        file_mode=file_mode,
        description=description,
    )
    key = invoke or f"{name}@{built.creation_time.isoformat()}"
    fields = {**built.__dict__, "invoke_id": key if key.startswith("t-") else eflo_invoke_id(key)}
    return EfloFileSend(**fields)


def agent(
    instance: str,
    *,
    online: bool = True,
    last_heartbeat: datetime | None = None,
    version: str = "2.2.3.857",
    os_type: str = "Linux",
) -> AgentStatus:
    """An agent status for DescribeCloudAssistantStatus."""
    iid = instance if instance.startswith(("i-", "mi-")) else instance_id(instance)
    return AgentStatus(
        instance_id=iid,
        online=online,
        version=version,
        os_type=os_type,
        last_heartbeat=_utc(last_heartbeat),
    )
