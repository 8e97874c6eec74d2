"""`make smoke` against the loopback cloud: the steps a person with an account would see.

The real thing runs on a real instance and a real group; here the ECS fake runs the same
RunCommand / SendFile calls (its instances understand echo, rm -f and exit) and a fake
DingTalk robot receives the alerts.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

from scripts.smoke import main
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import agent, instance_id
from tests.fakes.dingtalk import DingTalkFake

TOKEN = "smoke0robot0token000000000000000000000000000000000000000000000000"
SECRET = "SECsmoke000000000000000000000000000000000000000000000000000000000"
INSTANCE = instance_id("smoke-host")


def _environ(cloud_url: str, robot_url: str) -> dict[str, str]:
    return {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        "ASSISTWATCH_ECS_ENDPOINT": cloud_url,
        "ASSISTWATCH_DINGTALK_URL": robot_url,
        "ASSISTWATCH_DINGTALK_SECRET": SECRET,
    }


def test_the_smoke_test_fails_a_command_and_a_file_send_and_sees_both_told():
    """GIVEN an instance with its agent running and a DingTalk robot WHEN make smoke
    THEN the file send fails with FileAlreadyExists, the command with exit 3, the robot
    receives both alerts, every step shows its timing, and no file is left behind."""
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        cloud.dataset.add(agent(INSTANCE, online=True, last_heartbeat=datetime.now(timezone.utc)))
        environ = _environ(cloud.url, dingtalk.add_robot(TOKEN, secret=SECRET))
        out = io.StringIO()

        status = main(["--region", "cn-hangzhou", "--instance", INSTANCE], environ, out)

        texts = [body["markdown"]["text"] for body in dingtalk.received(TOKEN)]
        left = cloud.dataset.instance_files.get(INSTANCE)
        actions = [action for action, _ in cloud.calls]
    report = out.getvalue()
    assert status == 0, report
    assert "FileAlreadyExists" in "\n".join(texts)
    assert "ExitCodeNonzero" in "\n".join(texts)
    for step in ("agent running", "SendFile again, no overwrite", "RunCommand failing on purpose"):
        assert any(
            line.startswith("ok ") and step in line and "s  " in line
            for line in report.splitlines()
        )
    assert "smoke test passed in" in report
    assert left == set()
    assert actions.count("RunCommand") == 1  # the failing command cleaned up; no extra one
    assert SECRET not in report
    assert DEMO_ACCESS_KEY_SECRET not in report


def test_an_instance_without_a_running_agent_stops_the_smoke_test_before_it_changes_anything():
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        cloud.dataset.add(agent(INSTANCE, online=False))
        environ = _environ(cloud.url, dingtalk.add_robot(TOKEN, secret=SECRET))
        out = io.StringIO()

        status = main(["--region", "cn-hangzhou", "--instance", INSTANCE], environ, out)

        actions = [action for action, _ in cloud.calls]
    assert status == 1
    assert f"FAIL  the Cloud Assistant agent is not running on {INSTANCE}" in out.getvalue()
    assert "SendFile" not in actions
    assert "RunCommand" not in actions


def test_a_smoke_test_that_stops_after_creating_the_file_removes_it():
    """GIVEN a robot that refuses every message (so the last step never succeeds) and a
    short patience WHEN make smoke THEN it fails naming the step, and the file it created
    was removed by the failing command it ran before."""
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        cloud.dataset.add(agent(INSTANCE, online=True, last_heartbeat=datetime.now(timezone.utc)))
        environ = _environ(cloud.url, dingtalk.url_for("not-a-robot"))
        out = io.StringIO()

        status = main(
            ["--region", "cn-hangzhou", "--instance", INSTANCE, "--patience", "0"], environ, out
        )

        left = cloud.dataset.instance_files.get(INSTANCE)
    assert status == 1
    assert "FAIL" in out.getvalue()
    assert left == set()


def test_without_credentials_the_smoke_test_says_what_to_set():
    out = io.StringIO()

    assert main(["--region", "cn-hangzhou", "--instance", INSTANCE], {}, out) == 1
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in out.getvalue()
