"""The routing file (``ASSISTWATCH_CONFIG``): receivers, routes, expected exit codes, fallback.

YAML, read with PyYAML, which is imported only when the file is configured (cold start).
Validated at start-up: every problem is reported as ``FILE:LINE: field: message`` so the
person who edits the file can find it. Secrets are never written in the file: ``${NAME}``
in any string is replaced by the environment variable NAME (FC encrypts those), and the
values are SecretStr from then on. Example::

    receivers:
      - name: ops
        type: dingtalk            # dingtalk | wecom | feishu | webhook | console
        url: ${OPS_ROBOT_URL}
        secret: ${OPS_ROBOT_SECRET}
        keyword: 云助手
    fallback: ops                 # where "assistwatch unhealthy" goes
    routes:
      - match: {severity: [critical], name: "backup-*"}
        receivers: [ops]
        group_by: [name]
        mentions: {mobiles: ["13800138000"]}
    expected_exit_codes:
      - match: {name: "grep*"}
        codes: [1]
    inhibit_rules:                # Alertmanager's; absent: an agent-down alert holds the
      - source_matchers: {subject: agent}           # failures it caused on its instance
        target_matchers: {kind: command, category: agent}
        equal: [account, region, instance_id]

A receiver or a route may carry ``template:`` (Jinja2 text, sandboxed; docs/routing.md
"Templates"): it is compiled here, so a syntax error is a ``FILE:LINE`` at start-up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lib.app.intervals import NamedInterval
from lib.core.matching import MatchSpec, as_list
from lib.core.overrides import Mentions, Overrides, TemplateSource
from lib.core.routing import GROUP_FIELDS, ExpectedExit, InhibitRule, Route, RoutingTable
from lib.support.errors import ConfigError
from lib.support.settings import parse_repeat_interval
from lib.support.urls import require_secure_url

__all__ = ["ReceiverSpec", "ReceiverType", "RoutingConfig", "load_config", "parse_config"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


ReceiverType = Literal["dingtalk", "wecom", "feishu", "webhook", "console"]


@dataclass(frozen=True)
class ReceiverSpec:
    """One receiver to build: from the environment or from the routing file."""

    name: str
    type: ReceiverType
    url: SecretStr | None = None
    secret: SecretStr | None = None
    keyword: str | None = None
    mentions: Mentions | None = None
    lang: Literal["zh", "en"] | None = None
    timezone: str | None = None
    show_output: bool | None = None
    template: TemplateSource | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Mentions(_Strict):
    mobiles: list[str] = Field(default_factory=list)
    user_ids: list[str] = Field(default_factory=list)
    all: bool = False

    def build(self) -> Mentions:
        return Mentions(tuple(self.mobiles), tuple(self.user_ids), self.all)


class _Receiver(_Strict):
    name: str
    type: ReceiverType
    url: SecretStr | None = None
    secret: SecretStr | None = None
    keyword: str | None = None
    mentions: _Mentions | None = None
    lang: Literal["zh", "en"] | None = None
    timezone: str | None = None
    show_output: bool | None = None
    template: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("letters, digits, '.', '_' and '-' only (up to 64)")
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> _Receiver:
        if self.type != "console" and self.url is None:
            raise ValueError(f"a {self.type} receiver needs url")
        if self.url is not None:
            require_secure_url(self.url.get_secret_value(), what=f"receiver {self.name} url")
        secret = self.secret.get_secret_value() if self.secret is not None else None
        if self.type == "webhook" and secret is not None and not secret.startswith("whsec_"):
            raise ValueError("a webhook secret is a Standard Webhooks secret (whsec_…)")
        if self.type == "webhook" and self.template is not None:
            raise ValueError("a webhook sends Alertmanager's JSON: a template draws chat robots")
        return self


class _Route(_Strict):
    match: MatchSpec = Field(default_factory=MatchSpec)
    receivers: list[str]
    group_by: list[str] = Field(default_factory=lambda: ["invoke_id"])
    repeat_interval: timedelta | None = None
    send_resolved: bool = True
    mentions: _Mentions | None = None
    show_output: bool | None = None
    template: str | None = None
    continue_matching: bool = Field(default=False, alias="continue")
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)

    _split = field_validator(
        "receivers", "group_by", "mute_time_intervals", "active_time_intervals", mode="before"
    )(classmethod(lambda cls, value: as_list(value)))

    _interval = field_validator("repeat_interval", mode="before")(
        classmethod(lambda cls, value: parse_repeat_interval(value))
    )

    @field_validator("group_by")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if name not in GROUP_FIELDS]
        if bad:
            raise ValueError(
                f"cannot group by {', '.join(bad)} (one of {', '.join(sorted(GROUP_FIELDS))})"
            )
        return value

    def build(self, template: TemplateSource | None = None) -> Route:
        return Route(
            receivers=tuple(self.receivers),
            matcher=self.match.build(),
            group_by=tuple(self.group_by),
            repeat_interval=self.repeat_interval,
            send_resolved=self.send_resolved,
            overrides=Overrides(
                mentions=self.mentions.build() if self.mentions else None,
                show_output=self.show_output,
                template=template,
            ),
            continue_matching=self.continue_matching,
            mute_time_intervals=tuple(self.mute_time_intervals),
            active_time_intervals=tuple(self.active_time_intervals),
        )


class _Expected(_Strict):
    match: MatchSpec = Field(default_factory=MatchSpec)
    codes: list[int]

    _split = field_validator("codes", mode="before")(classmethod(lambda cls, value: as_list(value)))


class _Side(MatchSpec):
    """One side of an inhibit rule: the routing file's ``match:`` fields, and ``subject``."""

    subject: list[Literal["execution", "agent", "missed"]] = Field(default_factory=list)

    _subjects = field_validator("subject", mode="before")(
        classmethod(lambda cls, value: as_list(value))
    )


