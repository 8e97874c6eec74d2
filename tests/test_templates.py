"""template.yml (ROS) and s.yaml (Serverless Devs): they parse, match the code and agree."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib.support.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE: dict[str, Any] = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
SDEVS: dict[str, Any] = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION = RESOURCES["Function"]["Properties"]
PROPS: dict[str, Any] = SDEVS["resources"]["assistwatch"]["props"]
# What a deployed watcher cannot run without (Settings defaults suit local runs only).
REQUIRED_ON_FC = {"ASSISTWATCH_STATE_URL", "ASSISTWATCH_DINGTALK_URL"}
ACTION = re.compile(r"^[A-Z][a-z]+[A-Z][A-Za-z]+$")


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == kind}


def _called_actions() -> set[str]:
    """`product:Action` for every OpenAPI action lib/ passes to a client, by an AST walk.

    An action is a string constant given first to ``.call(...)`` or ``._pages(...)``
    (the CloudAssistant pager); the product is ``eflo`` in eflo modules, ``sts`` for
    AssumeRole, ``ecs`` otherwise.
    """
    found: set[str] = set()
    for path in (ROOT / "lib").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in {"call", "_pages"} or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if ACTION.match(first.value):
                product = "eflo" if "eflo" in path.stem else "ecs"
                found.add(f"{'sts' if first.value == 'AssumeRole' else product}:{first.value}")
    return found


def _policy_statements() -> list[dict[str, Any]]:
    role = RESOURCES["FunctionRole"]["Properties"]
    statements: list[dict[str, Any]] = []
    for policy in role["Policies"]:
        for raw in policy["PolicyDocument"]["Statement"]:
            # A conditional statement: check the branch taken when it is configured.
            statements.append(raw["Fn::If"][1] if "Fn::If" in raw else raw)
    return statements


def _granted() -> set[str]:
    granted: set[str] = set()
    for statement in _policy_statements():
        actions = statement["Action"]
        granted.update([actions] if isinstance(actions, str) else actions)
    return granted


def test_template_is_an_fc3_ros_template():
    """GIVEN template.yml WHEN parsed THEN it is ROS 2015-09-01 with an FC 3.0 function."""
    assert TEMPLATE["ROSTemplateFormatVersion"] == "2015-09-01"
    assert RESOURCES["Function"]["Type"] == "ALIYUN::FC3::Function"
    assert FUNCTION["Runtime"] == "python3.10"
    assert SDEVS["resources"]["assistwatch"]["component"] == "fc3"


@pytest.mark.parametrize("handler", [FUNCTION["Handler"], PROPS["handler"]])
def test_the_handler_path_names_a_callable_in_the_code(handler):
    """GIVEN the templates' handler WHEN resolved like FC does (module.function)
    THEN it is the callable handler.py exports."""
    module_name, _, attribute = handler.rpartition(".")
    assert (ROOT / f"{module_name}.py").is_file()
    assert callable(getattr(importlib.import_module(module_name), attribute))


@pytest.mark.parametrize(
    "names",
    [set(FUNCTION["EnvironmentVariables"]), set(PROPS["environmentVariables"])],
    ids=["template", "s.yaml"],
)
def test_every_environment_variable_is_a_settings_field(names):
    """GIVEN the environment the templates set WHEN read as ASSISTWATCH_* names
    THEN each one is a Settings field (a typo would be ignored silently otherwise)."""
    fields = {f"ASSISTWATCH_{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, names - fields
    assert names >= REQUIRED_ON_FC


def test_the_template_environment_loads_as_settings():
    """GIVEN the template's environment with its parameter defaults and a sample robot
    WHEN loaded THEN Settings accepts it and state is the Table Store table it creates."""
    params = TEMPLATE["Parameters"]
    sample = {"DingTalkUrl": "https://oapi.dingtalk.com/robot/send?access_token=abc"}
    environ: dict[str, str] = {}
    for name, value in FUNCTION["EnvironmentVariables"].items():
        if isinstance(value, str):
            environ[name] = value
        elif "Ref" in value:
            environ[name] = sample.get(value["Ref"], str(params[value["Ref"]].get("Default", "")))
        elif "Fn::Sub" in value:
            environ[name] = re.sub(
                r"\$\{(\w+)\}", lambda m: str(params[m.group(1)]["Default"]), value["Fn::Sub"]
            )
        # Fn::If with ALIYUN::NoValue: left out unless configured
    settings = load_settings(environ)

    table = RESOURCES["StateTable"]["Properties"]["TableName"]
    assert settings.state_url == f"ots://{params['OtsInstanceName']['Default']}/{table}"
    assert settings.dingtalk_url is not None


def test_the_state_table_is_the_one_the_ots_store_expects():
    """GIVEN the template's table WHEN inspected THEN its key is (namespace, key) strings,
    rows expire after 43 days and keep one version."""
    table = RESOURCES["StateTable"]["Properties"]
    assert table["PrimaryKey"] == [
        {"Name": "namespace", "Type": "STRING"},
        {"Name": "key", "Type": "STRING"},
    ]
    assert table["TimeToLive"] == 3715200
    assert table["MaxVersions"] == 1


def test_the_role_may_call_every_api_the_code_calls():
    """GIVEN the OpenAPI actions found in lib/ WHEN compared with the role's policy
    THEN every one is granted (a new call without a grant fails here, not on FC)."""
    called = _called_actions()
    assert {"ecs:DescribeInvocations", "ecs:DescribeSendFileResults"} <= called  # walk works
    assert called <= _granted(), called - _granted()


def test_the_policy_is_least_privilege():
    """GIVEN the role's policy WHEN read THEN it grants reads only on Cloud Assistant and
    instance tags, row access on the one table, AssumeRole only on ASSISTWATCH_ACCOUNTS' roles."""
    for statement in _policy_statements():
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        assert "*" not in "".join(actions)
        if any(action.startswith("ots:") for action in actions):
            [resource] = statement["Resource"]
            assert resource["Fn::Sub"].endswith("/table/assistwatch_state")
        if "sts:AssumeRole" in actions:
            assert statement["Resource"] == {"Fn::Split": [",", {"Ref": "Accounts"}]}
        if statement["Resource"] == "*":
            # Reads only: Describe*, and ListTagResources (access level "get") for tag routes.
            assert all(
                action.split(":")[1].startswith("Describe") or action == "ecs:ListTagResources"
                for action in actions
            )
    env = FUNCTION["EnvironmentVariables"]
    assert env["ASSISTWATCH_ACCOUNTS"] == {"Ref": "Accounts"}


