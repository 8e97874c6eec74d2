"""template.yml (ROS) and s.yaml (Serverless Devs): they parse, match the code and agree."""

from __future__ import annotations

import ast
import importlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib.edges.entry import SERVE_TOKEN_ENV
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
    THEN each one is a Settings field, or the serve token the HTTP edge reads (a typo
    would be ignored silently otherwise)."""
    fields = {f"ASSISTWATCH_{name.upper()}" for name in Settings.model_fields}
    fields.add(SERVE_TOKEN_ENV)
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
    raise a CloudMonitor alarm, and, with actions off (the default), the HTTP trigger
    needs FC's signature and takes only POST."""
    destination = RESOURCES["AsyncConfig"]["Properties"]["DestinationConfig"]["OnFailure"]
    queue = RESOURCES["FailedQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert f"/queues/{queue}/messages" in destination["Destination"]["Fn::Sub"]
    assert _of_type("ALIYUN::CMS::ResourceMetricRule")
    trigger = _stack().resolve(RESOURCES["HttpTrigger"]["Properties"]["TriggerConfig"])
    assert trigger["authType"] == "function"
    assert trigger["methods"] == ["POST"]


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


# --- actions: the generated key, the serve token (a stack as ROS would create it) ----------

ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=robot0token"
PUBLIC = "https://watch.example.com"
GIVEN_KEY = "test-only-actions-key-0123456789abcdef"  # ≥ 32 characters, ≥ 10 different
TOKEN = "operator0token0abc"  # 18 characters


def _generated_key() -> str:
    """What ALIYUN::RandomString hands back for ActionsKey's properties (Heat's generator)."""
    import secrets
    import string

    props = RESOURCES["ActionsKey"]["Properties"]
    classes = {"lowercase": string.ascii_lowercase, "uppercase": string.ascii_uppercase}
    classes["digits"] = string.digits
    chosen = [classes[c["class"]] for c in props["character_classes"]]
    every = "".join(chosen)
    picks = [secrets.choice(c) for c in chosen]
    picks += [secrets.choice(every) for _ in range(props["length"] - len(picks))]
    return "".join(picks)


def _stack(**given: Any) -> Any:
    from tests.ros_eval import Stack

    attributes = {
        "StateInstance": {"InstanceName": "aw4a6c9851"},
        "FunctionRole": {"Arn": "acs:ram::1234567890123456:role/assistwatch-fc"},
        "LogProject": {"Name": "assistwatch-1234567890123456"},
        "LogStore": {"LogstoreName": "function-log"},
        "Function": {"FunctionName": "assistwatch"},
        "ActionsKey": {"value": _generated_key()},
    }
    return Stack(TEMPLATE, {"CodeBucket": "code", "DingTalkUrl": ROBOT, **given}, attributes)


def test_with_a_public_url_and_no_key_the_stack_generates_one():
    """GIVEN a stack created with PublicUrl and ActionsSecret left empty WHEN ROS creates it
    THEN a random key is made and handed to the function, which turns actions on with it,
    and the HTTP trigger is opened for links (the function checks every request)."""
    stack = _stack(PublicUrl=PUBLIC)
    assert "ActionsKey" in stack.resources
    env = stack.function_environment()
    key = stack.attributes["ActionsKey"]["value"]
    assert env["ASSISTWATCH_ACTIONS_SECRET"] == key
    settings = load_settings(env)
    assert settings.actions_on
    assert settings.public_url == PUBLIC
    trigger = stack.resolve(RESOURCES["HttpTrigger"]["Properties"]["TriggerConfig"])
    assert trigger["authType"] == "anonymous"


def test_the_generated_key_has_at_least_256_bits_and_meets_the_settings_minimum():
    """GIVEN ActionsKey's properties WHEN counted as Heat's generator draws (each class's
    minimum from that class, the rest from all classes) THEN the key carries ≥ 256 bits
    and is longer than the 32 bytes the function asks of ASSISTWATCH_ACTIONS_SECRET."""
    import math

    props = RESOURCES["ActionsKey"]["Properties"]
    sizes = {"lowercase": 26, "uppercase": 26, "digits": 10}
    classes = props["character_classes"]
    alphabet = sum(sizes[c["class"]] for c in classes)
    drawn_per_class = sum(c["min"] * math.log2(sizes[c["class"]]) for c in classes)
    rest = props["length"] - sum(c["min"] for c in classes)
    assert drawn_per_class + rest * math.log2(alphabet) >= 256
    assert props["length"] >= 32
    assert RESOURCES["ActionsKey"]["Condition"] == "GenerateActionsKey"


def test_a_given_key_is_used_and_none_is_generated():
    """GIVEN PublicUrl and an ActionsSecret WHEN created THEN the function signs with that
    key and no random string resource is made."""
    stack = _stack(PublicUrl=PUBLIC, ActionsSecret=GIVEN_KEY)
    assert "ActionsKey" not in stack.resources
    env = stack.function_environment()
    assert env["ASSISTWATCH_ACTIONS_SECRET"] == GIVEN_KEY
    assert load_settings(env).actions_on


def test_without_a_public_url_actions_stay_off_and_nothing_is_generated():
    """GIVEN the defaults (no PublicUrl) WHEN created THEN no key is made, the function has
    no actions, and the HTTP trigger still needs FC's signature."""
    stack = _stack()
    assert "ActionsKey" not in stack.resources
    env = stack.function_environment()
    assert "ASSISTWATCH_PUBLIC_URL" not in env
    assert "ASSISTWATCH_SERVE_TOKEN" not in env
    assert not load_settings(env).actions_on
    trigger = stack.resolve(RESOURCES["HttpTrigger"]["Properties"]["TriggerConfig"])
    assert trigger == {"authType": "function", "methods": ["POST"], "disableURLInternet": False}


def test_a_stack_without_the_function_generates_no_key():
    """GIVEN DeployFunction=false (s.yaml deploys the function, with its own key) WHEN created
    with PublicUrl THEN no key is made here: nothing could read it."""
    stack = _stack(PublicUrl=PUBLIC, DeployFunction=False)
    assert "ActionsKey" not in stack.resources
    assert "Function" not in stack.resources


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"ActionsSecret": GIVEN_KEY}, "ActionsNeedPublicUrl: ActionsSecret signs action links"),
        ({"ServeToken": TOKEN}, "ActionsNeedPublicUrl: ServeToken is checked only with PublicUrl"),
        ({"PublicUrl": PUBLIC, "ActionsSecret": "k" * 31}, "ActionsSecret: empty, or at least 32"),
        ({"PublicUrl": PUBLIC, "ServeToken": "t" * 15}, "ServeToken: empty, or at least 16"),
        ({"PublicUrl": PUBLIC, "ServeToken": "token with spaces"}, "ServeToken: empty, or at"),
        ({"PublicUrl": "http://watch.example.com"}, "PublicUrl: AllowedPattern"),
    ],
    ids=["key-alone", "token-alone", "short-key", "short-token", "token-spaces", "plain-http"],
)
def test_what_cannot_work_is_refused_before_anything_is_created(given, refusal):
    """GIVEN a key or a token without PublicUrl (they would do nothing), a key shorter than
    the function accepts, a token shorter than it checks or one no Authorization header can
    carry WHEN the stack is created THEN ROS refuses it with a sentence saying why."""
    from tests.ros_eval import Refused

    with pytest.raises(Refused) as refused:
        _stack(**given)
    assert str(refused.value).startswith(refusal)


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"PublicUrl": PUBLIC},
        {"PublicUrl": PUBLIC, "ActionsSecret": GIVEN_KEY, "ServeToken": TOKEN},
    ],
    ids=["off", "generated", "given"],
)
def test_no_output_shows_the_key_or_the_token(given):
    """GIVEN any stack WHEN its Outputs are read (anyone with ros:GetStack sees them) THEN
    neither the generated key, a given key nor the serve token is among them; no Output even
    names the key's resource or those parameters."""
    stack = _stack(**given)
    shown = json.dumps(stack.outputs())
    secrets = [stack.attributes["ActionsKey"]["value"], GIVEN_KEY, TOKEN]
    assert not [s for s in secrets if s in shown]
    declared = json.dumps(TEMPLATE["Outputs"])
    assert not [n for n in ("ActionsKey", "ActionsSecret", "ServeToken") if n in declared]


