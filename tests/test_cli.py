"""The assistwatch command line: what an operator sees at a terminal or in a script."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from lib.edges.cli import COMMANDS, build_parser, main
from lib.edges.cli.check import checks, report
from lib.edges.cli.replay import replay
from lib.edges.cli.send_test import send_test
from lib.edges.entry import reset
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dingtalk import DingTalkFake

EVENTS = Path(__file__).parent / "events"
TOKEN = "cli0robot0token00000000000000000000000000000000000000000000000000"
ROBOT_SECRET = "SECcli0000000000000000000000000000000000000000000000000000000000"


@pytest.fixture(autouse=True)
def _fresh_entry():
    reset()
    yield
    reset()


@pytest.fixture
def failed_answer(tmp_path: Path) -> Path:
    """The reference DescribeInvocations answer with its one execution turned Failed."""
    answer = json.loads((EVENTS / "ecs_describe_invocations.json").read_text(encoding="utf-8"))
    invocation = answer["Invocations"]["Invocation"][0]
    instance = invocation["InvokeInstances"]["InvokeInstance"][0]
    instance.update(InvocationStatus="Failed", ExitCode=1, ErrorCode="", ErrorInfo="")
    invocation["InvocationStatus"] = "Failed"
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer), encoding="utf-8")
    return path


def _configure_poll(monkeypatch, endpoint: str, tmp_path: Path) -> None:
    """A local poll of cn-hangzhou against the fake, alerts to the console."""
    for name, value in {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": endpoint,
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
        "ASSISTWATCH_CONSOLE": "true",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
    }.items():
        monkeypatch.setenv(name, value)


def test_every_command_is_registered_and_has_help(capsys):
    """GIVEN the command table WHEN each command's --help is asked THEN it prints usage."""
    assert {"run", "check", "send-test", "replay", "watch"} <= set(COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert f"assistwatch {name}" in capsys.readouterr().out


def test_run_polls_through_the_fc_entry_and_prints_the_report(monkeypatch, tmp_path, capsys):
    """GIVEN credentials and a region in the environment WHEN `assistwatch run`
    THEN the poll reaches the API and the JSON report is the only thing on stdout."""
    with CloudAssistantFake() as cloud:
        _configure_poll(monkeypatch, cloud.url, tmp_path)
        status = main(["run", "--source", "ecs.command", "--json"])

    out = capsys.readouterr()
    report_ = json.loads(out.out)
    assert status == 0
    assert report_["ok"] is True
    assert report_["api_calls"] >= 1
    assert DEMO_ACCESS_KEY_SECRET not in out.out + out.err


def test_run_without_credentials_fails_with_the_reason(monkeypatch, tmp_path, capsys):
    """GIVEN no credentials WHEN `assistwatch run` THEN exit 1 and the report says what to set."""
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    monkeypatch.setenv("ASSISTWATCH_STATE_URL", f"file://{tmp_path / 'state'}")

    status = main(["run", "--region", "cn-hangzhou"])

    out = capsys.readouterr()
    assert status == 1
    assert out.out == ""
    [line] = out.err.splitlines()
    assert line.startswith("assistwatch run: ")
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in line


def test_run_reads_an_event_file(monkeypatch, tmp_path, capsys):
    """GIVEN an event file that is no trigger WHEN `assistwatch run --event FILE`
    THEN the entry's own refusal is printed and the exit status is 1."""
    monkeypatch.setenv("ASSISTWATCH_STATE_URL", f"file://{tmp_path / 'state'}")
    event = tmp_path / "event.json"
    event.write_text('{"hello": "world"}', encoding="utf-8")

    status = main(["run", "--event", str(event), "--json"])

    assert status == 1
    assert "not a trigger" in json.loads(capsys.readouterr().out)["errors"][0]


def test_watch_registers_lingjun_invocations_and_looks_at_them_at_once(
    monkeypatch, tmp_path, capsys
):
    """GIVEN a training job still running on a Lingjun node WHEN `assistwatch watch`
    THEN the watch is stored, the job asked about right away, and the report says so."""
    from datetime import datetime, timezone

    from tests.fakes.dataset import eflo_command, eflo_invoke_id, node_id, run

    with CloudAssistantFake() as cloud:
        job = eflo_command(
            created=datetime.now(timezone.utc),
            invoke=eflo_invoke_id("cli-train"),
            nodes=[run(node_id("gpu-1"), "Running")],
        )
        cloud.dataset.add(job)
        for name, value in {
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_EFLO_ENDPOINT": cloud.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }.items():
            monkeypatch.setenv(name, value)

        status = main(
            ["watch", "--region", "cn-wulanchabu", "--provider", "eflo", job.invoke_id, "--json"]
        )

        asked = [p.get("InvokeId") for _, p in cloud.calls]
    report_ = json.loads(capsys.readouterr().out)
    assert status == 0, report_
    assert report_["trigger"].startswith("watch (1")
    assert any("watching 1 eflo invocation" in note for note in report_["notes"])
    assert job.invoke_id in asked


def test_replay_shows_what_would_be_sent_and_sends_nothing(failed_answer, tmp_path):
    """GIVEN a saved answer with a failed execution and a DingTalk robot configured
    WHEN replayed without --send THEN the rendered message is shown and the robot got nothing."""
    with DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET}
        out = io.StringIO()

        status = replay(failed_answer, environ, out)

        assert dingtalk.received(TOKEN) == []
    text = out.getvalue()
    assert status == 0
    assert '"alerts": 1' in text
    assert "(not sent)" in text
    assert "i-bp1i7gg30r52z2em****" in text
    assert TOKEN not in text


def test_replay_with_send_delivers_to_the_receiver(failed_answer):
    """GIVEN the same answer WHEN replayed with send=True THEN the robot receives it."""
    with DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET}

        status = replay(failed_answer, environ, io.StringIO(), send=True)

        assert status == 0
        assert len(dingtalk.received(TOKEN)) == 1


