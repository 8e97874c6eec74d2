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
REQUIRED_ON_FC = {"ASSISTWATCH_STATE_URL"}
# Every receiver Settings knows, with its secrets: each is deployable from both files.
RECEIVER_ENV = {
    "ASSISTWATCH_DINGTALK_URL": "DingTalkUrl",
    "ASSISTWATCH_DINGTALK_SECRET": "DingTalkSecret",
    "ASSISTWATCH_DINGTALK_KEYWORD": "DingTalkKeyword",
    "ASSISTWATCH_WECOM_URL": "WeComUrl",
    "ASSISTWATCH_FEISHU_URL": "FeishuUrl",
    "ASSISTWATCH_FEISHU_SECRET": "FeishuSecret",
    "ASSISTWATCH_WEBHOOK_URL": "WebhookUrl",
    "ASSISTWATCH_WEBHOOK_SECRET": "WebhookSecret",
    "ASSISTWATCH_CONFIG": "RoutingFile",
}
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
                product = {"AssumeRole": "sts", "ListAccounts": "resourcemanager"}.get(
                    first.value, product
                )
                found.add(f"{product}:{first.value}")
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
    sample = {
        "DingTalkUrl": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "StateInstance.InstanceName": "aw4a6c9851",  # derived from a stack id
    }
    environ: dict[str, str] = {}
    for name, raw in FUNCTION["EnvironmentVariables"].items():
        value = raw
        if isinstance(raw, dict) and "Fn::If" in raw:
            value = raw["Fn::If"][1]  # the branch taken when configured
            if value.get("Ref") not in sample:
                continue  # left out unless configured
        if isinstance(value, str):
            environ[name] = value
        elif "Ref" in value:
            environ[name] = sample.get(value["Ref"], str(params[value["Ref"]].get("Default", "")))
        elif "Fn::Sub" in value:
            environ[name] = re.sub(
                r"\$\{([\w.]+)\}",
                lambda m: sample.get(m.group(1)) or str(params[m.group(1)]["Default"]),
                value["Fn::Sub"],
            )
    settings = load_settings(environ)

    table = RESOURCES["StateTable"]["Properties"]["TableName"]
    assert settings.state_url == f"ots://aw4a6c9851/{table}"
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
        if "sts:AssumeRole" in actions:  # the listed roles, or Accounts '*': one role name
            assert statement["Resource"] in (
                {"Fn::Split": [",", {"Ref": "Accounts"}]},
                {"Fn::Sub": "acs:ram::*:role/${MemberRole}"},
            )
        if "resourcemanager:ListAccounts" in actions:  # Accounts '*': its own directory only
            assert statement["Resource"] == {
                "Fn::Sub": "acs:resourcemanager:*:${ALIYUN::AccountId}:account/*"
            }
        if statement["Resource"] == ["*"]:
            # Reads only: Describe*, and ListTagResources (access level "get") for tag routes.
            assert all(
                action.split(":")[1].startswith("Describe") or action == "ecs:ListTagResources"
                for action in actions
            )
    env = FUNCTION["EnvironmentVariables"]
    assert env["ASSISTWATCH_ACCOUNTS"] == {"Ref": "Accounts"}


def test_secrets_are_noecho_parameters():
    """GIVEN the template's parameters WHEN read THEN every receiver URL (it carries the
    token) and every secret is NoEcho: ROS never shows them back."""
    params = TEMPLATE["Parameters"]
    secret = [p for p in RECEIVER_ENV.values() if p.endswith(("Url", "Secret"))]
    assert len(secret) == 7
    for name in secret:
        assert params[name]["NoEcho"] is True, name
    assert params["ActionsSecret"]["NoEcho"] is True


