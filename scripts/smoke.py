"""``make smoke``: prove the whole path on the real cloud in five minutes (never run by CI).

Given credentials (``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_SECRET``), a region, one Linux
instance with the Cloud Assistant agent and the receivers configured as for ``assistwatch
check`` (``ASSISTWATCH_DINGTALK_URL`` …), it:

1. checks the agent is running on the instance (DescribeCloudAssistantStatus);
2. sends a small file to ``/tmp`` (SendFile), then the same file again without overwrite,
   which fails with ``FileAlreadyExists``;
3. runs a harmless failing command (RunCommand, ``KeepCommand=false``): it echoes, removes
   the file of step 2 and exits 3 (``ExitCodeNonzero``);
4. runs the handler locally against the real APIs (a ``watch`` of both invoke ids, the path
   FC takes), with throw-away state unless ``--state-url`` is given, until both alerts were
   sent to the configured receivers;
5. prints each step's timing, and cleans up: the file is removed by step 3 (or, if the run
   stopped before it, by a clean-up command); no command is kept, so nothing is left to
   DeleteCommand; the throw-away state directory is deleted.

Everything goes through the project's own signed client (lib/cloud/aliyun/client.py); parameter
names are from alibabacloud_ecs20140526's RunCommandRequest / SendFileRequest.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

__all__ = ["Smoke", "main"]

ECS_VERSION = "2014-05-26"
TERMINAL = {
    "Success",
    "Failed",
    "Timeout",
    "Invalid",
    "Aborted",
    "Error",
    "Cancelled",
    "Terminated",
}
EXIT_CODE = 3


class SmokeFailed(Exception):
    """A step did not go as planned: the message says which and why."""


@dataclass
class Smoke:
    """The smoke test's steps over an injected client and clocks (tests pass fakes)."""

    client: Any  # lib.cloud.aliyun.client.OpenApiClient for the region's ECS endpoint
    region: str
    instance: str
    environ: Mapping[str, str]
    out: TextIO
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    every: float = 3.0
    patience: float = 180.0
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/tmp/assistwatch-smoke-{self.tag}.txt"

    def step(self, name: str, action: Callable[[], str]) -> None:
        started = self.clock()
        self.out.write(f"… {name}\n")
        self.out.flush()
        detail = action()
        took = self.clock() - started
        self.timings.append((name, took))
        self.out.write(f"ok  {took:6.1f}s  {name}: {detail}\n")
        self.out.flush()

    def run(self) -> int:
        file_created = False
        try:
            self.step("agent running", self.agent_running)
            self.step("SendFile (creates the file)", self.send_first)
            file_created = True
            self.step("SendFile again, no overwrite", self.send_again)
            self.step("RunCommand failing on purpose", self.run_failing)
            file_created = False  # the command removed it
            self.step("assistwatch tells both", self.watch_both)
        except SmokeFailed as error:
            self.out.write(f"FAIL  {error}\n")
            return 1
        finally:
            if file_created:
                self.clean_up()
        total = sum(took for _, took in self.timings)
        self.out.write(
            f"smoke test passed in {total:.1f}s (the group shows 2 alerts naming assistwatch-smoke-{self.tag})\n"
        )
        return 0

    # --- the steps ---------------------------------------------------------------------

    def agent_running(self) -> str:
        answer = self.client.call(
            "DescribeCloudAssistantStatus", {"RegionId": self.region, "InstanceId": [self.instance]}
        )
        statuses = answer.get("InstanceCloudAssistantStatusSet", {}).get(
            "InstanceCloudAssistantStatus", []
        )
        if not statuses or str(statuses[0].get("CloudAssistantStatus")).lower() != "true":
            raise SmokeFailed(f"the Cloud Assistant agent is not running on {self.instance}")
        return f"{self.instance} agent {statuses[0].get('CloudAssistantVersion', '?')}"

    def _send(self, overwrite: bool) -> tuple[str, dict[str, Any]]:
        answer = self.client.call(
            "SendFile",
            {
                "RegionId": self.region,
                "InstanceId": [self.instance],
                "Name": os.path.basename(self.path),
                "TargetDir": os.path.dirname(self.path),
                "Content": "assistwatch smoke test: safe to delete\n",
                "ContentType": "PlainText",
                "Overwrite": "true" if overwrite else "false",
                "Description": "assistwatch smoke test",
                "Timeout": 60,
            },
        )
        invoke = str(answer["InvokeId"])
        return invoke, self._wait("DescribeSendFileResults", invoke)

    def send_first(self) -> str:
        invoke, record = self._send(overwrite=False)
        if record.get("InvocationStatus") != "Success":
            raise SmokeFailed(
                f"SendFile {invoke} to {self.path}: {record.get('InvocationStatus')} {record.get('ErrorCode', '')}"
            )
        self.file_invoke_ok = invoke
        return f"{invoke} wrote {self.path}"

    def send_again(self) -> str:
        invoke, record = self._send(overwrite=False)
        if record.get("ErrorCode") != "FileAlreadyExists":
            raise SmokeFailed(
                f"SendFile {invoke}: expected FileAlreadyExists, got {record.get('InvocationStatus')} {record.get('ErrorCode', '')}"
            )
        self.file_invoke = invoke
        return f"{invoke} Failed FileAlreadyExists, as planned"

    def run_failing(self) -> str:
        script = f"echo assistwatch smoke test: this failure is on purpose\nrm -f {self.path}\nexit {EXIT_CODE}\n"
        answer = self.client.call(
            "RunCommand",
            {
                "RegionId": self.region,
                "InstanceId": [self.instance],
                "Type": "RunShellScript",
                "CommandContent": script,
                "ContentEncoding": "PlainText",
                "Name": f"assistwatch-smoke-{self.tag}",
                "Description": "assistwatch smoke test: fails on purpose",
                "KeepCommand": "false",
                "Timeout": 60,
            },
        )
        invoke = str(answer["InvokeId"])
        record = self._wait("DescribeInvocations", invoke)
        if record.get("ExitCode") != EXIT_CODE:
            raise SmokeFailed(
                f"RunCommand {invoke}: expected exit {EXIT_CODE}, got {record.get('InvocationStatus')} exit {record.get('ExitCode')} {record.get('ErrorCode', '')}"
            )
        self.command_invoke = invoke
        return f"{invoke} Failed ExitCodeNonzero (exit {EXIT_CODE}), as planned; file removed"

    def watch_both(self) -> str:
        from lib.edges.cli.common import LocalContext
        from lib.edges.entry import handle, reset

        told: dict[str, int] = {}
        deadline = self.clock() + self.patience
        wanted = {"command": self.command_invoke, "file": self.file_invoke}
        while True:
            for kind, invoke in wanted.items():
                if told.get(kind):
                    continue
                event = {
                    "action": "watch",
                    "provider": "ecs",
                    "region": self.region,
                    "invokeIds": [invoke],
                    "kind": kind,
                }
                reset()
                answer = handle(
                    json.dumps(event).encode(),
                    LocalContext(region=self.region),
                    environ=self.environ,
                    stream=io.StringIO(),
                )
                report = json.loads(answer if isinstance(answer, str) else answer["body"])
                if report.get("errors"):
                    raise SmokeFailed(f"assistwatch ({kind}): {report['errors'][0]}")
                told[kind] = int(report.get("alerts_sent", 0))
            if all(told.get(kind) for kind in wanted):
                return f"{sum(told.values())} alerts sent (command {self.command_invoke}, file {self.file_invoke})"
            if self.clock() > deadline:
                raise SmokeFailed(f"no alert sent within {self.patience:.0f}s: {told}")
            self.sleep(self.every)

    def clean_up(self) -> None:
        """Remove the file of step 2 when the failing command did not (no command kept)."""
        try:
            self.client.call(
                "RunCommand",
                {
                    "RegionId": self.region,
                    "InstanceId": [self.instance],
                    "Type": "RunShellScript",
                    "CommandContent": f"rm -f {self.path}\nexit 0\n",
                    "ContentEncoding": "PlainText",
                    "Name": f"assistwatch-smoke-cleanup-{self.tag}",
                    "KeepCommand": "false",
                },
            )
            self.out.write(f"cleaned up {self.path}\n")
        except Exception as error:  # told, not a traceback
            self.out.write(
                f"could not remove {self.path} ({type(error).__name__}): remove it by hand\n"
            )

    def _wait(self, action: str, invoke: str) -> dict[str, Any]:
        """The instance's record of ``invoke`` once it is terminal (polled, bounded)."""
        deadline = self.clock() + self.patience
        while True:
            answer = self.client.call(action, {"RegionId": self.region, "InvokeId": invoke})
            invocations = answer.get("Invocations", {}).get("Invocation", [])
            instances = (
                invocations[0].get("InvokeInstances", {}).get("InvokeInstance", [])
                if invocations
                else []
            )
            record = next((r for r in instances if r.get("InstanceId") == self.instance), None)
            if record is not None and record.get("InvocationStatus") in TERMINAL:
                return dict(record)
            if self.clock() > deadline:
                raise SmokeFailed(f"{invoke} did not finish within {self.patience:.0f}s")
            self.sleep(self.every)


