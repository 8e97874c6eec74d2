"""`assistwatch check` and `send-test` as the first hour of a new user meets them.

Each story is a mistake a person makes before deploying (a misspelt variable, a robot URL
copied without its token, a region typo, a routing file the function would refuse) and
what the pre-flight says about it, against the loopback robots, never the Internet.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest

from lib.edges.cli import main
from lib.edges.cli.check import checks, report
from lib.edges.cli.deploy_check import deploy_lines
from lib.edges.cli.preflight import Line
from lib.edges.cli.probes import bounded
from lib.edges.cli.send_test import send_test
from lib.support.settings import load_settings
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.feishu import FeishuFake
from tests.fakes.wecom import WeComFake

TOKEN = "pre0robot0token0000000000000000000000000000000000000000000000000"
SECRET = "SECpre00000000000000000000000000000000000000000000000000000000000"
WECOM_KEY = "0a1b2c3d-0000-4000-8000-00000000wecom"
FEISHU_TOKEN = "0a1b2c3d-0000-4000-8000-0000000feishu"
FEISHU_SECRET = "feishu0signing0secret"


def _lines(results: list[Line], what: str) -> list[Line]:
    return [line for line in results if line.what == what]


@pytest.fixture
def base(tmp_path: Path) -> dict[str, str]:
    """A local state directory and nothing else: each story adds its own mistake."""
    return {"ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}"}


def test_every_kind_of_robot_is_reached_and_nothing_appears_in_any_group(base):
    """GIVEN a DingTalk robot with 加签, a WeCom robot and a Feishu bot WHEN check
    THEN each gets its own ok line saying what its answer proved, and no group received
    a message (the probe is not a message: the robots answered with their parse errors)."""
    with DingTalkFake() as dingtalk, WeComFake() as wecom, FeishuFake() as feishu:
        environ = {
            **base,
            "ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN, secret=SECRET),
            "ASSISTWATCH_DINGTALK_SECRET": SECRET,
            "ASSISTWATCH_WECOM_URL": wecom.add_robot(WECOM_KEY),
            "ASSISTWATCH_FEISHU_URL": feishu.add_robot(FEISHU_TOKEN, secret=FEISHU_SECRET),
            "ASSISTWATCH_FEISHU_SECRET": FEISHU_SECRET,
        }
        results = checks(environ, [])

        assert dingtalk.received(TOKEN) == []
        assert wecom.received(WECOM_KEY) == []
        assert feishu.received(FEISHU_TOKEN) == []
        assert dingtalk.answers(TOKEN) == [40035]
    [ding] = _lines(results, "dingtalk")
    [we] = _lines(results, "wecom")
    [lark] = _lines(results, "feishu")
    assert ding.level == "ok"
    assert "token and 加签 accepted, nothing posted" in ding.detail
    assert we.level == "ok"
    assert "key accepted" in we.detail
    assert lark.level == "ok"
    assert "token accepted" in lark.detail
    text = io.StringIO()
    report(results, text)
    for secret in (TOKEN, SECRET, WECOM_KEY, FEISHU_TOKEN, FEISHU_SECRET):
        assert secret not in text.getvalue()


def test_a_robot_refusal_is_translated_into_its_fix(base):
    """GIVEN a robot whose 加签 secret is not the one configured, and a WeCom key that was
    deleted WHEN check THEN each fails with the robot's code and what to do about it."""
    wrong = "SECwrong0000000000000000000000000000000000000000000000000000000000"
    with DingTalkFake() as dingtalk, WeComFake() as wecom:
        environ = {
            **base,
            "ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN, secret=SECRET),
            "ASSISTWATCH_DINGTALK_SECRET": wrong,
            "ASSISTWATCH_WECOM_URL": wecom.url_for("deleted-key"),
        }
        results = checks(environ, [])

    [ding] = _lines(results, "dingtalk")
    [we] = _lines(results, "wecom")
    assert ding.level == "FAIL"
    assert "310000" in ding.detail
    assert "加签" in ding.detail
    assert "keyword" in ding.detail
    assert "no fixed" in ding.detail  # why the IP allowlist is no answer on FC
    assert we.level == "FAIL"
    assert "93000" in we.detail
    assert "copy the Webhook URL" in we.detail
    assert wrong not in ding.detail


def test_a_dingtalk_token_that_does_not_exist_says_to_copy_the_url_again(base):
    with DingTalkFake() as dingtalk:
        environ = {**base, "ASSISTWATCH_DINGTALK_URL": dingtalk.url_for("no-such-robot")}
        [ding] = _lines(checks(environ, []), "dingtalk")

    assert ding.level == "FAIL"
    assert "300001" in ding.detail
    assert "access_token is wrong" in ding.detail