def test_the_template_has_the_operational_safety_nets():
    """GIVEN the template WHEN read THEN async failures go to a queue, function errors
    raise a CloudMonitor alarm, and the HTTP trigger needs FC's signature."""
    destination = RESOURCES["AsyncConfig"]["Properties"]["DestinationConfig"]["OnFailure"]
    queue = RESOURCES["FailedQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert f"/queues/{queue}/messages" in destination["Destination"]["Fn::Sub"]
    assert _of_type("ALIYUN::CMS::ResourceMetricRule")
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


def test_the_eventbridge_trigger_takes_failed_task_completed_events_one_at_a_time():
    """GIVEN the EventBridge trigger WHEN read THEN it takes TaskCompleted events whose
    status is anything but Success, one per invocation (event-driven: no batch window),
    invoked asynchronously so the async config's retries and failure queue apply."""
    config = _template_triggers()["task-completed"]["TriggerConfig"]
    pattern = json.loads(config["eventRuleFilterPattern"])
    assert pattern["source"] == ["acs.ecs"]
    assert pattern["type"] == ["ecs:CloudAssistant:TaskCompleted"]
    assert pattern["data"] == {"invocationStatus": [{"anything-but": "Success"}]}
    assert config["runOptions"]["mode"] == "event-driven"
    assert "batchWindow" not in config["runOptions"]
    assert config["asyncInvocationType"] is False  # false = asynchronous (FC 3.0 API)


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


def test_failed_events_are_kept_seven_days_the_most_mns_allows():
    """GIVEN the failure queue WHEN read THEN its retention is 7 days, inside MNS's
    60..604800 s (14 days failed every CreateStack), and the async config waits for it."""
    queue = RESOURCES["FailedQueue"]["Properties"]
    assert 60 <= queue["MessageRetentionPeriod"] <= 604800
    assert queue["MessageRetentionPeriod"] == 7 * 24 * 3600
    assert "FailedQueue" in RESOURCES["AsyncConfig"]["DependsOn"]


def test_the_function_alarm_watches_fc3_function_errors():
    """GIVEN the alarm WHEN read THEN it is a CloudMonitor resource metric rule on acs_fc's
    FunctionFunctionErrors for this function, firing on one error in a minute."""
    [(name, rule)] = _of_type("ALIYUN::CMS::ResourceMetricRule").items()
    props = rule["Properties"]
    assert rule["Condition"] == "HasAlarm"
    assert (props["Namespace"], props["MetricName"]) == ("acs_fc", "FunctionFunctionErrors")
    [dimensions] = props["Resources"]
    assert dimensions == {
        "region": {"Ref": "ALIYUN::Region"},
        "functionName": {"Ref": "FunctionName"},
    }
    critical = props["Escalations"]["Critical"]
    assert (critical["ComparisonOperator"], critical["Threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        "1",
    )
    assert not _of_type("ALIYUN::CMS::Alarm"), name


def _pattern(parameter: str) -> re.Pattern[str]:
    return re.compile(TEMPLATE["Parameters"][parameter]["AllowedPattern"])


FORBIDDEN_IN_OTS_NAMES = ("ali", "ay", "ots", "taobao", "admin")  # Table Store CreateInstance


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("aw-prod", True),
        ("abc", True),
        ("", True),  # empty: derived from the stack id
        ("Aw-prod", False),  # RAM resources need lowercase
        ("ab", False),  # 3..16
        ("a" * 17, False),
        ("aw-", False),
        ("9aw", False),
    ],
)
def test_the_table_store_instance_name_follows_the_naming_rules(name, ok):
    """GIVEN an OtsInstanceName WHEN checked by the parameter's pattern THEN Table Store's
    shape rules hold: 3-16 lowercase letters, digits, -, from a letter, not ending in -."""
    assert bool(_pattern("OtsInstanceName").fullmatch(name)) is ok


def test_the_forbidden_table_store_words_are_named_for_the_person_choosing():
    """GIVEN the words Table Store refuses in instance names WHEN a person reads the
    parameter THEN each is named (ROS has no portable way to refuse a substring: Table Store
    refuses it at creation), and the pattern needs no lookahead ROS may not compile."""
    param = TEMPLATE["Parameters"]["OtsInstanceName"]
    for word in FORBIDDEN_IN_OTS_NAMES:
        assert word in param["Description"]
    assert "(?" not in param["AllowedPattern"]


def test_the_default_table_store_name_is_derived_unique_and_valid():
    """GIVEN no OtsInstanceName WHEN the stack derives one THEN it is aw + the stack id's
    first 8 hex digits (unique per stack), which always satisfies the naming rules."""
    derived = RESOURCES["StateInstance"]["Properties"]["InstanceName"]["Fn::If"]
    assert derived[0] == "HasOtsName"
    assert TEMPLATE["Parameters"]["OtsInstanceName"]["Default"] == ""
    join = derived[2]["Fn::Join"]
    prefix, select = join[1]
    assert select == {"Fn::Select": ["0", {"Fn::Split": ["-", {"Ref": "ALIYUN::StackId"}]}]}
    for stack_id in ("4a6c9851-3b0f-4f5f-b4ca-a14bf6910000", "00000000-0000", "ffffffff-1"):
        name = prefix + stack_id.split("-")[0]
        assert _pattern("OtsInstanceName").fullmatch(name), name
        assert not any(word in name for word in FORBIDDEN_IN_OTS_NAMES)
    # the policy, the state URL and the output all follow the instance, not the parameter
    assert "OtsInstanceName" not in json.dumps(RESOURCES["FunctionRole"])
    assert "StateInstance.InstanceName" in json.dumps(FUNCTION["EnvironmentVariables"])


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("assistwatch", True),
        ("aw", True),
        ("a" * 40, True),
        ("a" * 41, False),
        ("Assistwatch", False),
        ("assist_watch", False),
        ("9watch", False),
    ],
)
def test_a_function_name_keeps_every_derived_name_valid(name, ok):
    """GIVEN a FunctionName WHEN accepted by its pattern THEN the SLS project
    name-<16-digit account> is 3-63 lowercase letters/digits/-, the RAM role name-fc fits
    RAM's 64 and the FC name rules hold; what breaks them is refused up front."""
    accepted = bool(_pattern("FunctionName").fullmatch(name))
    assert accepted is ok
    if accepted:
        project = f"{name}-{'9' * 16}"
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", project)
        assert len(f"{name}-fc") <= 64
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_-]{0,63}", name)


