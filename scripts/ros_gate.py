"""The deploy gate: template.yml against the official ROS resource specifications, s.yaml
against devsapp/fc3's published schema. Run by `make test` (tests/test_deploy_gate.py) and by
hand: ``python scripts/ros_gate.py [template.yml] [s.yaml]`` (exit 1 and one line per error).

template.yml: the template's structure (sections, parameters and their defaults, references)
is checked here; every resource goes through the ROS CDK's own generated property validators
(``ros-cdk-*`` 1.15.0 on PyPI, the same code as npm's ``@alicloud/ros-cdk-*``) run by node in
scripts/ros_gate.js: an unknown type, a misspelt property, a missing required one, a wrong
type, a value out of range or not allowed fails. The wheels carry the npm packages as jsii
tarballs; they are unpacked once into .venv/ros-gate (no jsii kernel, no Python import).
A type ROS has that those packages lack (ALIYUN::RandomString) is checked here instead,
against HAND_SPECS, written from official templates and cited.

s.yaml: validated with jsonschema against scripts/schemas/devsapp-fc3.schema.json, read
strictly (an object's listed properties are the only ones allowed: the schema itself leaves
extra keys open, which would let a misspelt key through).

What neither catches: docs/decisions.md "Deploy gate".
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
GATE_JS = ROOT / "scripts" / "ros_gate.js"
FC3_SCHEMA = ROOT / "scripts" / "schemas" / "devsapp-fc3.schema.json"
CDK_VERSION = "1.15.0"
# The wheels whose jsii tarballs make up the node_modules the validators load.
CDK_WHEELS = (
    "ros_cdk_core",
    "ros_cdk_cxapi",
    "ros_cdk_assembly_schema",
    "constructs",
    "ros_cdk_fc3",
    "ros_cdk_ots",
    "ros_cdk_ram",
    "ros_cdk_mns",
    "ros_cdk_sls",
    "ros_cdk_cms",
    "ros_cdk_ros",
)

# ROS template structure (help.aliyun.com ROS user guide: template structure, "Parameters",
# "Rules", "Resources"): the sections, parameter keys and resource keys ROS accepts. Keys
# the gate does not know fail: add one here, with its source, when a template needs it.
SECTIONS = {
    "ROSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
    "Rules",
    "Locals",
    "Transform",
    "Workspace",
}
PARAMETER_TYPES = {
    "String",
    "Number",
    "CommaDelimitedList",
    "Json",
    "Boolean",
    "ALIYUN::OOS::Parameter::Value",
    "ALIYUN::OOS::SecretParameter::Value",
}
PARAMETER_KEYS = {
    "Type",
    "Default",
    "AllowedValues",
    "AllowedPattern",
    "MaxLength",
    "MinLength",
    "MaxValue",
    "MinValue",
    "NoEcho",
    "Description",
    "ConstraintDescription",
    "Label",
    "AssociationProperty",
    "AssociationPropertyMetadata",
}
RESOURCE_KEYS = {
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "Metadata",
    "Count",
}
RULE_KEYS = {"RuleCondition", "Assertions"}
PSEUDO = {
    "ALIYUN::Region",
    "ALIYUN::AccountId",
    "ALIYUN::StackId",
    "ALIYUN::StackName",
    "ALIYUN::NoValue",
    "ALIYUN::TenantId",
    "ALIYUN::Index",
}
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")

# Resource types ROS has but the ros-cdk 1.15.0 packages do not ship: checked against a
# hand-written specification, each value from an official source (docs/decisions.md,
# "A generated ActionsSecret"). A node is {"type": integer|string|list|map, ...}: integer
# with "min"/"max", string with "enum", list with "items", map with "properties" and
# "required". A key or value not written here fails, as an unknown property fails for the
# types the CDK knows; a type absent from both stays unknown.
#
# ALIYUN::RandomString: the properties and values aliyun/ros-templates uses (commit
# 9cc3b81, e.g. resources/nas/file-system-case3.yml, documents/solution/ops-on-cloud/
# deploy-nginx-services-through-ingress.yml, documents/solution/internet-application-
# development/Nginx-access-log-data-archive.yml) and the attribute ``value``; ranges (1-512)
# from OpenStack Heat's OS::Heat::RandomString, which ROS derives from. ``salt``, and the
# classes Heat has beyond these (lettersdigits, letters, hexdigits, octdigits), appear in
# no official ROS source found: they fail until one shows them.
_COUNT = {"type": "integer", "min": 1, "max": 512}
HAND_SPECS: dict[str, dict[str, Any]] = {
    "ALIYUN::RandomString": {
        "properties": {
            "length": _COUNT,
            "sequence": {"type": "string", "enum": ["lowercase"]},
            "character_classes": {
                "type": "list",
                "items": {
                    "type": "map",
                    "properties": {
                        "class": {"type": "string", "enum": ["lowercase", "uppercase", "digits"]},
                        "min": _COUNT,
                    },
                    "required": ["class"],
                },
            },
            "character_sequences": {
                "type": "list",
                "items": {
                    "type": "map",
                    "properties": {"sequence": {"type": "string"}, "min": _COUNT},
                    "required": ["sequence"],
                },
            },
        },
        "required": [],
        "attributes": ["value"],
    },
}


def _walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def _parameter_errors(params: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for name, spec in params.items():
        where = f"Parameters.{name}"
        errors += [f"{where}.{key}: not a parameter key" for key in set(spec) - PARAMETER_KEYS]
        if spec.get("Type") not in PARAMETER_TYPES:
            errors.append(f"{where}.Type: {spec.get('Type')!r} is not a ROS parameter type")
        if "Default" not in spec or spec.get("Type") != "String":
            continue
        default = str(spec["Default"])
        shown = "(NoEcho)" if spec.get("NoEcho") else repr(default)  # a secret is never echoed
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, default):
            errors.append(f"{where}: Default {shown} does not match AllowedPattern")
        allowed = spec.get("AllowedValues")
        if allowed is not None and spec["Default"] not in allowed:
            errors.append(f"{where}: Default {shown} is not in AllowedValues")
        if not spec.get("MinLength", 0) <= len(default) <= spec.get("MaxLength", 10**9):
            errors.append(f"{where}: Default {shown} is outside MinLength..MaxLength")
    return errors


def _reference_errors(
    template: dict[str, Any], attributes: dict[str, list[str]] | None = None
) -> list[str]:
    """Every Ref, GetAtt, Sub variable, Condition and DependsOn names something that exists."""
    params = set(template.get("Parameters", {}))
    resources: dict[str, Any] = template.get("Resources", {})
    conditions = set(template.get("Conditions", {}))
    known = params | set(resources) | PSEUDO
    errors: list[str] = []

    def attribute_error(where: str, resource: str, attribute: str) -> str | None:
        if resource not in resources:
            return f"{where}: GetAtt of unknown resource {resource!r}"
        names = (attributes or {}).get(resources[resource]["Type"])
        if names is not None and attribute not in names:
            return f"{where}: {resources[resource]['Type']} has no attribute {attribute!r}"
        return None

    for where, node in _walk(template, "template"):
        if not isinstance(node, dict) or len(node) != 1:
            continue
        [(key, value)] = node.items()
        if key == "Ref" and value not in known:
            errors.append(f"{where}: Ref to unknown {value!r}")
        elif key == "Fn::GetAtt":
            error = attribute_error(where, value[0], value[1])
            errors += [error] if error else []
        elif key == "Fn::Sub":
            text, local = (value, {}) if isinstance(value, str) else (value[0], value[1])
            for variable in SUB_VARIABLE.findall(text):
                resource, _, attribute = variable.partition(".")
                if variable in known or variable in local:
                    continue
                error = (
                    attribute_error(where, resource, attribute)
                    if attribute and resource in resources
                    else f"{where}: Sub variable ${{{variable}}} names nothing"
                )
                errors += [error] if error else []
        elif key in {"Condition", "Fn::If"}:
            name = value if isinstance(value, str) else value[0]
            if isinstance(name, str) and name not in conditions and where.count(".") > 2:
                errors.append(f"{where}: unknown condition {name!r}")
    return errors + _section_errors(template) + _condition_shape_errors(template)


def _condition_shape_errors(template: dict[str, Any]) -> list[str]:
    """ROS's condition functions by their declarations (ROS user guide, Fn::Not / Fn::And /
    Fn::Or): Fn::Not takes one condition (not a list, as CloudFormation's does); Fn::And
    and Fn::Or a list of at least two."""
    errors: list[str] = []
    for where, node in _walk(template, "template"):
        if not isinstance(node, dict) or len(node) != 1:
            continue
        [(key, value)] = node.items()
        if key == "Fn::Not" and isinstance(value, list):
            errors.append(f"{where}: Fn::Not takes one condition, not a list")
        elif key in {"Fn::And", "Fn::Or"} and not (isinstance(value, list) and len(value) >= 2):
            errors.append(f"{where}: {key} takes a list of at least two conditions")
    return errors


def _section_errors(template: dict[str, Any]) -> list[str]:
    """Resource keys, resource Conditions and DependsOn, and the Rules' shape."""
    resources: dict[str, Any] = template.get("Resources", {})
    conditions = set(template.get("Conditions", {}))
    errors: list[str] = []
    for name, resource in resources.items():
        where = f"Resources.{name}"
        errors += [f"{where}.{key}: not a resource key" for key in set(resource) - RESOURCE_KEYS]
        if "Condition" in resource and resource["Condition"] not in conditions:
            errors.append(f"{where}.Condition: unknown condition {resource['Condition']!r}")
        depends = resource.get("DependsOn", [])
        for other in [depends] if isinstance(depends, str) else depends:
            if other not in resources:
                errors.append(f"{where}.DependsOn: unknown resource {other!r}")
    for name, rule in template.get("Rules", {}).items():
        errors += [f"Rules.{name}.{key}: not a rule key" for key in set(rule) - RULE_KEYS]
        for index, assertion in enumerate(rule.get("Assertions", [])):
            if set(assertion) - {"Assert", "AssertDescription"} or "Assert" not in assertion:
                errors.append(
                    f"Rules.{name}.Assertions[{index}]: needs Assert (+AssertDescription)"
                )
    return errors


def _with_defaults(node: Any, params: dict[str, Any]) -> Any:
    """A Ref to a String/Number parameter with a non-empty Default (not NoEcho) becomes that
    default, so the validators see the values a stack created with defaults would get."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in params:
            spec = params[node["Ref"]]
            default = spec.get("Default")
            # A NoEcho default stays a Ref: a validator's message would quote the value.
            usable = default not in (None, "") and not spec.get("NoEcho")
            if usable and spec.get("Type") in {"String", "Number"}:
                return default if spec["Type"] == "String" else float(default)
            return node
        return {key: _with_defaults(value, params) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_defaults(value, params) for value in node]
    return node


def _is_intrinsic(value: Any) -> bool:
    """A Ref or Fn::* (its value is known only at deploy time), as ros_gate.js reads it."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key == "Ref" or key.startswith("Fn::")


def _integer_errors(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool):
        return [f"{where}: {value!r} is not an integer"]
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{where}: {value} is outside {low}..{high}"]
    return []


def _string_errors(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    allowed = spec.get("enum")
    if allowed is not None and value not in allowed:
        return [f"{where}: {value!r} is not one of {', '.join(allowed)}"]
    return []


def _list_errors(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: expected a list"]
    return [
        error
        for index, item in enumerate(value)
        for error in _value_errors(f"{where}[{index}]", item, spec["items"])
    ]


def _map_errors(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected a map"]
    known: dict[str, Any] = spec["properties"]
    errors = [
        f"{where}.{key}: not a property of this type (misspelt?)"
        for key in value
        if key not in known
    ]
    errors += [f"{where}.{key}: required" for key in spec.get("required", []) if key not in value]
    for key, item in value.items():
        if key in known:
            errors += _value_errors(f"{where}.{key}", item, known[key])
    return errors


_CHECKS = {
    "integer": _integer_errors,
    "string": _string_errors,
    "list": _list_errors,
    "map": _map_errors,
}


def _value_errors(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    """``value`` against one node of a hand-written specification (HAND_SPECS)."""
    return [] if _is_intrinsic(value) else _CHECKS[spec["type"]](where, value, spec)


def hand_spec_errors(name: str, resource: dict[str, Any]) -> list[str]:
    """A resource of a HAND_SPECS type against its specification; for RandomString also
    Heat's own check that the length holds every class's and sequence's minimum."""
    spec = HAND_SPECS[resource["Type"]]
    properties = resource.get("Properties", {})
    errors = _value_errors(f"{name}.Properties", properties, {"type": "map", **spec})
    if errors or resource["Type"] != "ALIYUN::RandomString" or _is_intrinsic(properties):
        return errors
    groups = [properties.get("character_classes", []), properties.get("character_sequences", [])]
    if any(_is_intrinsic(g) for g in groups):
        return errors
    minimums = [item.get("min", 1) for group in groups for item in group]
    length = properties.get("length", 32)  # Heat's default
    if all(isinstance(n, int) for n in [*minimums, length]) and sum(minimums) > length:
        errors.append(
            f"{name}.Properties.length: {length} is shorter than the classes' and sequences' "
            f"minimums together ({sum(minimums)})"
        )
    return errors


def cdk_versions() -> dict[str, str]:
    """The installed ros-cdk-* wheels: each must be the version the gate was written against."""
    return {
        wheel: importlib.metadata.version(wheel.replace("_", "-"))
        for wheel in CDK_WHEELS
        if wheel.startswith("ros_cdk") and wheel not in {"ros_cdk_cxapi", "ros_cdk_assembly_schema"}
    }


def node_modules(cache: Path | None = None) -> Path:
    """node_modules holding the @alicloud/ros-cdk-* packages, unpacked from the wheels."""
    cache = cache or Path(sys.prefix) / "ros-gate" / CDK_VERSION
    target = cache / "node_modules"
    stamp = cache / ".complete"
    if stamp.exists():
        return target
    shutil.rmtree(cache, ignore_errors=True)
    for wheel in CDK_WHEELS:
        spec = importlib.util.find_spec(wheel)  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{wheel} is not installed: run `make install`")
        [tarball] = Path(next(iter(spec.submodule_search_locations)), "_jsii").glob("*.jsii.tgz")
        unpacked = cache / "unpack" / wheel
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data") if sys.version_info >= (3, 12) else (
                archive.extractall(unpacked)
            )
        name = json.loads((unpacked / "package" / "package.json").read_text())["name"]
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        (unpacked / "package").rename(destination)
    shutil.rmtree(cache / "unpack")
    stamp.touch()
    return target


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise RuntimeError("the ROS gate needs node (apt-get install nodejs; .ci/run does it)")
    return node


def check_template(template: dict[str, Any]) -> list[str]:
    """Every reason ROS would refuse this template that the official specifications show."""
    errors = [f"{key}: not a ROS template section" for key in set(template) - SECTIONS]
    if template.get("ROSTemplateFormatVersion") != "2015-09-01":
        errors.append("ROSTemplateFormatVersion: must be '2015-09-01'")
    params: dict[str, Any] = template.get("Parameters", {})
    errors += _parameter_errors(params)
    resources = _with_defaults(template.get("Resources", {}), params)
    by_hand = {name: r for name, r in resources.items() if r.get("Type") in HAND_SPECS}
    run = subprocess.run(
        [_node(), str(GATE_JS), str(node_modules())],
        input=json.dumps({n: r for n, r in resources.items() if n not in by_hand}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if run.returncode != 0:
        raise RuntimeError(f"scripts/ros_gate.js failed: {run.stderr.strip()[-2000:]}")
    result = json.loads(run.stdout)
    errors += result["errors"]
    for name, resource in by_hand.items():
        errors += hand_spec_errors(name, resource)
        result["attributes"][resource["Type"]] = HAND_SPECS[resource["Type"]]["attributes"]
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "ALIYUN::FC3::Trigger":
            config = resource.get("Properties", {}).get("TriggerConfig", {})
            errors += _fc_rule_errors(f"{name}.Properties.TriggerConfig", config)
    errors += _reference_errors(template, result["attributes"])
    return errors


def _strict(schema: Any) -> Any:
    """The schema with additionalProperties false wherever an object lists its properties
    and says nothing about others (a misspelt key fails). IEventBridge's ``required`` is
    dropped: devsapp/fc3's own e2e example of a Default-source trigger has neither
    eventSinkConfig nor eventSourceParameters, and the FC API marks neither required."""
    schema = copy.deepcopy(schema)
    for _, node in _walk(schema, "schema"):
        if isinstance(node, dict) and "properties" in node and node["properties"]:
            node.setdefault("additionalProperties", False)
    bridge = schema["definitions"]["IEventBridge"]
    bridge.pop("required", None)
    bridge["properties"]["eventSourceConfig"].pop("required", None)
    return schema


# Serverless Devs' variables: ${env('NAME', 'default')} and ${vars.name}, resolved as `s`
# would with nothing exported (a required env() without default becomes a placeholder).
ENV_CALL = re.compile(r"\$\{env\('([^']+)'(?:,\s*'([^']*)')?\)\}")
VARS_REF = re.compile(r"\$\{vars\.(\w+)\}")
# triggerType -> the definition its triggerConfig must match (devsapp/fc3 ITriggerType).
TRIGGER_CONFIGS = {
    "timer": "ITimerTriggerConfig",
    "http": "IHttpTriggerConfig",
    "eventbridge": "IEventBridge",
    "oss": "IOssTriggerConfig",
    "log": "ILogTriggerConfig",
    "mns_topic": "IMnsTriggerConfig",
    "cdn_events": "ICdnTriggerConfig",
}


def _resolve(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _resolve(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, variables) for value in node]
    if isinstance(node, str):
        node = ENV_CALL.sub(
            lambda m: m.group(2) if m.group(2) is not None else f"<{m.group(1)}>", node
        )
        return VARS_REF.sub(lambda m: variables.get(m.group(1), m.group(0)), node)
    return node


def _fc_rule_errors(where: str, config: dict[str, Any]) -> list[str]:
    """FC rules no schema states: event-driven mode takes no batch window (RunOptions.mode,
    FC 3.0 API / alibabacloud-fc20230330)."""
    options = config.get("runOptions", {}) if isinstance(config, dict) else {}
    if (
        isinstance(options, dict)
        and options.get("mode") == "event-driven"
        and "batchWindow" in options
    ):
        return [f"{where}.runOptions: event-driven mode does not support batchWindow"]
    return []


def check_sdevs(doc: dict[str, Any]) -> list[str]:
    """s.yaml's fc3 resources against devsapp/fc3's schema (read strictly)."""
    import jsonschema

    schema = _strict(json.loads(FC3_SCHEMA.read_text(encoding="utf-8")))
    validator = jsonschema.Draft7Validator(schema)
    variables = {key: str(_resolve(value, {})) for key, value in doc.get("vars", {}).items()}
    errors: list[str] = []

    def collect(found: Iterator[Any], where: str) -> None:
        for error in found:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            errors.append(f"{where}{path}: {error.message}")

    for name, resource in doc.get("resources", {}).items():
        where = f"resources.{name}.props"
        if resource.get("component") != "fc3":
            errors.append(f"resources.{name}: component {resource.get('component')!r} is not fc3")
            continue
        props = _resolve(resource.get("props", {}), variables)
        collect(validator.iter_errors(props), where)
        for index, trigger in enumerate(props.get("triggers", [])):
            definition = TRIGGER_CONFIGS.get(trigger.get("triggerType"))
            config = trigger.get("triggerConfig", {})
            if definition is None:
                continue  # the schema's ITriggerType enum has already said so
            one = jsonschema.Draft7Validator(
                {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
            )
            collect(one.iter_errors(config), f"{where}.triggers[{index}].triggerConfig")
            errors += _fc_rule_errors(f"{where}.triggers[{index}].triggerConfig", config)
    return errors


def main(argv: list[str]) -> int:
    template_path = Path(argv[0]) if argv else ROOT / "template.yml"
    sdevs_path = Path(argv[1]) if len(argv) > 1 else ROOT / "s.yaml"
    errors = check_template(yaml.safe_load(template_path.read_text(encoding="utf-8")))
    errors += check_sdevs(yaml.safe_load(sdevs_path.read_text(encoding="utf-8")))
    for error in errors:
        print(error, file=sys.stderr)
    versions = ", ".join(f"{name.replace('_', '-')} {v}" for name, v in cdk_versions().items())
    print(f"ros gate: {len(errors)} error(s) (validators: {versions}; schema: {FC3_SCHEMA.name})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