@pytest.fixture
def deployed() -> Iterator[tuple[dict[str, str], Any]]:
    """What FC adds to the stack's environment, around fakes of the stack's Table Store
    table and of Cloud Assistant (an empty fleet: nothing to tell, nothing sent)."""
    from tests.fakes.cloudassist import (
        DEMO_ACCESS_KEY_ID,
        DEMO_ACCESS_KEY_SECRET,
        CloudAssistantFake,
    )
    from tests.fakes.ots import FakeTableStore

    store = FakeTableStore(
        instance="aw4a6c9851",
        access_key_id=DEMO_ACCESS_KEY_ID,
        access_key_secret=DEMO_ACCESS_KEY_SECRET,
    ).start()
    store.create_table(RESOURCES["StateTable"]["Properties"]["TableName"], ttl=3_715_200)
    with CloudAssistantFake({DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}) as cloud:
        try:
            fc = {
                "ASSISTWATCH_OTS_ENDPOINT": store.endpoint,
                "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
                "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
                "FC_FUNCTION_NAME": "assistwatch",
                "FC_REGION": "cn-hangzhou",
            }
            yield fc, cloud
        finally:
            store.stop()


def _fc_request(env: dict[str, str], path: str, **headers: str) -> Any:
    """An HTTP trigger request (FC 3.0's v1 envelope) to the function deployed with ``env``."""
    from lib.edges import entry

    event = {
        "version": "v1",
        "rawPath": path,
        "headers": headers,
        "queryParameters": {},
        "body": json.dumps({"action": "poll"}),
        "isBase64Encoded": False,
        "requestContext": {
            "http": {"method": "POST" if path != "/ops" else "GET", "path": path},
            "sourceIp": "203.0.113.9",
        },
    }
    entry.reset()
    return entry.handle(json.dumps(event).encode(), None, environ=env, stream=io.StringIO())