def main(
    argv: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    transport: Any = None,
) -> int:
    """Parse the flags, build the signed client, run the smoke test; 0 when it passed."""
    import httpx

    from lib.cloud.aliyun.client import OpenApiClient
    from lib.cloud.aliyun.endpoints import endpoint_for
    from lib.support.credentials import credentials_from_env

    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", required=True)
    parser.add_argument(
        "--instance", required=True, help="a Linux ECS instance id with the agent running"
    )
    parser.add_argument("--state-url", help="default: a throw-away directory (deleted at the end)")
    parser.add_argument(
        "--patience", type=float, default=180.0, help="seconds to wait for each step"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    stream = out or sys.stdout
    credentials = credentials_from_env(env)
    if credentials is None:
        stream.write("FAIL  set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET\n")
        return 1
    scratch = None
    if not args.state_url:
        scratch = tempfile.mkdtemp(prefix="assistwatch-smoke-")
        env["ASSISTWATCH_STATE_URL"] = f"file://{scratch}"
    else:
        env["ASSISTWATCH_STATE_URL"] = args.state_url
    env.setdefault("ASSISTWATCH_REGIONS", args.region)
    endpoint = env.get("ASSISTWATCH_ECS_ENDPOINT") or endpoint_for("ecs", args.region)
    try:
        with httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0)) as http:
            client = OpenApiClient(http, endpoint, ECS_VERSION, credentials)
            smoke = Smoke(client, args.region, args.instance, env, stream, patience=args.patience)
            return smoke.run()
    except Exception as error:  # one line, never a traceback
        stream.write(f"FAIL  {type(error).__name__}: {error}\n")
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
