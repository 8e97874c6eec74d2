"""Error-code catalogue: what each Cloud Assistant ErrorCode means and what to do about it.

Every ErrorCode listed by the API references in ``shared/seeds`` (DescribeInvocations,
DescribeSendFileResults for ECS and eflo) is here, in Chinese and English, with a hint;
``tests/test_catalogue.py`` re-reads the references to keep it that way. Besides those:
``ClientNetworkBlocked`` (from Cloud Assistant's troubleshooting guide), synthetic
``Status.<status>`` entries for a failure without an ErrorCode, and a graceful entry for a
code nobody has seen yet, which shows the raw code and ErrorInfo.

Categories: agent | instance | command | file | timeout | cancelled | unknown.
Severity: critical = the work did not happen and a person must act; warning = it did not
happen but the cause is likely transient or expected (instance gone, agent upgrading);
info = someone stopped it on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CATALOGUE",
    "EXIT_CODE_NONZERO",
    "Classification",
    "Kind",
    "Severity",
    "classify",
    "known_codes",
]

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


EXIT_CODE_NONZERO = "ExitCodeNonzero"
_ERROR_INFO_LIMIT = 300  # ErrorInfo is free text from the API: keep messages short


def _c(code: str, category: str, severity: Severity, *texts: str) -> Classification:
    """Build an entry; texts are explanation_zh, explanation_en, hint_zh, hint_en."""
    explanation_zh, explanation_en, hint_zh, hint_en = texts
    return Classification(
        code=code,
        category=category,
        severity=severity,
        explanation_zh=explanation_zh,
        explanation_en=explanation_en,
        hint_zh=hint_zh,
        hint_en=hint_en,
    )


_AGENT_LOG_ZH = "Agent 日志（Linux：/usr/local/share/aliyun-assist/<版本>/log/）"
_AGENT_LOG_EN = "the agent log (Linux: /usr/local/share/aliyun-assist/<version>/log/)"

# Codes whose meaning does not depend on whether a command or a file was sent.
_SHARED = [
    _c(
        "InstanceNotExists",
        "instance",
        "warning",
        "指定的实例不存在或已释放。",
        "The instance does not exist or has been released.",
        "确认实例 ID 与地域；已释放的实例请从任务目标中移除。",
        "Check the instance id and region; drop released instances from the task's targets.",
    ),
    _c(
        "InstanceReleased",
        "instance",
        "warning",
        "任务执行期间，该实例被释放。",
        "The instance was released while the task was running.",
        "如非预期，检查是谁释放了实例（操作审计 ActionTrail）。",
        "If unexpected, find out who released it (ActionTrail).",
    ),
    _c(
        "InstanceNotRunning",
        "instance",
        "warning",
        "创建任务时，该实例不在运行中。",
        "The instance was not running when the task was created.",
        "启动实例后重新执行任务。",
        "Start the instance and run the task again.",
    ),
    _c(
        "NodeNotExists",
        "instance",
        "warning",
        "指定的灵骏节点不存在或已释放。",
        "The Lingjun node does not exist or has been released.",
        "确认节点 ID 与地域；已释放的节点请从任务目标中移除。",
        "Check the node id and region; drop released nodes from the task's targets.",
    ),
    _c(
        "NodeReleased",
        "instance",
        "warning",
        "任务执行期间，该灵骏节点被释放。",
        "The Lingjun node was released while the task was running.",
        "如非预期，检查是谁释放了节点（操作审计 ActionTrail）。",
        "If unexpected, find out who released it (ActionTrail).",
    ),
    _c(
        "NodeNotRunning",
        "instance",
        "warning",
        "创建任务时，该灵骏节点不在运行中。",
        "The Lingjun node was not running when the task was created.",
        "确认节点状态正常后重新执行任务。",
        "Make sure the node is running and run the task again.",
    ),
    _c(
        "ClientNotRunning",
        "agent",
        "critical",
        "云助手 Agent 未运行（已停止或未安装）。",
        "The Cloud Assistant agent is not running (stopped or not installed).",
        "启动 Agent：Linux 执行 systemctl start aliyun.service，Windows 在服务管理器中启动"
        " AliyunService；无法启动时重新安装 Agent。",
        "Start the agent: `systemctl start aliyun.service` on Linux, the AliyunService service"
        " on Windows; reinstall it if it will not start.",
    ),
    _c(
        "ClientNotResponse",
        "agent",
        "critical",
        "云助手 Agent 无响应。",
        "The Cloud Assistant agent does not respond.",
        f"查看{_AGENT_LOG_ZH}中是否有该任务 ID；没有则重启 Agent（systemctl restart aliyun.service）"
        "后重试。",
        f"Look for the task id in {_AGENT_LOG_EN}; if it is absent, restart the agent"
        " (`systemctl restart aliyun.service`) and retry.",
    ),
    _c(
        "ClientIsUpgrading",
        "agent",
        "warning",
        "云助手 Agent 正在升级中。",
        "The Cloud Assistant agent was upgrading.",
        "稍后重新执行任务。",
        "Run the task again in a few minutes.",
    ),
    _c(
        "ClientNeedUpgrade",
        "agent",
        "critical",
        "云助手 Agent 版本过低，需要升级才能支持该特性。",
        "The Cloud Assistant agent is too old for this feature and must be upgraded.",
        "升级云助手 Agent 到最新版本后重试。",
        "Upgrade the Cloud Assistant agent to the latest version and retry.",
    ),
    _c(
        "ClientNetworkBlocked",
        "agent",
        "critical",
        "实例网络环境异常，云助手 Agent 无法连接服务端。",
        "The instance's network is broken: the agent cannot reach the Cloud Assistant service.",
        "在实例内执行 curl https://{region-id}.axt.aliyun.com/luban/api/connection_detect；"
        "检查安全组、防火墙、DNS 与路由，放行出方向 TCP 443、TCP 80、UDP 53。",
        "Run `curl https://{region-id}.axt.aliyun.com/luban/api/connection_detect` on the"
        " instance; check security groups, firewall, DNS and routes; allow outbound TCP 443,"
        " TCP 80 and UDP 53.",
    ),
    _c(
        "SecurityGroupRuleDenied",
        "agent",
        "critical",
        "安全组规则拒绝访问云助手服务。",
        "A security group rule denies access to the Cloud Assistant service.",
        "在安全组中放行出方向 TCP 443、TCP 80、UDP 53（访问 {region-id}.axt.aliyun.com"
        " 与 100.100.100.200）。",
        "Allow outbound TCP 443, TCP 80 and UDP 53 in the security group (to"
        " {region-id}.axt.aliyun.com and 100.100.100.200).",
    ),
    _c(
        "AccountNotExists",
        "command",
        "critical",
        "指定的用户名在实例中不存在。",
        "The specified user does not exist on the instance.",
        "在实例中创建该用户，或修改任务的用户名。",
        "Create the user on the instance or change the task's user.",
    ),
]

_COMMAND_ONLY = [
    _c(
        "DeliveryTimeout",
        "timeout",
        "warning",
        "向实例发送命令超时。",
        "Sending the command to the instance timed out.",
        "重新执行命令；持续出现时检查 Agent 与网络，或提交工单。",
        "Run the command again; if it keeps happening, check the agent and network or open a"
        " ticket.",
    ),
    _c(
        "ExecutionTimeout",
        "timeout",
        "critical",
        "命令执行超时，进程已被终止。",
        "The command ran past its timeout and was killed.",
        "检查脚本为何变慢或卡住（查看输出），必要时调大命令的 Timeout。",
        "Find out why the script was slow or stuck (see the output); raise the command's"
        " Timeout if it legitimately needs longer.",
    ),
    _c(
        "ExecutionException",
        "command",
        "critical",
        "命令执行时发生异常，无法继续。",
        "The command hit an exception and could not continue.",
        f"查看{_AGENT_LOG_ZH}；确认解释器（bash/PowerShell/Launcher）在实例中可用。",
        f"Check {_AGENT_LOG_EN}; make sure the interpreter (bash, PowerShell,"
        " Launcher) exists on the instance.",
    ),
    _c(
        "ExecutionInterrupted",
        "command",
        "warning",
        "命令执行任务被中断（例如实例重启或 Agent 重启）。",
        "The command was interrupted (for example the instance or the agent restarted).",
        "确认中断原因后重新执行命令。",
        "Find out what interrupted it and run the command again.",
    ),
    _c(
        EXIT_CODE_NONZERO,
        "command",
        "critical",
        "命令执行结束，但退出码非 0。",
        "The command finished with a non-zero exit code.",
        "查看命令输出与退出码，修复脚本或实例上的问题。",
        "Read the output and exit code; fix the script or the problem on the instance.",
    ),
    _c(
        "CommandNotApplicable",
        "command",
        "critical",
        "命令类型不适用于该实例的操作系统。",
        "The command type does not fit the instance's operating system.",
        "Linux 用 RunShellScript，Windows 用 RunBatScript/RunPowerShellScript。",
        "Use RunShellScript for Linux and RunBatScript/RunPowerShellScript for Windows.",
    ),
    _c(
        "DirectoryNotExists",
        "command",
        "critical",
        "指定的执行目录不存在。",
        "The working directory does not exist on the instance.",
        "创建该目录，或修改命令的 WorkingDir。",
        "Create the directory or change the command's WorkingDir.",
    ),
    _c(
        "BadCronExpression",
        "command",
        "critical",
        "指定的执行时间（cron）表达式不合法。",
        "The schedule (cron) expression is invalid.",
        "按云助手定时执行的格式修正 Frequency。",
        "Fix the Frequency to Cloud Assistant's schedule syntax.",
    ),
]

_FILE_ONLY = [
    _c(
        "DeliveryTimeout",
        "timeout",
        "warning",
        "向实例下发文件超时。",
        "Sending the file to the instance timed out.",
        "重新下发文件；持续出现时检查 Agent 与网络，或提交工单。",
        "Send the file again; if it keeps happening, check the agent and network or open a ticket.",
    ),
    _c(
        "AccountNotExists",
        "file",
        "critical",
        "指定的文件用户（FileOwner）在实例中不存在。",
        "The file owner (FileOwner) does not exist on the instance.",
        "在实例中创建该用户，或修改 FileOwner。",
        "Create the user on the instance or change FileOwner.",
    ),
    _c(
        "FileCreateFail",
        "file",
        "critical",
        "文件在实例内创建失败（未知错误）。",
        "The file could not be created on the instance (unknown error).",
        f"检查目标目录的磁盘空间与权限；查看{_AGENT_LOG_ZH}。",
        f"Check disk space and permissions of the target directory and {_AGENT_LOG_EN}.",
    ),
    _c(
        "FileAlreadyExists",
        "file",
        "warning",
        "目标目录下已存在同名文件，且未允许覆盖。",
        "A file with the same name already exists in the target directory and Overwrite is off.",
        "确认可覆盖后以 Overwrite=true 重新下发，或换一个文件名/目录。",
        "Send again with Overwrite=true if replacing is intended, or use another name or"
        " directory.",
    ),
    _c(
        "FileContentInvalid",
        "file",
        "critical",
        "文件内容不合法（为空，或与 ContentType 不符）。",
        "The file content is invalid (empty, or not what ContentType says).",
        "检查文件内容；Base64 内容需将 ContentType 设为 Base64。",
        "Check the content; Base64 content needs ContentType=Base64.",
    ),
    _c(
        "FileNameInvalid",
        "file",
        "critical",
        "文件名不合法。",
        "The file name is invalid.",
        "使用不含路径分隔符与特殊字符的文件名。",
        "Use a name without path separators or special characters.",
    ),
    _c(
        "FilePathInvalid",
        "file",
        "critical",
        "目标路径（TargetDir）不合法。",
        "The target directory (TargetDir) is invalid.",
        "使用实例上合法的绝对路径。",
        "Use a valid absolute path on the instance.",
    ),
    _c(
        "FileAuthorityInvalid",
        "file",
        "critical",
        "文件权限（FileMode）设置不合法。",
        "The file permissions (FileMode) are invalid.",
        "使用八进制权限，例如 0644 或 0755。",
        "Use octal permissions such as 0644 or 0755.",
    ),
    _c(
        "UserGroupNotExists",
        "file",
        "critical",
        "指定的文件用户组（FileGroup）在实例中不存在。",
        "The file group (FileGroup) does not exist on the instance.",
        "在实例中创建该用户组，或修改 FileGroup。",
        "Create the group on the instance or change FileGroup.",
    ),
]


def _table(entries: list[Classification]) -> Mapping[str, Classification]:
    return MappingProxyType({entry.code: entry for entry in entries})


CATALOGUE: Mapping[Kind, Mapping[str, Classification]] = MappingProxyType(
    {
        # Kind-specific entries come last so they override the shared wording.
        "command": _table(_SHARED + _COMMAND_ONLY),
        "file": _table(_SHARED + _FILE_ONLY),
    }
)

_STATUS_TEXT: dict[str, tuple[str, Severity, str, str, str, str]] = {
    "Invalid": (
        "command",
        "critical",
        "任务参数或命令类型有误，校验失败。",
        "The task failed validation: a wrong parameter or command type.",
        "检查任务的参数、命令类型与目标实例。",
        "Check the task's parameters, command type and targets.",
    ),
    "Aborted": (
        "agent",
        "critical",
        "向实例发送任务失败（实例须在运行中，且 1 分钟内可送达）。",
        "The task could not be delivered (the instance must be running and reachable"
        " within a minute).",
        "确认实例在运行、云助手 Agent 在线后重试。",
        "Make sure the instance is running and the agent is online, then retry.",
    ),
    "Failed": (
        "command",
        "critical",
        "任务在实例上执行失败。",
        "The task failed on the instance.",
        "查看输出与 ErrorInfo。",
        "Read the output and ErrorInfo.",
    ),
    "Error": (
        "command",
        "critical",
        "任务执行时发生异常，无法继续。",
        "The task hit an exception and could not continue.",
        f"查看{_AGENT_LOG_ZH}。",
        f"Check {_AGENT_LOG_EN}.",
    ),
    "Timeout": (
        "timeout",
        "critical",
        "任务执行超时。",
        "The task timed out.",
        "检查任务为何变慢，必要时调大超时时间。",
        "Find out why it was slow; raise the timeout if it legitimately needs longer.",
    ),
    "Cancelled": (
        "cancelled",
        "info",
        "任务已取消，未曾启动。",
        "The task was cancelled before it started.",
        "如非有意取消，重新执行任务。",
        "If nobody meant to cancel it, run it again.",
    ),
    "Terminated": (
        "cancelled",
        "info",
        "任务运行时被终止。",
        "The task was terminated while it ran.",
        "如非有意终止，重新执行任务。",
        "If nobody meant to stop it, run it again.",
    ),
}

_BY_STATUS: Mapping[str, Classification] = MappingProxyType(
    {status: _c(f"Status.{status}", *text) for status, text in _STATUS_TEXT.items()}
)


def known_codes(kind: Kind) -> frozenset[str]:
    """The ErrorCodes the catalogue explains for ``kind``."""
    return frozenset(CATALOGUE[kind])


def classify(
    *,
    status: str,
    error_code: str | None,
    exit_code: int | None,
    kind: Kind,
    error_info: str | None = None,
) -> Classification:
    """Explain one failed execution.

    The ErrorCode wins when there is one (a code the catalogue does not know gives an
    ``unknown`` entry naming the raw code and ErrorInfo). Without one: a ``Failed`` command
    with a non-zero exit code is ``ExitCodeNonzero``, anything else is explained by its
    status (``Status.Timeout`` …).
    """
    code = (error_code or "").strip()
    if code:
        known = CATALOGUE[kind].get(code) or _other_kind(kind).get(code)
        return known if known is not None else _unknown_code(code, error_info)
    if kind == "command" and exit_code not in (None, 0) and status in ("Failed", ""):
        return CATALOGUE["command"][EXIT_CODE_NONZERO]
    by_status = _BY_STATUS.get(status)
    return by_status if by_status is not None else _unknown_status(status, error_info)


def _other_kind(kind: Kind) -> Mapping[str, Classification]:
    # A command code on a file send (or the reverse) still has a better text than "unknown".
    return CATALOGUE["file" if kind == "command" else "command"]


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    if len(text) > _ERROR_INFO_LIMIT:
        text = text[: _ERROR_INFO_LIMIT - 1] + "…"
    return text


def _unknown_code(code: str, error_info: str | None) -> Classification:
    info = _short(error_info)
    return _c(
        code,
        "unknown",
        "warning",
        f"未收录的错误码 {code}" + (f"：{info}" if info else "。"),
        f"Unrecognised error code {code}" + (f": {info}" if info else "."),
        "按错误码与 ErrorInfo 查阅云助手文档；请告知 assistwatch 维护者收录此错误码。",
        "Look the code and ErrorInfo up in the Cloud Assistant docs; ask the assistwatch"
        " maintainers to add it.",
    )


def _unknown_status(status: str, error_info: str | None) -> Classification:
    info = _short(error_info)
    shown = status or "(empty)"
    return _c(
        "Unknown",
        "unknown",
        "warning",
        f"任务以未知状态 {shown} 结束" + (f"：{info}" if info else "。"),
        f"The task ended with an unrecognised status {shown}" + (f": {info}" if info else "."),
        "在云助手控制台查看该任务的执行结果。",
        "Look the execution up in the Cloud Assistant console.",
    )
