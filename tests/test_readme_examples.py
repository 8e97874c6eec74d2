"""What the README and docs/ show is what the product sends and what template.yml takes.

The message examples (docs/messages.md) are rendered here by the product's own receivers
and must appear verbatim; the deploy commands (README, docs/deploy.md) may name only
parameters template.yml has, and must set every one it requires.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import SecretStr

from lib.core.alerts import Alert, Reminded, fingerprint, fold_agent_faults
from lib.core.catalogue import classify
from lib.core.notification import Notification
from lib.core.reminders import due_reminders
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.render import RenderOptions, render_markdown
from tests.factories import make_finding

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
MESSAGES = ROOT / "docs" / "messages.md"
TEMPLATE = ROOT / "template.yml"


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def agent_reminder(lang: str) -> str:
    """Reminder 2 of an agent that stopped at 09:00 (Shanghai), reminded every 4 hours."""
    opened = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    finding = make_finding(
        instance_id="i-bp1i7gg30r52z2e00007",
        invoke_id="t-hz0jdfwd9f0042",
        name="rotate-logs.sh",
        status="Failed",
        error_code="ClientNotRunning",
        error_info="the Cloud Assistant client is not running",
        exit_code=None,
        output=None,
        started_at=opened,
        finished_at=opened,
        classification=classify(
            status="Failed", error_code="ClientNotRunning", exit_code=None, kind="command"
        ),
    )
    tracks, _ = fold_agent_faults({}, [finding], now=opened)
    alert = tracks[finding.instance_id].open_alert(opened)
    assert alert is not None
    (reminder,), _ = due_reminders(
        alert,
        told_at=opened,
        intervals={"ops": timedelta(hours=4)},
        reminded={"ops": Reminded(number=1, at=opened + timedelta(hours=4))},
        now=opened + timedelta(hours=8, minutes=3),
    )
    notification = Notification(receiver="ops", group=reminder.group, alerts=(reminder,))
    return render_markdown(notification, RenderOptions(lang=lang, timezone="Asia/Shanghai"))


def failed_migration(lang: str) -> str:
    """A migration failing on two of its twelve instances, as a DingTalk robot with a
    keyword and one mention receives it: the example docs/messages.md opens with."""
    started = datetime(2026, 11, 23, 13, 0, 1, tzinfo=timezone.utc)
    finished = started + timedelta(seconds=4)
    alerts = []
    for n in range(2):
        finding = make_finding(
            instance_id=f"i-bp1i7gg30r52z2e0000{n}",
            invoke_id="t-hz0jdfwd9f0001",
            name="migrate-db.sh",
            targeted=12,
            started_at=started,
            finished_at=finished,
            output='starting migration\nFATAL: password authentication failed for user "app"\n'
            "DB_PASSWORD=****\n",
            classification=classify(
                status="Failed", error_code="ExitCodeNonzero", exit_code=1, kind="command"
            ),
        )
        alerts.append(
            Alert(
                fingerprint=fingerprint(finding),
                group=finding.invoke_id,
                reason="new",
                starts_at=finished,
                finding=finding,
            )
        )
    with httpx.Client() as http:
        robot = DingTalkReceiver(
            "ops",
            SecretStr("https://oapi.dingtalk.com/robot/send?access_token=example"),
            None,
            http=http,
            options=RenderOptions(lang=lang, timezone="Asia/Shanghai"),
            keyword="云助手",
            at_mobiles=("13800138000",),
        )
        [message] = robot.render(
            Notification(receiver="ops", group="t-hz0jdfwd9f0001", alerts=tuple(alerts))
        )
    return message.text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_messages_page_shows_an_agent_reminder_as_rendered(lang: str) -> None:
    # GIVEN the reminder example WHEN rendered now THEN docs/messages.md shows it as is
    expected = _indented(agent_reminder(lang))
    assert expected in MESSAGES.read_text(encoding="utf-8"), (
        f"docs/messages.md's {lang} reminder example is stale; it renders as:\n{expected}"
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_messages_page_shows_a_failed_command_as_the_robot_receives_it(lang: str) -> None:
    """GIVEN ExitCodeNonzero on two instances WHEN the DingTalk robot's message is rendered
    THEN docs/messages.md shows exactly it (🔴 critical, keyword first, mention last)."""
    expected = _indented(failed_migration(lang))
    assert expected in MESSAGES.read_text(encoding="utf-8"), (
        f"docs/messages.md's {lang} DingTalk example is stale; it renders as:\n{expected}"
    )


def _template_parameters() -> dict[str, dict[str, object]]:
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    parameters: dict[str, dict[str, object]] = template["Parameters"]
    return parameters


def test_the_readme_create_stack_command_names_only_template_parameters() -> None:
    """GIVEN the README's `aliyun ros CreateStack` command WHEN a person pastes it
    THEN every ParameterKey is one template.yml declares, and every parameter the template
    requires (no Default) is set."""
    readme = README.read_text(encoding="utf-8")
    command = readme.split("aliyun ros CreateStack", 1)[1].split("aliyun ros GetStack", 1)[0]
    keys = set(re.findall(r"ParameterKey (\w+)", command))
    parameters = _template_parameters()
    required = {name for name, spec in parameters.items() if "Default" not in spec}

    assert keys - set(parameters) == set()
    assert required - keys == set()


def test_the_deploy_page_lists_exactly_the_template_parameters() -> None:
    """GIVEN docs/deploy.md's list of template parameters WHEN template.yml changes
    THEN the list changes with it: none missing, none that no longer exists."""
    page = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = page.split("## Template parameters", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", section))

    assert listed == set(_template_parameters())


def test_the_readme_cli_table_names_every_command() -> None:
    """GIVEN the commands `assistwatch` registers WHEN a person reads the README's CLI table
    THEN each is there, none is described as unsupported."""
    from lib.edges.cli import COMMANDS

    table = README.read_text(encoding="utf-8").split("## CLI", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]

    assert {name for name in COMMANDS if not any(f"`{name}" in row for row in rows)} == set()
    assert "not supported" not in table


def test_the_run_report_keys_the_docs_name_are_the_reports() -> None:
    """GIVEN the keys docs/polling.md lists WHEN a run reports THEN each is a report field,
    and every figure the CLI and demo explain is one too."""
    from lib.app.run import RunReport
    from lib.edges.cli.explain import FIGURES

    page = (ROOT / "docs" / "polling.md").read_text(encoding="utf-8")
    sentence = page.split("a run report:", 1)[1].split("}`", 1)[0]
    named = set(re.findall(r'"(\w+)"', sentence))

    assert named
    assert named - set(RunReport.model_fields) == set()
    assert set(FIGURES) - set(RunReport.model_fields) == set()
