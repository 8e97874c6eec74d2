"""Message templates (issue #15 item 5): an operator draws messages their own way.

The stories: a route names a Jinja2 template in the routing file and its robot's messages
follow it, while what the cloud wrote stays inert; a broken template is found by
``assistwatch check`` (or at start-up) at its FILE:LINE, and a template that fails at 3 a.m.
still lets the alert through in the built-in words; a long message is split, never dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from lib.app.config import parse_config
from lib.core.overrides import Overrides, TemplateSource
from lib.edges.cli.check import checks
from lib.notify.console import ConsoleReceiver
from lib.notify.dingtalk import MAX_BODY_BYTES, DingTalkReceiver
from lib.notify.render import RenderOptions
from lib.notify.wecom import WeComReceiver
from lib.support.errors import ConfigError
from tests.factories import make_notification
from tests.hostile import INSTANCE, hostile_notification

ROBOT = SecretStr("https://oapi.dingtalk.com/robot/send?access_token=t0ken")
ONE_LINER = TemplateSource(
    text="{% for a in alerts %}{{ a.icon }} {{ a.code.instance_id }} {{ a.name }}: "
    "{{ a.error_info }}\n\n{% endfor %}",
    where="routing.yaml:7",
)


def no_http() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))


def dingtalk(template: TemplateSource | None, **options: object) -> DingTalkReceiver:
    return DingTalkReceiver(
        "ops",
        ROBOT,
        None,
        http=no_http(),
        options=RenderOptions(lang="en", template=template, **options),  # type: ignore[arg-type]
    )


def text_of(receiver: DingTalkReceiver, notification: object) -> list[str]:
    return [m.payload["markdown"]["text"] for m in receiver.render(notification)]  # type: ignore[arg-type]


def test_a_route_with_a_template_draws_its_robot_messages_that_way_and_others_keep_the_builtin():
    """GIVEN a routing file whose warning route names a one-line-per-alert template
    WHEN a failure is rendered for that route and for a receiver without a route template
    THEN the route's message is the template's lines, the other the built-in message."""
    config = parse_config(
        """
receivers:
  - {name: ops, type: console}
routes:
  - match: {severity: [warning]}
    receivers: [ops]
    template: |
      {% for a in alerts %}
      {{ a.icon }} **{{ a.name }}** on {{ a.code.instance_id }} ({{ a.region }}) exit {{ a.exit_code }}
      {% endfor %}
""",
        source="routing.yaml",
    )
    route = config.table.routes[0]
    assert route.overrides.template is not None
    assert route.overrides.template.where == "routing.yaml:8"
    console = ConsoleReceiver("ops", options=RenderOptions(lang="en"))
    notification = make_notification(2)
    [drawn] = console.customized(route.overrides).render(notification)
    assert drawn.text.splitlines() == [
        "🟠 **deploy.sh** on `i-bp1i7gg30r52z2e00000` (cn-hangzhou) exit 1",
        "🟠 **deploy.sh** on `i-bp1i7gg30r52z2e00001` (cn-hangzhou) exit 1",
    ]
    [builtin] = console.render(notification)
    assert "What to do" in builtin.text
    assert "What to do" not in drawn.text


@pytest.mark.parametrize("kind", ["dingtalk", "wecom"])
def test_a_hostile_tenant_gets_no_markup_through_a_template(kind: str) -> None:
    """GIVEN a template that prints every free field a tenant controls
    WHEN the hostile corpus is rendered through it for DingTalk or WeCom
    THEN no line the tenant started, no link, tag or mention can act; ids stay verbatim."""
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.code.instance_id }} {{ a.name }} | {{ a.error_info }}\n"
        "{% for line in a.output %}> {{ line }}\n{% endfor %}\n{% endfor %}group {{ group }}",
        where="routing.yaml:3",
    )
    options = RenderOptions(lang="en", template=template)
    receiver = (
        DingTalkReceiver("ops", ROBOT, None, http=no_http(), options=options)
        if kind == "dingtalk"
        else WeComReceiver(
            "ops",
            SecretStr("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=t0ken"),
            http=no_http(),
            options=options,
        )
    )
    messages = receiver.render(hostile_notification())
    payload = messages[0].payload
    text = payload["markdown"]["text" if kind == "dingtalk" else "content"]
    assert f"`{INSTANCE}`" in text
    for line in text.split("\n"):
        content = line.removeprefix("> ")
        assert not re.match(r"^\s*(?:#|>|[*+-] |\d+[.)]|```|~~~|===|---)", content), line
    assert "](" not in text, "a tenant's link renders"
    assert not re.search(r"<[A-Za-z/!?@]", text), "a tag, autolink or mention can open"
    assert "**bold**" not in text
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    if kind == "dingtalk":
        assert not re.search(r"@\S", text), "a DingTalk @mention from the cloud"


def test_a_long_templated_message_is_split_within_dingtalks_limit_and_names_every_instance():
    """GIVEN a template that writes a paragraph per alert and 300 failed instances
    WHEN it is rendered for DingTalk
    THEN it goes out in parts, each JSON body ≤ 20,000 bytes, marked (i/n), every instance named."""
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.code.instance_id }}: {{ a.explanation }} "
        "{{ a.hint }}\n\n{% endfor %}",
        where="routing.yaml:3",
    )
    notification = make_notification(300)
    messages = dingtalk(template).render(notification)
    assert len(messages) > 1
    for index, message in enumerate(messages, start=1):
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(body) <= MAX_BODY_BYTES
        assert message.payload["markdown"]["text"].startswith(f"(part {index}/{len(messages)})")
    everything = "\n".join(m.payload["markdown"]["text"] for m in messages)
    for alert in notification.alerts:
        assert f"`{alert.finding.instance_id}`" in everything


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{{ alerts[0].nmae }}", "routing.yaml:7: 'dict object' has no attribute 'nmae'"),
        ("{{ ''.__class__.__mro__ }}", "routing.yaml:7: "),
        ("{% for i in range(99999) %}{{ 'x' * 1000 }}{% endfor %}", "rendered"),
    ],
    ids=["misspelt-field", "sandbox-escape", "runaway-loop"],
)
def test_a_template_that_fails_at_3am_still_lets_the_alert_through_in_the_builtin_words(
    text: str, why: str
) -> None:
    """GIVEN a template that compiles but fails when rendered (a misspelt field, a sandbox
    escape attempt, a loop writing megabytes)
    WHEN an alert is rendered with it
    THEN the built-in message is sent, opened by one line naming the template's problem."""
    broken = TemplateSource(text=text, where="routing.yaml:7")
    [text_out] = text_of(dingtalk(broken), make_notification(1))
    first = text_out.split("\n")[0]
    assert first.startswith("⚠️ The message template failed (")
    assert why in first
    assert "deploy.sh" in text_out
    assert "i-bp1i7gg30r52z2e00000" in text_out
    assert "What to do" in text_out