def test_secrets_are_noecho_parameters():
    """GIVEN the template's parameters WHEN read THEN the robot URL and secret are NoEcho."""
    params = TEMPLATE["Parameters"]
    assert params["DingTalkUrl"]["NoEcho"] is True
    assert params["DingTalkSecret"]["NoEcho"] is True
    assert params["ActionsSecret"]["NoEcho"] is True


def test_the_template_has_the_operational_safety_nets():
    """GIVEN the template WHEN read THEN async failures go to a queue, function errors
    raise a CloudMonitor alarm, and the HTTP trigger needs FC's signature."""
    destination = RESOURCES["AsyncConfig"]["Properties"]["DestinationConfig"]["OnFailure"]
    queue = RESOURCES["FailedQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert f"/queues/{queue}/messages" in destination["Destination"]["Fn::Sub"]
    assert _of_type("ALIYUN::CMS::Alarm")
    assert RESOURCES["HttpTrigger"]["Properties"]["TriggerConfig"]["authType"] != "anonymous"


def _template_triggers() -> dict[str, dict[str, Any]]:
    return {
        res["Properties"]["TriggerName"]: res["Properties"]
        for res in _of_type("ALIYUN::FC3::Trigger").values()
    }


def test_both_templates_deploy_the_same_function():
    """GIVEN template.yml and s.yaml WHEN compared THEN runtime, handler, size, timeout
    and environment names are the same."""
    assert PROPS["runtime"] == FUNCTION["Runtime"]
    assert PROPS["handler"] == FUNCTION["Handler"]
    assert PROPS["memorySize"] == FUNCTION["MemorySize"]
    assert PROPS["timeout"] == FUNCTION["Timeout"]
    assert PROPS["cpu"] == FUNCTION["Cpu"]
    optional = {  # set by the template only when its parameter is not empty
        name for name, value in FUNCTION["EnvironmentVariables"].items() if "Fn::If" in str(value)
    }
    assert (
        set(PROPS["environmentVariables"]) - optional
        == set(FUNCTION["EnvironmentVariables"]) - optional
    )
    assert (
        PROPS["asyncInvokeConfig"]["maxAsyncRetryAttempts"]
        == (RESOURCES["AsyncConfig"]["Properties"]["MaxAsyncRetryAttempts"])
    )


def test_both_templates_have_the_same_triggers():
    """GIVEN both templates' triggers WHEN compared by name THEN types and configs agree
    (the cron is a parameter in one and an env default in the other: same default)."""
    ros = _template_triggers()
    sdevs = {trigger["triggerName"]: trigger for trigger in PROPS["triggers"]}
    assert set(ros) == set(sdevs) == {"poll", "task-completed", "http"}
    for name, trigger in sdevs.items():
        assert trigger["triggerType"] == ros[name]["TriggerType"]
        ros_config = dict(ros[name]["TriggerConfig"])
        config = dict(trigger["triggerConfig"])
        if name == "http":  # with actions on the template opens it (README "Acting on an alert")
            assert ros_config.pop("authType") == {"Fn::If": ["ActionsOn", "anonymous", "function"]}
            assert config.pop("authType") == "function"
            ros_methods = ros_config.pop("methods")["Fn::If"]
            assert ros_methods[0] == "ActionsOn"
            assert ros_methods[1] == ["GET", "HEAD", "POST"]
            assert config.pop("methods") == ros_methods[2]
        if name == "poll":
            default = TEMPLATE["Parameters"]["Schedule"]["Default"]
            assert ros_config.pop("cronExpression") == {"Ref": "Schedule"}
            assert default in config.pop("cronExpression")
        assert config == ros_config


def test_the_eventbridge_trigger_takes_task_completed_events_in_batches():
    """GIVEN the EventBridge trigger WHEN read THEN it filters TaskCompleted and batches."""
    config = _template_triggers()["task-completed"]["TriggerConfig"]
    pattern = json.loads(config["eventRuleFilterPattern"])
    assert pattern["type"] == ["ecs:CloudAssistant:TaskCompleted"]
    assert config["runOptions"]["batchWindow"]["CountBasedWindow"] > 1


def test_the_timer_payload_is_a_poll_the_code_accepts():
    """GIVEN the timer trigger's payload WHEN FC delivers it THEN it parses as a poll."""
    from lib.core.triggers import Poll, parse_event

    config = _template_triggers()["poll"]["TriggerConfig"]
    event = {
        "triggerTime": "2025-01-01T00:00:00Z",
        "triggerName": "poll",
        "payload": config["payload"],
    }
    assert isinstance(parse_event(event).trigger, Poll)