def test_a_routing_file_the_function_would_refuse_fails_the_check(base, tmp_path):
    """GIVEN a routing file with a `type: slack` receiver, or none at the path given
    WHEN check THEN the routing line fails with FILE:LINE, as `run` would refuse it."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "receivers:\n  - name: ops\n    type: slack\n    url: https://hooks.example.com/x\n",
        encoding="utf-8",
    )
    [bad_type] = _lines(checks({**base, "ASSISTWATCH_CONFIG": str(routing)}, []), "routing")
    missing = tmp_path / "nowhere.yaml"
    [absent] = _lines(checks({**base, "ASSISTWATCH_CONFIG": str(missing)}, []), "routing")

    assert bad_type.level == "FAIL"
    assert bad_type.detail.startswith(f"{routing}:3: receivers[0].type")
    assert absent.level == "FAIL"
    assert "cannot read" in absent.detail


def test_a_good_routing_file_adds_its_receivers_to_the_probes(base, tmp_path):
    """GIVEN a routing file naming a DingTalk robot by ${VARIABLE} WHEN check
    THEN the file is ok and its robot is reached like an env-configured one."""
    with DingTalkFake() as dingtalk:
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            "receivers:\n  - name: ops\n    type: dingtalk\n    url: ${OPS_URL}\n",
            encoding="utf-8",
        )
        environ = {
            **base,
            "ASSISTWATCH_CONFIG": str(routing),
            "OPS_URL": dingtalk.add_robot(TOKEN),
        }
        results = checks(environ, [])

    assert _lines(results, "routing")[0].level == "ok"
    [ops] = _lines(results, "ops")
    assert ops.level == "ok"
    assert "token accepted" in ops.detail


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("https://oapi.dingtalk.com/robot/send", None, "no access_token"),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc", "abc123", "starts with SEC"),
        ("https://example.com/robot/send?access_token=abc", None, "oapi.dingtalk.com"),
    ],
)
def test_a_dingtalk_url_or_secret_of_the_wrong_shape_fails_before_any_network(
    base, url, secret, problem
):
    environ = {**base, "ASSISTWATCH_DINGTALK_URL": url}
    if secret is not None:
        environ["ASSISTWATCH_DINGTALK_SECRET"] = secret
    offline = httpx.MockTransport(lambda request: httpx.Response(200, json={"errcode": 40035}))

    [shape] = _lines(checks(environ, [], transport=offline), "dingtalk shape")

    assert shape.level == "FAIL"
    assert problem in shape.detail
    assert secret is None or secret not in shape.detail


def test_a_misspelt_variable_fails_with_a_did_you_mean(base):
    """GIVEN ASSISTWATCH_DINGTLAK_URL (silently ignored by the function: alerts would go to
    stdout only) WHEN check THEN it fails, naming the variable it probably meant."""
    results = checks({**base, "ASSISTWATCH_DINGTLAK_URL": "https://oapi.dingtalk.com/x"}, [])

    [variable] = _lines(results, "variables")
    assert variable.level == "FAIL"
    assert "did you mean ASSISTWATCH_DINGTALK_URL?" in variable.detail
    [receivers] = _lines(results, "receivers")
    assert receivers.level == "FAIL"
    assert "no receiver" in receivers.detail


def test_a_region_typo_is_a_warning_naming_the_region_meant(base):
    """GIVEN ASSISTWATCH_REGIONS=cn-hangzou (a valid shape, no such region) WHEN check
    THEN a warning says cn-hangzhou; the known region beside it gets no warning."""
    environ = {**base, "ASSISTWATCH_REGIONS": "cn-hangzou,cn-shanghai"}
    offline = httpx.MockTransport(lambda request: httpx.Response(404))

    [warning] = _lines(checks(environ, [], transport=offline), "regions")

    assert warning.level == "warn"
    assert "cn-hangzou" in warning.detail
    assert "did you mean cn-hangzhou?" in warning.detail


def test_warnings_alone_do_not_fail_the_check(base, tmp_path):
    """GIVEN a complete configuration in a region missing from the list WHEN check
    THEN the warning is shown and the exit status is still 0."""
    with CloudAssistantFake() as cloud, DingTalkFake() as dingtalk:
        environ = {
            **base,
            "ASSISTWATCH_REGIONS": "cn-newcity",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }
        results = checks(environ, [])
    out = io.StringIO()

    assert report(results, out) == 0, out.getvalue()
    assert "warn  regions" in out.getvalue()


def test_with_no_network_every_probe_is_reported_not_waited_on(base):
    """GIVEN no network at all (every connection times out) WHEN check THEN each API,
    and robot line fails saying so, and the check returns (one try each, no retries)."""
    attempts = []

    def blackhole(request):
        attempts.append(request.url.host)
        raise httpx.ConnectTimeout("timed out", request=request)

    environ = {
        **base,
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_DINGTALK_URL": f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
    }

    results = checks(environ, [], transport=httpx.MockTransport(blackhole))

    assert _lines(results, "ecs cn-hangzhou")[0].level == "FAIL"
    [ding] = _lines(results, "dingtalk")
    assert ding.level == "FAIL"
    assert "no answer within 5s" in ding.detail
    assert attempts == ["ecs.cn-hangzhou.aliyuncs.com", "oapi.dingtalk.com"]


def test_a_state_store_that_hangs_is_given_up_on():
    """GIVEN a call that never answers WHEN bounded THEN TimeoutError after the bound."""
    started = time.monotonic()

    with pytest.raises(TimeoutError, match=r"no answer within 0\.2s"):
        bounded(lambda: time.sleep(30), 0.2)

    assert time.monotonic() - started < 5


def test_check_json_is_one_document_and_the_lines_are_for_people(base, monkeypatch, capsys):
    for name, value in base.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASSISTWATCH_DINGTLAK_URL", "x")

    assert main(["check", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert {"level": "FAIL", "what": "variables"}.items() <= document["checks"][0].items()

    assert main(["check"]) == 1
    assert capsys.readouterr().out.startswith("FAIL  variables")


def test_check_deploy_maps_the_configuration_onto_the_template(tmp_path):
    """GIVEN a template whose function takes DingTalkUrl (NoEcho, required) and Lang
    WHEN check --deploy runs with a WeCom robot set but no DingTalk URL THEN the missing
    parameter fails, the WeCom robot is flagged as not deployable by this template, and
    the deployer's permissions follow the template's resource types."""
    template = tmp_path / "template.yml"
    template.write_text(
        """
