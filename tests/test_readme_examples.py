"""The rendered examples the README shows are what the renderer writes today."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lib.core.alerts import Reminded, fold_agent_faults
from lib.core.catalogue import classify
from lib.core.notification import Notification
from lib.core.reminders import due_reminders
from lib.notify.render import RenderOptions, render_markdown
from tests.factories import make_finding

README = Path(__file__).parents[1] / "README.md"


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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_readme_shows_an_agent_reminder_as_rendered(lang: str) -> None:
    # GIVEN the reminder example in the README WHEN rendered now THEN the README shows it as is
    expected = "\n".join(
        f"    {line}" if line else "" for line in agent_reminder(lang).splitlines()
    )
    assert expected in README.read_text(encoding="utf-8"), (
        f"README's {lang} reminder example is stale; it renders as:\n{expected}"
    )