def test_send_test_reaches_the_robot_with_a_sample_marked_test():
    """GIVEN a DingTalk robot WHEN send-test THEN one signed message marked TEST arrives."""
    with DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET}
        out = io.StringIO()

        status = send_test(environ, [], out)

        [body] = dingtalk.received(TOKEN)
    assert status == 0
    assert "TEST" in body["markdown"]["text"]
    assert out.getvalue().startswith("ok    dingtalk")


def test_send_test_reports_a_robot_with_the_wrong_secret():
    """GIVEN a robot configured with the wrong 加签 secret WHEN send-test
    THEN it fails with exit 1, names the receiver and never prints the secret."""
    wrong = "SECwrong000000000000000000000000000000000000000000000000000000000"
    with DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {"ASSISTWATCH_DINGTALK_URL": url, "ASSISTWATCH_DINGTALK_SECRET": wrong}
        out = io.StringIO()

        status = send_test(environ, [], out)

    assert status == 1
    assert out.getvalue().startswith("FAIL  dingtalk")
    assert wrong not in out.getvalue()
    assert TOKEN not in out.getvalue()


def test_check_reaches_every_endpoint_and_masks_secrets(tmp_path):
    """GIVEN a complete local configuration WHEN check THEN every line is ok and neither
    the robot token, its secret nor the AccessKey secret is printed."""
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        url = dingtalk.add_robot(TOKEN, secret=ROBOT_SECRET)
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": url,
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }
        results = checks(environ, [])
    out = io.StringIO()

    status = report(results, out)

    text = out.getvalue()
    assert status == 0, text
    assert {line.what for line in results} >= {
        "settings",
        "credentials",
        "ecs cn-hangzhou",
        "state",
        "dingtalk",
    }
    for secret in (TOKEN, ROBOT_SECRET, DEMO_ACCESS_KEY_SECRET):
        assert secret not in text


def test_check_fails_on_wrong_credentials_and_says_where(tmp_path):
    """GIVEN a wrong AccessKey secret WHEN check THEN the region's line fails, exit 1."""
    with CloudAssistantFake() as cloud:
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong-secret-wrong-secret",
        }
        results = checks(environ, [], transport=httpx.HTTPTransport(retries=0))

    failed = [line.what for line in results if line.level == "FAIL"]
    assert "ecs cn-hangzhou" in failed
    assert {"credentials", "state", "settings"}.isdisjoint(failed)
    assert report(results, io.StringIO()) == 1


def test_check_names_the_bad_variable():
    """GIVEN a malformed region WHEN check THEN one failed line names ASSISTWATCH_REGIONS."""
    [(level, what, detail)] = checks({"ASSISTWATCH_REGIONS": "Hangzhou!"}, [])

    assert (level, what) == ("FAIL", "settings")
    assert "ASSISTWATCH_REGIONS" in detail


def test_python_dash_m_lib_is_the_same_parser():
    """GIVEN the parser WHEN no command is given THEN argparse refuses with usage (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([])
    assert exit_info.value.code == 2


def test_run_at_a_terminal_explains_the_report_a_line_per_figure(monkeypatch, tmp_path, capsys):
    """GIVEN a healthy poll WHEN `assistwatch run` without --json THEN stdout is a headline
    and one line per non-zero figure in words, and no JSON log line reaches stderr."""
    with CloudAssistantFake() as cloud:
        _configure_poll(monkeypatch, cloud.url, tmp_path)
        status = main(["run", "--source", "ecs.command"])

    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert status == 0
    assert lines[0].startswith("ok · poll (manual) · cn-hangzhou · ")
    assert any(line.endswith("Cloud Assistant API calls") for line in lines[1:])
    assert "{" not in out.err
