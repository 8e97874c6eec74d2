"""The pure half of ``assistwatch check``: what can be known without the network.

Each function takes the configuration and returns :class:`Line` results: unknown
``ASSISTWATCH_*`` names (with a did-you-mean), the shape of each robot's URL and secret,
region ids Alibaba Cloud does not have, and the case of no receiver at all. The network
half (reaching the APIs and the robots) is lib/edges/cli/probes.py.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from lib.app.config import ReceiverSpec
    from lib.support.settings import Settings

__all__ = [
    "Level",
    "Line",
    "known_names",
    "no_receiver",
    "receiver_shape",
    "region_lines",
    "unknown_names",
]

Level = Literal["ok", "warn", "FAIL"]


class Line(NamedTuple):
    """One line of the check: its level, what was checked, and why (secrets masked)."""

    level: Level
    what: str
    detail: str


# Read by the deploy files and the local tools rather than by Settings; s.yaml's own
# ``${env('ASSISTWATCH_…')}`` names are added from the file when it is at hand.
_OTHER_NAMES = frozenset(
    {
        "ASSISTWATCH_SERVE_TOKEN",  # make serve
        "ASSISTWATCH_FUZZ_PROFILE",  # the test suite
        "ASSISTWATCH_ROLE_ARN",  # s.yaml
        "ASSISTWATCH_FAILED_QUEUE_ARN",
        "ASSISTWATCH_LOG_PROJECT",
        "ASSISTWATCH_SCHEDULE",
        "ASSISTWATCH_FUNCTION_NAME",
    }
)
_ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"ASSISTWATCH_[A-Z0-9_]+")


def known_names(s_yaml: Path | None = None) -> frozenset[str]:
    """Every ``ASSISTWATCH_*`` name something here reads: Settings, the tools, s.yaml."""
    from lib.support.settings import Settings

    names = {f"ASSISTWATCH_{field.upper()}" for field in Settings.model_fields}
    path = s_yaml or _ROOT / "s.yaml"
    # An installed package has no s.yaml: the built-in names still hold.
    with contextlib.suppress(OSError):
        names.update(_NAME.findall(path.read_text(encoding="utf-8")))
    return frozenset(names | _OTHER_NAMES)


def unknown_names(environ: Mapping[str, str], known: Iterable[str]) -> list[Line]:
    """A FAIL per ``ASSISTWATCH_*`` variable nothing reads (it would be silently ignored)."""
    known = sorted(set(known))
    lines = []
    for name in sorted(key for key in environ if key.upper().startswith("ASSISTWATCH_")):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}?" if close else "see the README's configuration table"
        lines.append(Line("FAIL", "variables", f"{name} is not a setting (ignored): {hint}"))
    return lines


def receiver_shape(spec: ReceiverSpec, masked: str) -> list[Line]:
    """The URL and secret of one receiver look like what its service hands out."""
    from lib.support.urls import is_loopback_host

    if spec.url is None:
        return []
    url = urlsplit(spec.url.get_secret_value())
    query = parse_qs(url.query)
    secret = spec.secret.get_secret_value() if spec.secret is not None else None
    problems: list[str] = []
    local = is_loopback_host(url.hostname or "")
    if spec.type == "dingtalk":
        if not local and (url.hostname != "oapi.dingtalk.com" or url.path != "/robot/send"):
            problems.append("expected https://oapi.dingtalk.com/robot/send?access_token=…")
        if not query.get("access_token", [""])[0]:
            problems.append("the URL has no access_token (copy the whole Webhook URL)")
        if secret is not None and not secret.startswith("SEC"):
            problems.append("the 加签 secret starts with SEC (copy it from the robot's 加签 box)")
    elif spec.type == "wecom":
        if not query.get("key", [""])[0]:
            problems.append("the URL has no key= (copy the whole Webhook URL)")
    elif spec.type == "feishu" and not url.path.startswith("/open-apis/bot/v2/hook/"):
        problems.append("expected https://open.feishu.cn/open-apis/bot/v2/hook/<token>")
    what = f"{spec.name} shape"
    if problems:
        return [Line("FAIL", what, f"{masked}: {'; '.join(problems)}")]
    return [Line("ok", what, f"{masked} ({spec.type}{', signed' if secret else ''})")]


def region_lines(regions: Iterable[str]) -> list[Line]:
    """A warning per region id Alibaba Cloud's region tables do not list."""
    from lib.edges.cli.regions import KNOWN_REGIONS, nearest_region

    lines = []
    for region in regions:
        if region in KNOWN_REGIONS:
            continue
        near = nearest_region(region)
        hint = f"did you mean {near}?" if near else "a new region? (list: docs/decisions.md)"
        lines.append(Line("warn", "regions", f"{region} is not a known region id: {hint}"))
    return lines


def no_receiver(settings: Settings, names: Iterable[str]) -> list[Line]:
    """A FAIL when nothing but the console would hear an alert."""
    real = [name for name in names if name != "console"]
    if real:
        return [Line("ok", "receivers", ", ".join(real))]
    how = (
        "set ASSISTWATCH_DINGTALK_URL (or _WECOM_URL, _FEISHU_URL, _WEBHOOK_URL) or a routing file"
    )
    where = "stdout only (ASSISTWATCH_CONSOLE)" if settings.console else "the function's log only"
    return [Line("FAIL", "receivers", f"no receiver: alerts would reach {where}; {how}")]
