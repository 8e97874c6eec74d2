"""The routing file: what it builds, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lib.app.config import load_config, parse_config
from lib.app.receivers import build_delivery
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.feishu import FeishuReceiver
from lib.support.errors import ConfigError
from lib.support.settings import load_settings
from tests.factories import make_alert, make_finding

ROBOT_URL = "https://oapi.dingtalk.com/robot/send?access_token=" + "abcdef0123456789" * 2
GOOD = """\
receivers:
  - name: ops
    type: dingtalk
    url: ${OPS_URL}
    secret: ${OPS_SECRET}
    keyword: 云助手
  - name: lark
    type: feishu
    url: https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef0123
fallback: ops
routes:
  - match: {severity: critical, name: "backup-*"}
    receivers: [lark]
    group_by: [name]
    mentions: {user_ids: [ou_oncall]}
    continue: true
  - match: {region: cn-beijing}
    receivers: ops
    send_resolved: false
    repeat_interval: 4h
expected_exit_codes:
  - match: {name: "grep*"}
    codes: [1]
"""
ENV = {"OPS_URL": ROBOT_URL, "OPS_SECRET": "SECabcdef0123456789"}


def test_a_good_file_builds_receivers_routes_and_expected_exit_codes(tmp_path: Path) -> None:
    """GIVEN a routing file with two receivers, two routes and grep's exit 1
    WHEN the app's delivery is built THEN both receivers exist with the env's secrets, the
    routes route, and grep's 1 is expected."""
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD, encoding="utf-8")
    settings = load_settings({"ASSISTWATCH_CONFIG": str(path)})
    with httpx.Client() as http:
        delivery = build_delivery(settings, http=http, environ=ENV)
    assert isinstance(delivery.receivers["ops"], DingTalkReceiver)
    assert isinstance(delivery.receivers["lark"], FeishuReceiver)
    assert delivery.fallback == "ops"
    assert delivery.table is not None
    beijing = make_alert(make_finding(region="cn-beijing"))
    assert [r.receivers for r in delivery.table.routes_for(beijing.finding)] == [("ops",)]
    assert delivery.expected[0].expects(make_finding(name="grep-log", exit_code=1))
    assert "abcdef0123456789abcdef" not in repr(delivery.receivers)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    group_by: [name]", "    group_by: [colour]"),
            r"routing.yaml:14: routes\[0\].group_by",
        ),
        (
            ("    receivers: ops", "    receivers: nobody"),
            r"routing.yaml:18: routes\[1\].receivers",
        ),
        (("    type: feishu", "    type: slack"), r"routing.yaml:8: receivers\[1\].type"),
        (
            ("    send_resolved: false", "    send_resolve: false"),
            r"routing.yaml:19: routes\[1\].send_resolve: unknown field",
        ),
        (("fallback: ops", "fallback: pager"), r"routing.yaml:10: fallback: no receiver named"),
        (
            ("    codes: [1]", "    codes: [one]"),
            r"routing.yaml:23: expected_exit_codes\[0\].codes\[0\]",
        ),
        (
            ("    url: ${OPS_URL}", "    url: ${MISSING_URL}"),
            r"routing.yaml:4: receivers\[0\].url: environment variable MISSING_URL",
        ),
        (
            ("    url: https://open.feishu", "    url: http://open.feishu"),
            r"routing.yaml:7: receivers\[1\].*https",
        ),
    ],
)
def test_mistakes_are_reported_with_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    """GIVEN one mistake in the routing file WHEN it is loaded
    THEN ConfigError names the file, the line and the field, and never a secret."""
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path, environ=ENV)
    assert "SECabcdef" not in str(caught.value)
    assert "abcdef0123456789abcdef" not in str(caught.value)


def test_broken_yaml_names_the_line() -> None:
    """GIVEN a file that is not YAML WHEN parsed THEN the error names the file and line."""
    with pytest.raises(ConfigError, match=r"r.yaml:3:"):
        parse_config("receivers:\n  - name: ops\n  type: [unclosed\n", source="r.yaml")


def test_simple_setups_need_no_file_only_env() -> None:
    """GIVEN only ASSISTWATCH_WECOM_URL and a Feishu bot with its secret in env
    WHEN built THEN both receivers exist and every receiver hears everything."""
    env = {
        "ASSISTWATCH_WECOM_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1",
        "ASSISTWATCH_FEISHU_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/t-1",
        "ASSISTWATCH_FEISHU_SECRET": "feishu-secret-1",
    }
    with httpx.Client() as http:
        delivery = build_delivery(load_settings(env), http=http, environ=env)
    assert sorted(delivery.receivers) == ["feishu", "wecom"]
    assert delivery.table is None


def test_the_readme_routing_example_is_a_valid_routing_file() -> None:
    """GIVEN the routing file docs/routing.md shows, with its variables set
    WHEN a new user copies it THEN it validates and builds what its comments say."""
    page = (Path(__file__).parents[1] / "docs" / "routing.md").read_text(encoding="utf-8")
    section = page.split("\n## ", 1)[0]  # the part before its sections: one indented block
    block = "\n".join(
        line[4:] for line in section.splitlines() if line.startswith("    ") or not line.strip()
    ).strip()
    environ = {
        "OPS_ROBOT_URL": ROBOT_URL,
        "OPS_ROBOT_SECRET": "SECabcdef0123456789",
        "LARK_HOOK_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef",
        "LARK_SECRET": "lark-secret-0123",
    }
    config = parse_config(block, source="docs/routing.md", environ=environ)
    assert [spec.name for spec in config.receivers] == ["ops", "lark"]
    assert config.fallback == "ops"
    assert config.table.routes[0].matcher.instance_tags == (("env", "prod"),)
    assert config.table.repeat_interval is not None
    assert [sorted(rule.codes) for rule in config.expected] == [[1]]