class _Inhibit(_Strict):
    source_matchers: _Side = Field(default_factory=_Side)
    target_matchers: _Side = Field(default_factory=_Side)
    equal: list[str] = Field(default_factory=list)

    _split = field_validator("equal", mode="before")(classmethod(lambda cls, value: as_list(value)))

    @field_validator("equal")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if name not in GROUP_FIELDS]
        if bad:
            raise ValueError(
                f"cannot compare {', '.join(bad)} (one of {', '.join(sorted(GROUP_FIELDS))})"
            )
        return value

    def build(self) -> InhibitRule:
        return InhibitRule(
            source=self.source_matchers.build(),
            target=self.target_matchers.build(),
            equal=tuple(self.equal),
            source_subjects=frozenset(self.source_matchers.subject),
            target_subjects=frozenset(self.target_matchers.subject),
        )


class _File(_Strict):
    receivers: list[_Receiver] = Field(default_factory=list)
    routes: list[_Route] = Field(default_factory=list)
    default_receivers: list[str] | None = None
    repeat_interval: timedelta | None = None  # for routes that set none

    _interval = field_validator("repeat_interval", mode="before")(
        classmethod(lambda cls, value: parse_repeat_interval(value))
    )
    fallback: str | None = None
    expected_exit_codes: list[_Expected] = Field(default_factory=list)
    inhibit_rules: list[_Inhibit] | None = None  # None: the defaults (lib.core.inhibition)
    time_intervals: list[NamedInterval] = Field(default_factory=list)  # maintenance windows


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the routing file says, validated."""

    receivers: tuple[ReceiverSpec, ...] = ()
    table: RoutingTable = field(default_factory=RoutingTable)
    expected: tuple[ExpectedExit, ...] = ()
    fallback: str | None = None


MAX_FILE_CHARS = 1_000_000  # a routing file of hundreds of receivers and routes is ~100 KB
MAX_DEPTH = 32  # the schema needs 6 levels; room for lists in lists, none for a bomb
MAX_NODES = 100_000  # values after alias expansion: a billion-laughs file stops here


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, known: tuple[str, ...] = ()
) -> RoutingConfig:
    """Read and validate the routing file at ``path``.

    Args:
        path: the YAML file.
        environ: where ``${NAME}`` values come from (default ``os.environ``).
        known: receiver names defined elsewhere (the environment's ``dingtalk`` …) that
            routes may name too.

    Raises:
        ConfigError: ``FILE:LINE: field: message`` for each problem; values never echoed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"ASSISTWATCH_CONFIG: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"ASSISTWATCH_CONFIG: {path} is not UTF-8 text (byte {error.start})"
        ) from None
    return parse_config(text, source=str(path), environ=environ, known=known)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    known: tuple[str, ...] = (),
) -> RoutingConfig:
    """Validate routing YAML given as text; see :func:`load_config`."""
    import yaml

    env = os.environ if environ is None else environ
    if len(text) > MAX_FILE_CHARS:
        raise ConfigError(
            f"{source}: {len(text):,} characters; a routing file is at most {MAX_FILE_CHARS:,}"
        )
    _check_brackets(text, source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_shape(root, source)  # before anything expands an alias
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(f"{source}:{line}: {problem}") from None
    except RecursionError:  # the parser recurses per level: deeper than its stack
        raise ConfigError(
            f"{source}: nested deeper than the YAML parser can follow; "
            f"a routing file is at most {MAX_DEPTH} levels deep"
        ) from None
    if data is None:
        data = {}
    from lib.support.text import lone_surrogate_at

    unreadable = lone_surrogate_at(data)  # a "\ud800" escape in a double-quoted scalar
    if unreadable is not None:
        raise ConfigError(
            f"{source}: {unreadable[:80]} is not valid Unicode text (a lone surrogate)"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the routing file must be a mapping (receivers:, routes:)")
    problems: list[str] = []
    data = _expand(data, env, root, (), source, problems)
    if problems:
        raise ConfigError("; ".join(problems))
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, root, source)) from None
    return _build(parsed, root, source, known)


