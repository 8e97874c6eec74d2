"""``assistwatch check --deploy``: what the template will be given, and what the deployer needs.

Read from template.yml itself, so it follows the template as it changes:

- **parameters**: which ``ASSISTWATCH_*`` variable feeds which template parameter (found in
  the function's ``EnvironmentVariables``), the value each would get (secrets masked), a
  FAIL for a parameter with no default that nothing sets, and a warning for a variable set
  here that the template cannot carry (the deployed function would not have it);
- **permissions**: the RAM system policies that let a deployer create each resource type
  the template declares (docs/decisions.md "Deployer permissions" names the policy pages).
  They are listed, not verified: proving them would take RAM read access or a stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lib.edges.cli.preflight import Line

__all__ = ["POLICIES", "deploy_lines", "parameter_sources", "policies_for"]

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yml"

# Resource type (prefix) → the system policy that lets a RAM user create, update and delete
# it. ROS itself needs AliyunROSFullAccess; the code zip is read from OSS.
POLICIES: dict[str, str] = {
    "ROS": "AliyunROSFullAccess",
    "ALIYUN::FC3::": "AliyunFCFullAccess",
    "ALIYUN::OTS::": "AliyunOTSFullAccess",
    "ALIYUN::MNS::": "AliyunMNSFullAccess",
    "ALIYUN::SLS::": "AliyunLogFullAccess",
    "ALIYUN::RAM::": "AliyunRAMFullAccess",
    "ALIYUN::CMS::": "AliyunCloudMonitorFullAccess",
    "EventBridge": "AliyunEventBridgeFullAccess",
    "OSS": "AliyunOSSReadOnlyAccess",
}
_SECRET_HINTS = ("Url", "Secret", "Token", "Password")
_DEPLOYABLE = (
    *("dingtalk_url", "dingtalk_secret", "dingtalk_keyword", "wecom_url", "feishu_url"),
    *("feishu_secret", "webhook_url", "webhook_secret", "config", "regions", "sources"),
    *("accounts", "lookback", "repeat_interval", "lang", "fallback"),
)


def _load(path: Path) -> dict[str, Any]:
    import yaml

    template = yaml.safe_load(path.read_text(encoding="utf-8"))
    return template if isinstance(template, dict) else {}


def _refs(value: Any) -> Iterator[str]:
    """Every ``{Ref: X}`` inside a template value (through Fn::If and friends)."""
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            yield value["Ref"]
        for inner in value.values():
            yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


def parameter_sources(template: Mapping[str, Any]) -> dict[str, str]:
    """Template parameter → the ``ASSISTWATCH_*`` variable it sets on the function."""
    parameters = template.get("Parameters") or {}
    found: dict[str, str] = {}
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "ALIYUN::FC3::Function":
            continue
        variables = (resource.get("Properties") or {}).get("EnvironmentVariables") or {}
        for name, value in variables.items():
            for ref in _refs(value):
                if ref in parameters:
                    found.setdefault(ref, name)
    return found


def policies_for(template: Mapping[str, Any]) -> list[str]:
    """The system policies a deployer needs for this template, in a stable order."""
    types = {
        str(r.get("Type", ""))
        for r in (template.get("Resources") or {}).values()
        if isinstance(r, dict)
    }
    needed = ["AliyunROSFullAccess", "AliyunOSSReadOnlyAccess"]
    for prefix, policy in POLICIES.items():
        if prefix.startswith("ALIYUN::") and any(t.startswith(prefix) for t in types):
            needed.append(policy)
    triggers = [
        r
        for r in (template.get("Resources") or {}).values()
        if isinstance(r, dict) and r.get("Type") == "ALIYUN::FC3::Trigger"
    ]
    if any("eventbridge" in str(r.get("Properties", {})).lower() for r in triggers):
        needed.append(POLICIES["EventBridge"])
    return needed


def deploy_lines(
    settings: Any, environ: Mapping[str, str], template_path: Path | None = None
) -> list[Line]:
    """The ``--deploy`` lines: parameters, then permissions."""
    from lib.support.redact import mask_url

    path = template_path or TEMPLATE
    try:
        template = _load(path)
    except ImportError:
        return [
            Line(
                "FAIL",
                "template",
                "PyYAML is needed to read template.yml (pip install 'assistwatch[routing]')",
            )
        ]
    except OSError as error:
        return [Line("FAIL", "template", f"{path}: {error.strerror}")]
    parameters: dict[str, Any] = template.get("Parameters") or {}
    sources = parameter_sources(template)
    lines: list[Line] = []
    for parameter, variable in sorted(sources.items()):
        value = environ.get(variable)
        spec = parameters.get(parameter) or {}
        if value is None:
            if "Default" not in spec:
                lines.append(Line("FAIL", "parameter", f"{parameter}: required; set {variable}"))
            continue
        secret = bool(spec.get("NoEcho")) or parameter.endswith(_SECRET_HINTS)
        shown = (mask_url(value) if "://" in value else "****") if secret else value
        lines.append(Line("ok", "parameter", f"{parameter}={shown}  (from {variable})"))
    carried = set(sources.values())
    # What the function needs to tell anyone; endpoints and the state store the stack sets.
    deployable = {f"ASSISTWATCH_{name.upper()}" for name in _DEPLOYABLE}
    lines.extend(
        Line(
            "warn",
            "parameter",
            f"{variable} is set here but template.yml has no parameter "
            "for it: the deployed function will not have it",
        )
        for variable in sorted(k for k in environ if k in deployable and k not in carried)
    )
    required = [
        name
        for name, spec in parameters.items()
        if isinstance(spec, dict) and "Default" not in spec and name not in sources
    ]
    lines.extend(
        Line("warn", "parameter", f"{name}: required, pass it to CreateStack")
        for name in sorted(required)
    )
    policies = policies_for(template)
    lines.append(
        Line(
            "ok",
            "permissions",
            "the deployer needs: "
            + ", ".join(policies)
            + " (listed, not verified; README 'Deploy to your account')",
        )
    )
    return lines