def test_a_template_with_a_syntax_error_is_refused_at_start_up_at_its_line():
    """GIVEN a routing file whose receiver template has an unclosed tag on its third line
    WHEN the file is loaded (as run and check load it)
    THEN one ConfigError names routing.yaml and the line in the file."""
    with pytest.raises(ConfigError) as caught:
        parse_config(
            """receivers:
  - name: ops
    type: console
    template: |
      first line
      second line
      {{ alerts | length }
""",
            source="routing.yaml",
        )
    assert str(caught.value).startswith("routing.yaml:7: unexpected '}'")
    assert "receivers[0].template" in str(caught.value)


def test_a_webhook_cannot_be_given_a_template():
    with pytest.raises(ConfigError, match=r"routing.yaml:2: receivers\[0\]: a webhook sends"):
        parse_config(
            "receivers:\n  - {name: hook, type: webhook, url: 'https://example.com/h', "
            "template: 'x'}\n",
            source="routing.yaml",
        )


def test_check_renders_every_template_against_a_sample_and_names_the_broken_line(
    tmp_path: Path,
):
    """GIVEN a routing file with a good receiver template and a route template that reads a
    field no alert has on its second line
    WHEN the operator runs assistwatch check
    THEN the good one is ok and the broken one FAILs at routing.yaml's line, before 3 a.m."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        """receivers:
  - name: ops
    type: console
    template: "{{ alerts | length }} alerts, {{ firing | length }} firing"
routes:
  - receivers: [ops]
    template: |
      {% for g in groups %}
      {{ g.name }} {{ g.started }}
      {% endfor %}