def test_the_function_is_not_created_without_its_code_bucket():
    """GIVEN DeployFunction=true WHEN CodeBucket is empty THEN the template's Rules refuse
    the stack before anything is created (its default is empty for DeployFunction=false)."""
    rule = TEMPLATE["Rules"]["CodeWhenDeployed"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DeployFunction"}, True]}
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": {"Fn::Equals": [{"Ref": "CodeBucket"}, ""]}}
    assert "CodeBucket" in assertion["AssertDescription"]


def test_the_event_trigger_is_opt_in_until_eventbridge_is_ready():
    """GIVEN a fresh account (EventBridge not activated, no AliyunServiceRoleForEventBridge-
    SendToFC) WHEN the stack is created with defaults THEN no EventBridge trigger is made
    (the timer polls); EventTrigger=true adds it once the prerequisite is met."""
    param = TEMPLATE["Parameters"]["EventTrigger"]
    assert param["Default"] is False
    assert "AliyunServiceRoleForEventBridgeSendToFC" in param["Description"]
    assert RESOURCES["TaskCompletedTrigger"]["Condition"] == "DeployEvents"
    both = TEMPLATE["Conditions"]["DeployEvents"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "EventTrigger"}, True]} in both
    assert RESOURCES["TimerTrigger"]["Condition"] == "Deploy"


@pytest.mark.parametrize(("env", "parameter"), sorted(RECEIVER_ENV.items()))
def test_every_receiver_is_deployable_from_both_files(env, parameter):
    """GIVEN a receiver setting (DingTalk with keyword, WeCom, Feishu, webhook, the routing
    file) WHEN deployed by ROS or by s deploy THEN it reaches the function's environment:
    only when set in the template, from an env() defaulting to empty in s.yaml."""
    assert env in {f"ASSISTWATCH_{name.upper()}" for name in Settings.model_fields}
    value = FUNCTION["EnvironmentVariables"][env]
    assert value["Fn::If"][1] == {"Ref": parameter}
    assert value["Fn::If"][2] == {"Ref": "ALIYUN::NoValue"}
    assert TEMPLATE["Parameters"][parameter]["Default"] == ""
    assert PROPS["environmentVariables"][env] == f"${{env('{env}', '')}}"


def test_sdevs_empty_receivers_load_as_unset():
    """GIVEN s.yaml deployed with only a WeCom robot exported WHEN FC loads the environment
    (the other receivers are '') THEN Settings has WeCom and nothing else."""
    environ = dict.fromkeys(RECEIVER_ENV, "")
    environ["ASSISTWATCH_WECOM_URL"] = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
    settings = load_settings(environ)
    assert settings.wecom_url is not None
    assert settings.dingtalk_url is None
    assert settings.config is None


def test_a_deployed_function_needs_somewhere_to_send_alerts():
    """GIVEN DeployFunction=true WHEN no receiver URL and no routing file is given THEN
    the AReceiver Rule refuses the stack (alerts would reach only the log); any one of them
    satisfies it."""
    rule = TEMPLATE["Rules"]["AReceiver"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DeployFunction"}, True]}
    [assertion] = rule["Assertions"]
    given = {branch["Fn::Not"]["Fn::Equals"][0]["Ref"] for branch in assertion["Assert"]["Fn::Or"]}
    assert given == {"DingTalkUrl", "WeComUrl", "FeishuUrl", "WebhookUrl", "RoutingFile"}
    assert all(branch["Fn::Not"]["Fn::Equals"][1] == "" for branch in assertion["Assert"]["Fn::Or"])
