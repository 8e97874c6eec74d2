"""The deploy gate (scripts/ros_gate.py): template.yml through the ROS CDK's own validators,
s.yaml through devsapp/fc3's schema. The shipped files pass; each mutation a person could
make by mistake fails the suite with a line naming the resource and the property."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import ros_gate

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE: dict[str, Any] = yaml.safe_load((ROOT / "template.yml").read_text(encoding="utf-8"))
SDEVS: dict[str, Any] = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))


def _template() -> dict[str, Any]:
    return copy.deepcopy(TEMPLATE)


def _props() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = copy.deepcopy(SDEVS)
    return doc, doc["resources"]["assistwatch"]["props"]


def test_the_shipped_template_passes_the_ros_specifications():
    """GIVEN template.yml WHEN run through the ros-cdk 1.15.0 validators THEN no error."""
    assert ros_gate.check_template(TEMPLATE) == []


def test_the_shipped_sdevs_passes_the_fc3_schema():
    """GIVEN s.yaml WHEN validated against devsapp/fc3's schema THEN no error."""
    assert ros_gate.check_sdevs(SDEVS) == []


def test_the_gate_checks_the_versions_it_was_written_against():
    """GIVEN the installed ros-cdk wheels WHEN listed THEN every one is 1.15.0 (a newer
    spec would change what passes: the pin in pyproject.toml is deliberate)."""
    versions = ros_gate.cdk_versions()
    assert set(versions.values()) == {ros_gate.CDK_VERSION}
    assert {"ros_cdk_fc3", "ros_cdk_mns", "ros_cdk_cms", "ros_cdk_ram"} <= set(versions)


def test_a_retention_period_beyond_seven_days_fails():
    """GIVEN the queue's retention set back to 14 days (issue #13 item 1) WHEN gated
    THEN the gate says the MNS queue's MessageRetentionPeriod is out of range."""
    template = _template()
    template["Resources"]["FailedQueue"]["Properties"]["MessageRetentionPeriod"] = 1209600
    errors = ros_gate.check_template(template)
    assert len(errors) == 1
    assert "FailedQueue" in errors[0]
    assert "messageRetentionPeriod: 1209600 is larger" in errors[0]


def test_a_misspelt_property_fails():
    """GIVEN MemorySize misspelt MemmorySize WHEN gated THEN the gate names the key."""
    template = _template()
    function = template["Resources"]["Function"]["Properties"]
    function["MemmorySize"] = function.pop("MemorySize")
    assert ros_gate.check_template(template) == [
        "Function.Properties.MemmorySize: not a property of this type (misspelt?)"
    ]


def test_a_misspelt_nested_property_fails():
    """GIVEN the async config's OnFailure misspelt WHEN gated THEN the nested key is named."""
    template = _template()
    config = template["Resources"]["AsyncConfig"]["Properties"]["DestinationConfig"]
    config["OnFailur"] = config.pop("OnFailure")
    assert ros_gate.check_template(template) == [
        "AsyncConfig.Properties.DestinationConfig.OnFailur: not a property of this type (misspelt?)"
    ]


def test_an_unknown_resource_type_fails():
    """GIVEN the legacy ALIYUN::CMS::Alarm (issue #13 item 2) WHEN gated THEN it is unknown."""
    template = _template()
    template["Resources"]["Legacy"] = {"Type": "ALIYUN::CMS::Alarm", "Properties": {}}
    [error] = ros_gate.check_template(template)
    assert error.startswith("Legacy: unknown resource type ALIYUN::CMS::Alarm")


def test_a_policy_resource_as_a_string_fails():
    """GIVEN a RAM statement's Resource as the string '*' WHEN gated THEN it must be a list."""
    template = _template()
    statements = template["Resources"]["FunctionRole"]["Properties"]["Policies"][0]
    statements["PolicyDocument"]["Statement"][0]["Resource"] = "*"
    [error] = ros_gate.check_template(template)
    assert 'resource: "*" should be a list' in error


def test_a_parameter_default_breaking_its_own_pattern_fails():
    """GIVEN FunctionName's default not matching its AllowedPattern WHEN gated THEN it fails."""
    template = _template()
    template["Parameters"]["FunctionName"]["Default"] = "Assist_Watch"
    errors = ros_gate.check_template(template)
    assert "Parameters.FunctionName: Default 'Assist_Watch' does not match AllowedPattern" in errors


def test_a_dangling_reference_fails():
    """GIVEN a GetAtt of an attribute the type lacks and a Ref to nothing WHEN gated
    THEN both are named."""
    template = _template()
    function = template["Resources"]["Function"]["Properties"]
    function["Role"] = {"Fn::GetAtt": ["FunctionRole", "Arnn"]}
    function["Description"] = {"Ref": "Nothing"}
    errors = ros_gate.check_template(template)
    assert any("ALIYUN::RAM::Role has no attribute 'Arnn'" in e for e in errors)
    assert any("Ref to unknown 'Nothing'" in e for e in errors)