""",
        encoding="utf-8",
    )
    environ = {
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
        "ASSISTWATCH_CONFIG": str(routing),
    }
    offline = httpx.MockTransport(lambda request: httpx.Response(503))
    lines = [line for line in checks(environ, [], transport=offline) if line.what == "template"]
    assert [line.level for line in lines] == ["ok", "FAIL"]
    assert lines[0].detail == f"receiver ops: {routing}:4 renders the sample"
    assert f"{routing}:9: 'dict object' has no attribute 'started'" in lines[1].detail


def test_without_a_template_the_builtin_message_is_unchanged():
    """A receiver with no template (the default) renders exactly what it rendered before."""
    plain = dingtalk(None)
    same = dingtalk(None).customized(Overrides(show_output=True))
    notification = make_notification(3)
    assert text_of(plain, notification) == text_of(same, notification)
    assert "What to do" in text_of(plain, notification)[0]


def test_a_secret_in_errorinfo_or_output_is_masked_in_a_templated_message_too():
    """GIVEN a failure whose ErrorInfo and output print a password
    WHEN a template that shows both renders it
    THEN the password is masked as in the built-in message."""
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.error_info }}\n{{ a.output | join('\n') }}{% endfor %}",
        where="routing.yaml:3",
    )
    notification = make_notification(
        1, error_info="login failed password=hunter2", output="db password=hunter2\n"
    )
    [text] = text_of(dingtalk(template), notification)
    assert "hunter2" not in text
    assert text.count("password=****") == 2


def test_a_template_places_the_signed_action_links_where_it_wants_them():
    """GIVEN action links on and a template that prints each alert's links and the ops link
    WHEN a failure on two instances is rendered
    THEN each alert's line carries its signed links and the ops page link closes the message."""
    from lib.core.links import ActionLinks, Signer

    links = ActionLinks(Signer("https://alerts.example.com", b"k" * 32), clock=lambda: 1.8e9)
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.code.instance_id }}\n{{ a.links.actions }}\n\n"
        "{% endfor %}{{ links.ops }}",
        where="routing.yaml:3",
    )
    [text] = text_of(dingtalk(template, actions=links), make_notification(2))
    lines = text.split("\n")
    for instance in ("i-bp1i7gg30r52z2e00000", "i-bp1i7gg30r52z2e00001"):
        below = lines[lines.index(f"`{instance}`") + 1]
        assert below.startswith("- Actions: [Silence 1 hour](https://alerts.example.com/act?")
    assert lines[-1].startswith("[Open alerts](https://alerts.example.com/act?a=ops")


def test_end_to_end_a_poll_tells_the_route_template_s_words(cloud, dataset, tmp_path, capsys):
    """GIVEN a routing file whose route draws deploy failures with a one-line template
    WHEN a poll finds deploy.sh failing on two instances
    THEN the receiver prints the template's lines, each instance named once."""
    from lib.app.build import build_app
    from lib.state.file import FileStore
    from lib.support.settings import load_settings
    from tests.test_instance_context import failed_deploy, poll

    routing = tmp_path / "routing.yaml"
    routing.write_text(
        """receivers:
  - {name: screen, type: console}
routes:
  - match: {name: "deploy*"}
    receivers: [screen]
    template: |
      {% for a in alerts %}
      FAILED {{ a.name }} on {{ a.instance_id }} (exit {{ a.exit_code }})
      {% endfor %}
""",
        encoding="utf-8",
    )
    dataset.add(failed_deploy(5, "i-one", "i-two"))
    env = {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_CONFIG": str(routing),
    }
    app = build_app(
        load_settings(env), store=FileStore(tmp_path / "state"), sleep=lambda _: None, environ=env
    )
    poll(app)
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("FAILED")]
    assert lines == ["FAILED deploy.sh on i-one (exit 1)", "FAILED deploy.sh on i-two (exit 1)"]


def test_groups_merged_into_one_digest_keep_a_template_only_when_every_route_named_it():
    """GIVEN a robot's minute budget merges groups of several routes into one digest
    WHEN those routes name the same template THEN the digest is drawn with it; when they
    differ (or one names none) THEN the receiver's own drawing is used."""
    from lib.core.routing import digest_overrides

    other = TemplateSource(text="{{ alerts | length }}", where="routing.yaml:20")
    notification = make_notification(1)
    same = [(Overrides(template=ONE_LINER), notification)] * 2
    assert digest_overrides(same).template == ONE_LINER
    mixed = [
        (Overrides(template=ONE_LINER), notification),
        (Overrides(template=other), notification),
    ]
    assert digest_overrides(mixed).template is None
    partly = [(Overrides(template=ONE_LINER), notification), (Overrides(), notification)]
    assert digest_overrides(partly).template is None


def test_a_template_without_blank_lines_is_still_split_between_lines_never_losing_one():
    """GIVEN a template that writes one line per alert with no blank line between them
    WHEN 300 failed instances are rendered for WeCom (4,096 bytes)
    THEN the parts break between lines, each within the limit, and every instance is named."""
    template = TemplateSource(
        text="{% for a in alerts %}{{ a.icon }} {{ a.code.instance_id }}: {{ a.explanation }}\n"
        "{% endfor %}",
        where="routing.yaml:3",
    )
    robot = WeComReceiver(
        "ops",
        SecretStr("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=t0ken"),
        http=no_http(),
        options=RenderOptions(template=template),
    )
    notification = make_notification(300)
    messages = robot.render(notification)
    assert len(messages) > 1
    texts = [m.payload["markdown"]["content"] for m in messages]
    assert all(len(text.encode()) <= 4096 for text in texts)
    everything = "\n".join(texts)
    assert "…" not in everything
    for alert in notification.alerts:
        assert f"`{alert.finding.instance_id}`" in everything