Parameters:
  DingTalkUrl: {Type: String, NoEcho: true}
  Lang: {Type: String, Default: zh}
Resources:
  Function:
    Type: ALIYUN::FC3::Function
    Properties:
      EnvironmentVariables:
        ASSISTWATCH_DINGTALK_URL: {Ref: DingTalkUrl}
        ASSISTWATCH_LANG: {Ref: Lang}
  Table: {Type: ALIYUN::OTS::Table}
""",
        encoding="utf-8",
    )
    environ = {
        "ASSISTWATCH_LANG": "en",
        "ASSISTWATCH_WECOM_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    }

    lines = deploy_lines(load_settings(environ), environ, template)

    details = [(line.level, line.detail) for line in lines]
    assert ("FAIL", "DingTalkUrl: required; set ASSISTWATCH_DINGTALK_URL") in details
    assert ("ok", "Lang=en  (from ASSISTWATCH_LANG)") in details
    assert any(level == "warn" and "ASSISTWATCH_WECOM_URL" in d for level, d in details)
    [permissions] = [line for line in lines if line.what == "permissions"]
    assert "AliyunOTSFullAccess" in permissions.detail
    assert "AliyunFCFullAccess" in permissions.detail
    assert "AliyunMNSFullAccess" not in permissions.detail


def test_check_deploy_never_prints_a_secret_parameter(tmp_path):
    template = tmp_path / "template.yml"
    template.write_text(
        "Parameters:\n  DingTalkSecret: {Type: String, NoEcho: true, Default: ''}\n"
        "Resources:\n  F:\n    Type: ALIYUN::FC3::Function\n    Properties:\n"
        "      EnvironmentVariables:\n        ASSISTWATCH_DINGTALK_SECRET: {Ref: DingTalkSecret}\n",
        encoding="utf-8",
    )
    environ = {
        "ASSISTWATCH_DINGTALK_URL": f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
        "ASSISTWATCH_DINGTALK_SECRET": SECRET,
    }

    lines = deploy_lines(load_settings(environ), environ, template)

    assert ("ok", "parameter", "DingTalkSecret=****  (from ASSISTWATCH_DINGTALK_SECRET)") in lines
    assert SECRET not in repr(lines)


# --- send-test -------------------------------------------------------------------------


def test_send_test_to_a_receiver_that_does_not_exist_fails_naming_those_that_do():
    with DingTalkFake() as dingtalk:
        environ = {"ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN)}
        out, err = io.StringIO(), io.StringIO()

        status = send_test(environ, ["nope"], out, err=err)

        assert dingtalk.received(TOKEN) == []
    assert status == 1
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "assistwatch send-test: no receiver named nope (configured: dingtalk)\n"
    )


def test_send_test_with_a_bad_routing_file_is_one_line_not_a_traceback(tmp_path):
    routing = tmp_path / "routing.yaml"
    routing.write_text("receivers:\n  - name: ops\n    type: slack\n", encoding="utf-8")
    err = io.StringIO()

    status = send_test({"ASSISTWATCH_CONFIG": str(routing)}, [], io.StringIO(), err=err)

    assert status == 1
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"assistwatch send-test: {routing}:")


def test_send_test_with_no_receiver_says_how_to_configure_one():
    err = io.StringIO()

    assert send_test({}, [], io.StringIO(), err=err) == 1
    assert "no receiver is configured" in err.getvalue()


def test_send_test_refused_by_the_robot_prints_the_fix():
    """GIVEN a robot with a keyword the configuration does not carry WHEN send-test
    THEN the robot's 310000 comes with the fix (keyword or 加签)."""
    with DingTalkFake() as dingtalk:
        environ = {"ASSISTWATCH_DINGTALK_URL": dingtalk.add_robot(TOKEN, keyword="云助手")}
        out = io.StringIO()

        status = send_test(environ, [], out, err=io.StringIO())

    assert status == 1
    assert "310000" in out.getvalue()
    assert "ASSISTWATCH_DINGTALK_KEYWORD" in out.getvalue()