def test_a_batch_window_in_event_driven_mode_fails_in_both_files():
    """GIVEN a batchWindow with mode event-driven (issue #13 item 3) WHEN gated
    THEN template and s.yaml are both refused."""
    template = _template()
    options = template["Resources"]["TaskCompletedTrigger"]["Properties"]["TriggerConfig"]
    options["runOptions"]["batchWindow"] = {"CountBasedWindow": 100, "TimeBasedWindow": 15}
    assert ros_gate.check_template(template) == [
        "TaskCompletedTrigger.Properties.TriggerConfig.runOptions: event-driven mode does not support batchWindow"
    ]
    doc, props = _props()
    [bridge] = [t for t in props["triggers"] if t["triggerType"] == "eventbridge"]
    bridge["triggerConfig"]["runOptions"]["batchWindow"] = {"CountBasedWindow": 100}
    assert any("does not support batchWindow" in e for e in ros_gate.check_sdevs(doc))


def test_a_misspelt_sdevs_key_fails():
    """GIVEN s.yaml's memorySize misspelt and a timer's cronExpression misspelt WHEN gated
    THEN each is refused by the fc3 schema read strictly."""
    doc, props = _props()
    props["memmorySize"] = props.pop("memorySize")
    timer = next(t for t in props["triggers"] if t["triggerType"] == "timer")
    timer["triggerConfig"]["cronExpresion"] = timer["triggerConfig"].pop("cronExpression")
    errors = ros_gate.check_sdevs(doc)
    assert any("'memmorySize' was unexpected" in e for e in errors)
    assert any("triggers[0].triggerConfig" in e and "cronExpresion" in e for e in errors)


def test_an_sdevs_value_out_of_range_fails():
    """GIVEN more async retries than FC allows (0..8) WHEN gated THEN s.yaml is refused."""
    doc, props = _props()
    props["asyncInvokeConfig"]["maxAsyncRetryAttempts"] = 9
    [error] = ros_gate.check_sdevs(doc)
    assert error.startswith("resources.assistwatch.props.asyncInvokeConfig.maxAsyncRetryAttempts")


def test_the_command_line_exits_nonzero_naming_the_error(tmp_path, capsys):
    """GIVEN a broken template on disk WHEN `python scripts/ros_gate.py` runs THEN exit 1
    and the error on stderr; the shipped files exit 0."""
    broken = _template()
    broken["Resources"]["FailedQueue"]["Properties"]["MessageRetentionPeriod"] = 10
    path = tmp_path / "template.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert ros_gate.main([str(path), str(ROOT / "s.yaml")]) == 1
    assert "messageRetentionPeriod: 10 is less than min value(60)" in capsys.readouterr().err
    assert ros_gate.main([]) == 0


def test_without_node_the_gate_says_how_to_get_it(monkeypatch):
    """GIVEN no node on PATH WHEN the gate runs THEN one line says how to install it."""
    monkeypatch.setattr("scripts.ros_gate.shutil.which", lambda _: None)
    with pytest.raises(RuntimeError, match="apt-get install nodejs"):
        ros_gate.check_template(TEMPLATE)


def test_a_noecho_default_is_never_quoted_in_an_error():
    """GIVEN a robot secret left as a NoEcho parameter's default that breaks its pattern
    and is used where a validator checks the value WHEN gated THEN the error names the
    parameter, never the secret."""
    template = _template()
    secret = "SECabc123-do-not-print"
    template["Parameters"]["WeComUrl"]["Default"] = secret
    template["Resources"]["FailedQueue"]["Properties"]["QueueName"] = {"Ref": "WeComUrl"}
    errors = ros_gate.check_template(template)
    assert "Parameters.WeComUrl: Default (NoEcho) does not match AllowedPattern" in errors
    assert secret not in "\n".join(errors)


def test_a_condition_function_in_cloudformation_shape_fails():
    """GIVEN Fn::Not written as CloudFormation's one-element list, and an Fn::Or of one
    condition WHEN gated THEN both are refused as ROS declares them."""
    template = _template()
    rule = template["Rules"]["CodeWhenDeployed"]["Assertions"][0]
    rule["Assert"] = {"Fn::Not": [rule["Assert"]["Fn::Not"]]}
    template["Conditions"]["Lonely"] = {"Fn::Or": [{"Fn::Equals": ["a", "b"]}]}
    errors = ros_gate.check_template(template)
    assert any("Fn::Not takes one condition, not a list" in e for e in errors)
    assert any("Lonely: Fn::Or takes a list of at least two" in e for e in errors)


# ALIYUN::RandomString: not in the ros-cdk packages; the gate's hand-written spec checks it.
KEY: dict[str, Any] = {
    "Type": "ALIYUN::RandomString",
    "Properties": {
        "length": 64,
        "character_classes": [
            {"class": "lowercase", "min": 1},
            {"class": "uppercase", "min": 1},
            {"class": "digits", "min": 1},
        ],
    },
}