def _check_brackets(text: str, source: str) -> None:
    """Refuse flow nesting (``[[[[…``) deeper than any routing file needs, before parsing.

    PyYAML's parser takes seconds on 10,000 nested brackets before its stack runs out; one
    pass over the text costs microseconds. Brackets inside quoted strings count too: a
    balanced template (``{{ x }}``) adds two levels, far below the limit.
    """
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    if deepest > 2 * MAX_DEPTH:
        raise ConfigError(
            f"{source}: brackets nested {deepest} deep; a routing file is at most "
            f"{MAX_DEPTH} levels deep"
        )


def _check_shape(root: Any, source: str) -> None:
    """Refuse a document nested too deeply or growing through aliases (billion laughs).

    Walks the composed nodes as the loader would expand them — an alias counts every time
    it is used — without building anything, and stops at the first limit crossed.
    """
    import yaml

    if root is None:
        return
    seen = 0
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise ConfigError(
                f"{source}:{line}: nested more than {MAX_DEPTH} levels deep; "
                "a routing file needs a handful"
            )
        if seen > MAX_NODES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_NODES:,} values (aliases inside "
                "aliases?); a routing file needs far fewer"
            )
        if isinstance(node, yaml.MappingNode):
            stack.extend((part, depth + 1) for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def _expand(  # noqa: PLR0917 - a recursive walk carrying its context
    value: Any,
    env: Mapping[str, str],
    root: Any,
    loc: tuple[str | int, ...],
    source: str,
    problems: list[str],
) -> Any:
    """Replace ``${NAME}`` in strings by the environment's value; note what is missing."""
    if isinstance(value, dict):
        return {k: _expand(v, env, root, (*loc, k), source, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, root, (*loc, i), source, problems) for i, v in enumerate(value)]
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                where = _where(root, loc, source)
                problems.append(f"{where}: {_dotted(loc)}: environment variable {name} is not set")
                return ""
            return env[name]

        return _VARIABLE.sub(lookup, value)
    return value


def _build(parsed: _File, root: Any, source: str, known: tuple[str, ...]) -> RoutingConfig:
    names = [r.name for r in parsed.receivers]
    problems: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen or name in known:
            where = _where(root, ("receivers", index, "name"), source)
            problems.append(f"{where}: receivers[{index}].name: {name!r} is defined twice")
        seen.add(name)
    defined = set(names) | set(known)

    def check(loc: tuple[str | int, ...], wanted: list[str]) -> None:
        for offset, name in enumerate(wanted):
            if name not in defined:
                where = _where(root, (*loc, offset), source)
                problems.append(f"{where}: {_dotted(loc)}: no receiver named {name!r}")

    for index, route in enumerate(parsed.routes):
        check(("routes", index, "receivers"), route.receivers)
    _check_intervals(parsed, root, source, problems)
    if parsed.default_receivers is not None:
        check(("default_receivers",), parsed.default_receivers)
    if parsed.fallback is not None and parsed.fallback not in defined:
        where = _where(root, ("fallback",), source)
        problems.append(f"{where}: fallback: no receiver named {parsed.fallback!r}")
    receiver_templates = [
        _template(r.template, root, ("receivers", index, "template"), source, problems)
        for index, r in enumerate(parsed.receivers)
    ]
    route_templates = [
        _template(route.template, root, ("routes", index, "template"), source, problems)
        for index, route in enumerate(parsed.routes)
    ]
    if problems:
        raise ConfigError("; ".join(problems))
    return RoutingConfig(
        receivers=tuple(
            ReceiverSpec(
                name=r.name,
                type=r.type,
                url=r.url,
                secret=r.secret,
                keyword=r.keyword,
                mentions=r.mentions.build() if r.mentions else None,
                lang=r.lang,
                timezone=r.timezone,
                show_output=r.show_output,
                template=template,
            )
            for r, template in zip(parsed.receivers, receiver_templates, strict=True)
        ),
        table=RoutingTable(
            routes=tuple(
                route.build(template)
                for route, template in zip(parsed.routes, route_templates, strict=True)
            ),
            default_receivers=(
                tuple(parsed.default_receivers) if parsed.default_receivers is not None else None
            ),
            repeat_interval=parsed.repeat_interval,
            inhibit_rules=(
                tuple(rule.build() for rule in parsed.inhibit_rules)
                if parsed.inhibit_rules is not None
                else None
            ),
            time_intervals=tuple(named.build() for named in parsed.time_intervals),
        ),
        expected=tuple(
            ExpectedExit(codes=frozenset(e.codes), matcher=e.match.build())
            for e in parsed.expected_exit_codes
        ),
        fallback=parsed.fallback,
    )


def _check_intervals(parsed: _File, root: Any, source: str, problems: list[str]) -> None:
    """Interval names are unique and every name a route gives is defined."""
    names: set[str] = set()
    for index, named in enumerate(parsed.time_intervals):
        if named.name in names:
            where = _where(root, ("time_intervals", index, "name"), source)
            problems.append(
                f"{where}: time_intervals[{index}].name: {named.name!r} is defined twice"
            )
        names.add(named.name)
    for index, route in enumerate(parsed.routes):
        for key in ("mute_time_intervals", "active_time_intervals"):
            for offset, name in enumerate(getattr(route, key)):
                if name not in names:
                    loc: tuple[str | int, ...] = ("routes", index, key, offset)
                    problems.append(
                        f"{_where(root, loc, source)}: routes[{index}].{key}: "
                        f"no time interval named {name!r} (see time_intervals:)"
                    )


def _template(
    text: str | None,
    root: Any,
    loc: tuple[str | int, ...],
    source: str,
    problems: list[str],
) -> TemplateSource | None:
    """The template at ``loc``, compiled once now so a syntax error is a FILE:LINE here."""
    if text is None:
        return None
    if not text.strip():
        problems.append(f"{_where(root, loc, source)}: {_dotted(loc)}: an empty template")
        return None
    template = TemplateSource(text=text, where=f"{source}:{_first_line(root, loc)}")
    from lib.notify.template import TemplateProblem, compile_template

    try:
        compile_template(template)
    except TemplateProblem as problem:
        problems.append(f"{problem} ({_dotted(loc)})")
    except ImportError:
        problems.append(
            f"{_where(root, loc, source)}: {_dotted(loc)}: templates need Jinja2 "
            "(pip install 'assistwatch[routing]')"
        )
    return template


def _first_line(root: Any, loc: tuple[str | int, ...]) -> int:
    """The routing file's line of a scalar's first text line (after ``|``/``>``)."""
    import yaml

    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            return 1
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return int(node.start_mark.line) + 1 + (1 if block else 0)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _where(root: Any, loc: tuple[str | int, ...], source: str) -> str:
    """``FILE:LINE`` of the deepest node of ``loc`` that exists in the YAML."""
    import yaml

    node = root
    line = 1 if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
            if child is None:
                break
            key = next(k for k, v in node.value if k.value == part)
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            child = node.value[part]
            line = child.start_mark.line + 1
        else:
            break
        node = child
    return f"{source}:{line}"


def _describe(error: ValidationError, root: Any, source: str) -> str:
    """One ``FILE:LINE: field: message`` per problem; input values are never shown."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = tuple(part for part in item.get("loc", ()) if isinstance(part, str | int))
        # pydantic appends validator names ("function-after[…]"); they are not fields.
        loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{_where(root, loc, source)}: {_dotted(loc)}: {message}")
    return "; ".join(lines)