@pytest.mark.parametrize("path", ["/invoke", "/", "/ops"])
def test_with_actions_on_and_no_serve_token_only_signed_links_reach_the_function(deployed, path):
    """GIVEN a stack with PublicUrl and no ServeToken (the trigger anonymous) WHEN a manual
    poll or the operator page is asked for over HTTP, with or without a bearer token
    THEN 401: only signed links (and the timer and EventBridge triggers) reach it."""
    env = {**_stack(PublicUrl=PUBLIC).function_environment(), **deployed[0]}
    for headers in ({}, {"authorization": f"Bearer {TOKEN}"}):
        reply = _fc_request(env, path, **headers)
        assert reply["statusCode"] == 401, headers
    assert deployed[1].calls == []  # nothing ran


def test_with_a_serve_token_the_operator_may_still_poll_and_open_the_page(deployed):
    """GIVEN a stack with PublicUrl and a ServeToken WHEN the operator page is asked for with
    `Authorization: Bearer <ServeToken>` THEN it is served; without it (or with another
    token) 401, and the token shows on no reply."""
    env = {**_stack(PublicUrl=PUBLIC, ServeToken=TOKEN).function_environment(), **deployed[0]}
    assert env["ASSISTWATCH_SERVE_TOKEN"] == TOKEN
    page = _fc_request(env, "/ops", authorization=f"Bearer {TOKEN}")
    assert page["statusCode"] == 200
    assert TOKEN not in page["body"]
    assert _fc_request(env, "/ops")["statusCode"] == 401
    other = _fc_request(env, "/", authorization=f"Bearer {TOKEN}x")
    assert other["statusCode"] == 401
    assert deployed[1].calls == []
    poll = _fc_request(env, "/invoke", authorization=f"Bearer {TOKEN}")
    assert poll["statusCode"] == 200
    assert json.loads(poll["body"])["ok"] is True
    assert deployed[1].calls != []  # the poll read Cloud Assistant
    assert TOKEN not in json.dumps(poll)
    from lib.support.scrubber import scrub

    assert TOKEN not in scrub(f"a log line quoting Bearer {TOKEN}")  # masked like the robot URL