def _with_key(**properties: Any) -> dict[str, Any]:
    template = _template()
    key = copy.deepcopy(KEY)
    key["Properties"].update(properties)
    template["Resources"]["Key"] = key
    template["Outputs"]["KeyLength"] = {"Value": {"Fn::GetAtt": ["Key", "value"]}}
    return template


def test_a_random_string_as_ros_templates_writes_it_passes():
    """GIVEN an ALIYUN::RandomString written as aliyun/ros-templates writes them (length,
    character_classes; its attribute `value` read) WHEN gated THEN no error, though the
    ros-cdk packages do not know the type."""
    assert ros_gate.check_template(_with_key()) == []
    nginx_archive = _template()  # the other official shape: only `sequence`
    nginx_archive["Resources"]["Suffix"] = {
        "Type": "ALIYUN::RandomString",
        "Properties": {"sequence": "lowercase"},
    }
    assert ros_gate.check_template(nginx_archive) == []


def test_a_misspelt_random_string_property_fails():
    """GIVEN `length` misspelt `lenght` and a class's `min` misspelt WHEN gated THEN each
    key is named, as for the types the CDK knows."""
    template = _with_key()
    properties = template["Resources"]["Key"]["Properties"]
    properties["lenght"] = properties.pop("length")
    properties["character_classes"][1]["minimum"] = properties["character_classes"][1].pop("min")
    assert ros_gate.check_template(template) == [
        "Key.Properties.lenght: not a property of this type (misspelt?)",
        "Key.Properties.character_classes[1].minimum: not a property of this type (misspelt?)",
    ]


@pytest.mark.parametrize(
    ("properties", "error"),
    [
        ({"length": "64"}, "Key.Properties.length: '64' is not an integer"),
        ({"length": True}, "Key.Properties.length: True is not an integer"),
        ({"length": 0}, "Key.Properties.length: 0 is outside 1..512"),
        ({"length": 513}, "Key.Properties.length: 513 is outside 1..512"),
        ({"character_classes": "lowercase"}, "Key.Properties.character_classes: expected a list"),
        (
            {"character_classes": [{"class": "symbols"}]},
            "Key.Properties.character_classes[0].class: 'symbols' is not one of "
            "lowercase, uppercase, digits",
        ),
        (
            {"character_classes": [{"min": 2}]},
            "Key.Properties.character_classes[0].class: required",
        ),
        (
            {"character_sequences": [{"min": 1}]},
            "Key.Properties.character_sequences[0].sequence: required",
        ),
        ({"salt": "rotate-1"}, "Key.Properties.salt: not a property of this type (misspelt?)"),
        (
            {"length": 2},
            "Key.Properties.length: 2 is shorter than the classes' and sequences' minimums "
            "together (3)",
        ),
    ],
    ids=[
        "string",
        "bool",
        "zero",
        "too-long",
        "not-a-list",
        "class",
        "no-class",
        "no-seq",
        "salt",
        "short",
    ],
)
def test_a_random_string_of_the_wrong_shape_fails(properties, error):
    """GIVEN a RandomString with a wrong type, an out-of-range or unconfirmed value WHEN gated
    THEN the one line names the property and what is wrong."""
    assert ros_gate.check_template(_with_key(**properties)) == [error]


def test_a_random_string_attribute_other_than_value_fails():
    """GIVEN a GetAtt of `Value` (ROS's attribute is lowercase `value`) WHEN gated THEN it
    fails; a Ref to a parameter without a default in `length` is left for deploy time."""
    template = _with_key(length={"Ref": "KeyLength"})
    template["Parameters"]["KeyLength"] = {"Type": "Number", "MinValue": 32}
    template["Outputs"]["KeyLength"]["Value"]["Fn::GetAtt"][1] = "Value"
    assert ros_gate.check_template(template) == [
        "template.Outputs.KeyLength.Value: ALIYUN::RandomString has no attribute 'Value'"
    ]


def test_other_types_outside_the_cdk_still_fail():
    """GIVEN a type neither the CDK nor the hand-written specs know WHEN gated THEN unknown."""
    template = _template()
    template["Resources"]["Sleep"] = {"Type": "ALIYUN::RandomStrings", "Properties": {}}
    [error] = ros_gate.check_template(template)
    assert error.startswith("Sleep: unknown resource type ALIYUN::RandomStrings")


def test_the_shipped_generated_key_with_a_misspelt_property_fails():
    """GIVEN template.yml's ActionsKey with `character_classes` misspelt as CloudFormation
    or the console would spell it WHEN gated THEN the gate names it (the shipped one passes)."""
    template = _template()
    properties = template["Resources"]["ActionsKey"]["Properties"]
    properties["CharacterClasses"] = properties.pop("character_classes")
    assert ros_gate.check_template(template) == [
        "ActionsKey.Properties.CharacterClasses: not a property of this type (misspelt?)"
    ]
