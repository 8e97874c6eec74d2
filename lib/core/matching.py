"""The routing file's ``match:`` shape, validated into a :class:`~lib.core.routing.Matcher`.

Routes, expected exits and silences all say "which alerts" this way, so the shape lives in
the core beside the Matcher it builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lib.core.routing import Matcher
from lib.support.errors import ConfigError
from lib.support.settings import SOURCES

__all__ = ["MatchSpec", "as_list", "matcher_from"]


def as_list(value: object) -> object:
    """A single string or number where the file allows a list."""
    return [value] if isinstance(value, str | int) else value


class MatchSpec(BaseModel):
    """The routing file's ``match:`` shape (routes, expected exits, silences)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: list[str] = Field(default_factory=list)
    kind: list[Literal["command", "file"]] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)
    error_code: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)
    severity: list[Literal["critical", "warning", "info"]] = Field(default_factory=list)
    name: list[str] = Field(default_factory=list)
    instance_id: list[str] = Field(default_factory=list)
    instance_tags: dict[str, str] = Field(default_factory=dict)

    _split = field_validator(
        "source",
        "kind",
        "region",
        "error_code",
        "category",
        "severity",
        "name",
        "instance_id",
        mode="before",
    )(classmethod(lambda cls, value: as_list(value)))

    @field_validator("source")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s not in SOURCES]
        if bad:
            raise ValueError(f"unknown source {', '.join(bad)} (one of {', '.join(SOURCES)})")
        return value

    def build(self) -> Matcher:
        return Matcher(
            sources=frozenset(self.source),
            kinds=frozenset(self.kind),
            regions=frozenset(self.region),
            error_codes=frozenset(self.error_code),
            categories=frozenset(self.category),
            severities=frozenset(self.severity),
            names=tuple(self.name),
            instances=tuple(self.instance_id),
            instance_tags=tuple(sorted(self.instance_tags.items())),
        )


def matcher_from(data: Mapping[str, Any], *, what: str = "match") -> Matcher:
    """A Matcher from the routing file's ``match:`` shape (silences use it too).

    Raises:
        ConfigError: one line per bad field, naming it.
    """
    try:
        return MatchSpec.model_validate(dict(data)).build()
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in item.get("loc", ()) if "[" not in str(p))
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            if item.get("type") == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{what}.{loc}: {message}")
        raise ConfigError("; ".join(problems)) from None
