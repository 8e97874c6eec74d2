"""What ROS would make of template.yml for a set of parameter values, as far as the tests need:
parameter checks (AllowedPattern, MinLength/MaxLength), Rules, Conditions, which resources
exist, and the function's environment (Ref, Fn::If, Fn::GetAtt, Fn::Sub, ALIYUN::NoValue).

It follows the ROS user guide's semantics for these functions (Conditions, Fn::If, Rules);
the values of resource attributes are supplied by the test (``attributes``), as ROS
would fill them at creation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NO_VALUE = object()


class Refused(Exception):
    """ROS refuses the stack before creating anything (a parameter or a Rule)."""


def parameters(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: given or default; Refused names a value ROS would reject."""
    values: dict[str, Any] = {}
    for name, spec in template["Parameters"].items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            raise Refused(f"{name}: no value and no default")
        text = str(value)
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, text):
            raise Refused(f"{name}: {spec.get('ConstraintDescription', 'AllowedPattern')}")
        if not spec.get("MinLength", 0) <= len(text) <= spec.get("MaxLength", 10**9):
            raise Refused(f"{name}: length")
        if "AllowedValues" in spec and value not in spec["AllowedValues"]:
            raise Refused(f"{name}: not an allowed value")
        values[name] = value
    unknown = set(given) - set(values)
    if unknown:
        raise Refused(f"unknown parameters {sorted(unknown)}")
    return values


def _truth(node: Any, values: Mapping[str, Any]) -> bool:
    [(key, arg)] = node.items()
    if key == "Fn::Equals":
        left, right = (_value(x, values) for x in arg)
        return bool(left == right)
    if key == "Fn::Not":
        return not _truth(arg, values)
    if key == "Fn::And":
        return all(_truth(x, values) for x in arg)
    if key == "Fn::Or":
        return any(_truth(x, values) for x in arg)
    raise AssertionError(f"condition function {key} not modelled")


def _value(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return values[node["Ref"]]
    return node


class Stack:
    """The stack ROS would create from ``template`` with ``given`` parameter values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        given: Mapping[str, Any],
        attributes: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.template = template
        self.values = parameters(template, given)
        for name, rule in template.get("Rules", {}).items():
            condition = rule.get("RuleCondition")
            if condition is not None and not _truth(condition, self.values):
                continue
            for assertion in rule["Assertions"]:
                if not _truth(assertion["Assert"], self.values):
                    raise Refused(f"{name}: {assertion.get('AssertDescription', '')}")
        self.conditions = {
            name: _truth(body, self.values) for name, body in template["Conditions"].items()
        }
        self.resources = {
            name: resource
            for name, resource in template["Resources"].items()
            if self.conditions.get(resource.get("Condition", ""), "Condition" not in resource)
        }
        self.attributes = attributes or {}

    def resolve(self, node: Any) -> Any:
        """A property value as ROS renders it (NO_VALUE: the property is left out)."""
        if isinstance(node, list):
            return [self.resolve(x) for x in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
            return self._function(*next(iter(node.items())))
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return NO_VALUE if arg == "ALIYUN::NoValue" else self.values[arg]
        if key == "Fn::If":
            name, if_true, if_false = arg
            return self.resolve(if_true if self.conditions[name] else if_false)
        if key == "Fn::GetAtt":
            resource, attribute = arg
            assert resource in self.resources, f"GetAtt of {resource}, not created"
            return self.attributes[resource][attribute]
        if key == "Fn::Sub":
            return re.sub(r"\$\{([\w.]+)\}", lambda m: self._sub(m.group(1)), arg)
        if key == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text)).split(separator)
        raise AssertionError(f"{key} not modelled")

    def _sub(self, name: str) -> str:
        if name in self.values:
            return str(self.values[name])
        resource, _, attribute = name.partition(".")
        return self.attributes[resource][attribute]

    def function_environment(self) -> dict[str, str]:
        """ASSISTWATCH_* as the deployed function sees them."""
        assert "Function" in self.resources, "no function in this stack"
        env = self.resolve(self.template["Resources"]["Function"]["Properties"])
        return {key: str(value) for key, value in env["EnvironmentVariables"].items()}

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if self.conditions.get(output.get("Condition", ""), "Condition" not in output)
        }
