"""What people read in a notification: explanations, redacted output, bounded lists and parts."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lib.notify.render import (
    Entry,
    RenderOptions,
    message_id,
    render_entries,
    render_markdown,
    render_title,
    split_markdown,
    utf8_bytes,
)
from tests.factories import make_alert, make_classification, make_finding, make_notification


def test_error_explanation_and_hint_are_shown_in_chinese_and_in_english() -> None:
    """GIVEN an ExitCodeNonzero alert WHEN rendered in zh and in en
    THEN each text carries the explanation and hint of its language, and not the other."""
    notification = make_notification(1)
    zh = render_markdown(notification, RenderOptions(lang="zh"))
    en = render_markdown(notification, RenderOptions(lang="en"))
    assert "命令进程的退出码不为 0。" in zh
    assert "查看命令输出" in zh
    assert "The command exited with a non-zero code." in en
    assert "Read the output" in en
    assert "The command exited" not in zh
    assert "命令进程" not in en


def test_alert_shows_command_ids_status_exit_code_and_a_console_link() -> None:
    """GIVEN a failed command WHEN rendered THEN name, invoke id, instance, region, status,
    code, exit code and the region's Cloud Assistant console page are all there."""
    text = render_markdown(make_notification(1), RenderOptions(lang="en"))
    for expected in (
        "deploy.sh",
        "t-hz0jdfwd9f0001",
        "i-bp1i7gg30r52z2e00000",
        "cn-hangzhou",
        "Failed",
        "`ExitCodeNonzero`",
        "Exit code: 1",
        "https://ecs.console.aliyun.com/cloud-assistant/region/cn-hangzhou",
    ):
        assert expected in text


def test_file_send_shows_file_name_and_target_directory() -> None:
    """GIVEN a failed file send WHEN rendered THEN the file and its target dir are named."""
    finding = make_finding(
        kind="file",
        name="app.conf",
        target_dir="/etc/app/",
        exit_code=None,
        output=None,
        classification=make_classification(code="FileAlreadyExists", category="file"),
    )
    text = render_markdown(make_notification(alerts=(make_alert(finding),)), RenderOptions())
    assert "文件 `app.conf` → `/etc/app/` 下发失败" in text
    assert "FileAlreadyExists" in text


def test_times_are_shown_in_the_configured_time_zone() -> None:
    """GIVEN a finding finished 13:00:05 UTC WHEN rendered for Asia/Shanghai and for UTC
    THEN the clock reads 21:00:05 and 13:00:05 respectively."""
    notification = make_notification(1)
    assert "2026-11-23 21:00:05" in render_markdown(notification, RenderOptions())
    assert "2026-11-23 13:00:05" in render_markdown(notification, RenderOptions(timezone="UTC"))


def test_unknown_time_zone_is_refused_when_options_are_built() -> None:
    """GIVEN a misspelt zone WHEN options are built THEN validation fails naming it."""
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        RenderOptions(timezone="Mars/Olympus")


def test_output_tail_is_redacted_and_bounded_to_the_last_lines() -> None:
    """GIVEN 100 output lines including a password WHEN rendered with 5 lines
    THEN only the last 5 lines show and the password does not."""
    lines = [f"line {n}" for n in range(96)] + ["password=hunter2", "x", "y", "boom"]
    finding = make_finding(output="\n".join(lines))
    text = render_markdown(
        make_notification(alerts=(make_alert(finding),)), RenderOptions(max_output_lines=5)
    )
    assert "hunter2" not in text
    assert "password=****" in text
    assert "> boom" in text
    assert "line 95" in text
    assert "line 94" not in text


def test_output_can_be_switched_off() -> None:
    """GIVEN show_output off WHEN rendered THEN the command output is not in the message."""
    text = render_markdown(make_notification(1), RenderOptions(show_output=False))
    assert "disk full" not in text


def test_output_is_bounded_in_bytes_keeping_the_end() -> None:
    """GIVEN one enormous Chinese output line WHEN rendered with a 300-byte bound
    THEN the shown output is at most 300 bytes (+ the ellipsis) and ends like the output."""
    finding = make_finding(output="错" * 5000 + "最后")
    entry = render_entries(
        make_notification(alerts=(make_alert(finding),)), RenderOptions(max_output_bytes=300)
    )[0]
    assert utf8_bytes(entry.output) <= 300 + utf8_bytes("…")
    assert entry.output.endswith("最后")


def test_resolved_alert_renders_as_resolved() -> None:
    """GIVEN a resolved alert WHEN rendered THEN it says resolved, with no failure text."""
    alert = make_alert(
        status="resolved", ends_at=datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    )
    text = render_markdown(make_notification(alerts=(alert,)), RenderOptions(lang="en"))
    assert text.startswith("#### ✅ [resolved]")  # one alert: no summary head above it
    assert "failed" not in text
    assert "Resolved at: 2026-11-23 22:00:00" in text


def test_header_counts_alerts_by_severity() -> None:
    """GIVEN 2 critical and 3 warning alerts WHEN rendered THEN the header counts them."""
    critical = make_classification(severity="critical", code="ClientNotRunning")
    alerts = tuple(
        make_alert(make_finding(instance_id=f"i-{n}", classification=critical)) for n in range(2)
    ) + tuple(make_alert(make_finding(instance_id=f"i-w{n}")) for n in range(3))
    text = render_markdown(make_notification(alerts=alerts), RenderOptions(lang="en"))
    header = text.split("\n\n")[0]
    assert "5 failed" in header
    assert "critical 2 · warning 3" in header
    assert "🔴" in header


def test_big_group_lists_the_first_n_and_says_and_k_more_with_every_instance() -> None:
    """GIVEN 500 failed instances WHEN rendered with max 20 listed
    THEN 20 are detailed and the rest are counted as "and 480 more", each id still named
    under its command and invoke id. (Each its own cause, by exit code: one cause on 500
    reads by signature, test_signatures.)"""
    notification = make_notification(
        alerts=tuple(
            make_alert(make_finding(instance_id=f"i-bp1i7gg30r52z2e{n:05d}", exit_code=n))
            for n in range(500)
        )
    )
    text = render_markdown(notification, RenderOptions(lang="en"))
    assert text.count("#### ") == 20
    assert "…and 480 more (`ExitCodeNonzero`)" in text
    assert "- `deploy.sh` (`t-hz0jdfwd9f0001`) · `ExitCodeNonzero` × 480: " in text
    for alert in notification.alerts:
        assert alert.finding.instance_id in text


def test_title_is_short_and_names_the_command() -> None:
    """GIVEN a big group WHEN titled THEN the title names the command and the count."""
    title = render_title(make_notification(500), RenderOptions(lang="en"))
    assert title == "assistwatch deploy.sh: 500 failed"


def test_message_id_is_stable_and_changes_with_firing_status_and_part() -> None:
    """GIVEN the same alerts in any order WHEN ids are computed THEN they match;
    a new firing, a resolve or another part gives another id."""
    alerts = make_notification(3).alerts
    same = message_id("r", alerts)
    assert message_id("r", tuple(reversed(alerts))) == same
    refired = (alerts[0].model_copy(update={"firing": 2}), *alerts[1:])
    resolved = (alerts[0].model_copy(update={"status": "resolved"}), *alerts[1:])
    assert message_id("r", refired) != same
    assert message_id("r", resolved) != same
    assert message_id("r", alerts, 2, 2) != message_id("r", alerts, 1, 2)


def test_split_keeps_entries_whole_and_every_part_within_the_limit() -> None:
    """GIVEN many Chinese entries WHEN split at 1,000 bytes
    THEN every part fits, and joining the parts gives back every entry unchanged."""
    entries = [f"条目 {n}：" + "内容" * 40 for n in range(50)]
    parts = split_markdown(entries, 1000)
    assert len(parts) > 1
    assert all(utf8_bytes(part) <= 1000 for part in parts)
    assert [e for part in parts for e in part.split("\n\n")] == entries


def test_split_shortens_the_output_of_an_entry_too_big_alone() -> None:
    """GIVEN one entry whose output alone exceeds the limit WHEN split
    THEN its fields stay, its last output lines stay, and it fits."""
    entry = Entry(
        body="#### deploy failed\n- Instance: i-1",
        output="\n".join(f"output line {n}" for n in range(500)),
        output_label="Output (last {n} lines):",
        output_cut_label="Output (last {n} lines, shortened):",
    )
    (part,) = split_markdown([entry], 600)
    assert utf8_bytes(part) <= 600
    assert part.startswith("#### deploy failed\n- Instance: i-1")
    assert "shortened" in part
    assert part.endswith("> output line 499")
    assert "output line 0\n" not in part


@given(
    entries=st.lists(
        st.text(min_size=1, max_size=300).filter(lambda s: "\n\n" not in s), max_size=40
    ),
    limit=st.integers(min_value=200, max_value=3000),
)
def test_split_never_exceeds_the_limit_and_keeps_fitting_entries_whole(
    entries: list[str], limit: int
) -> None:
    """GIVEN any entries (any script) and any limit WHEN split
    THEN no part exceeds the limit and, as each entry fits alone, all come back in order."""
    fitting = [e for e in entries if utf8_bytes(e) <= limit and e.strip("\n") == e]
    parts = split_markdown(fitting, limit)
    assert all(utf8_bytes(part) <= limit for part in parts)
    assert "\n\n".join(p for p in parts if p) == "\n\n".join(fitting)


def test_an_agent_alert_names_the_instance_and_the_invocations_behind_it() -> None:
    from lib.core.notification import Notification
    from lib.notify.render import RenderOptions, render_markdown
    from tests.factories import make_alert, make_finding

    finding = make_finding(status="Aborted", error_code="ClientNotRunning", exit_code=None)
    alert = make_alert(
        finding,
        subject="agent",
        related=("t-hz01 ClientNotRunning", "t-hz02 ClientNotRunning"),
        group=f"agent:{finding.instance_id}",
    )
    notification = Notification(receiver="dingtalk", group=alert.group, alerts=(alert,))
    zh = render_markdown(notification, RenderOptions())
    en = render_markdown(notification, RenderOptions(lang="en"))
    assert "云助手 Agent 异常" in zh
    assert finding.instance_id in zh
    assert "agent unhealthy" in en
    assert "t-hz01 ClientNotRunning" in en
    assert "t-hz02 ClientNotRunning" in en


def test_another_accounts_alert_names_the_account() -> None:
    from lib.core.notification import Notification
    from lib.notify.render import RenderOptions, render_markdown
    from tests.factories import make_alert, make_finding

    alert = make_alert(make_finding(account="1234567890123456"))
    text = render_markdown(
        Notification(receiver="x", group="g", alerts=(alert,)), RenderOptions(lang="en")
    )
    assert "Account: `1234567890123456`" in text


@pytest.mark.parametrize(("kind", "limit"), [("wecom", 4096), ("feishu", 20_000)])
def test_a_digest_for_a_small_robot_names_every_task_within_its_size_limit(
    kind: str, limit: int
) -> None:
    """GIVEN 60 commands failed on 3 instances each, merged into one digest
    WHEN a WeCom (4,096 bytes of markdown) or Feishu (20 KB body) robot renders it
    THEN every message fits the robot's limit and every alert is named next to its command
    and invoke id; the messages together cover every alert exactly once."""
    import httpx
    from pydantic import SecretStr

    from lib.notify.feishu import FeishuReceiver
    from lib.notify.render import compact_json
    from lib.notify.wecom import WeComReceiver

    alerts = tuple(
        make_alert(
            make_finding(
                name=f"nightly-backup-{c:03d}.sh",
                invoke_id=f"t-hz0jdfwd9h{c:04d}",
                instance_id=f"i-bp1i7gg30r52z2g{c:03d}{i:02d}",
            )
        )
        for c in range(60)
        for i in range(3)
    )
    note = make_notification(alerts=alerts)
    url = SecretStr("https://robot.example/hook?key=k")
    http = httpx.Client()
    robot = (
        WeComReceiver("ops", url, http=http)
        if kind == "wecom"
        else FeishuReceiver("ops", url, http=http)
    )
    messages = robot.render(note)
    assert len(messages) > 1
    for message in messages:
        size = (
            utf8_bytes(message.payload["markdown"]["content"])
            if kind == "wecom"
            else len(compact_json(message.payload))
        )
        assert size <= limit
    covered = [key for message in messages for key in message.covers]
    assert sorted(covered) == sorted(alert.key for alert in alerts)
    entries = [entry for message in messages for entry in message.text.split("\n\n")]
    for alert in alerts:
        finding = alert.finding
        assert any(
            f"`{finding.name}`" in entry
            and f"`{finding.invoke_id}`" in entry
            and f"`{finding.instance_id}`" in entry
            for entry in entries
        ), f"{finding.instance_id} is not named with its task"


def test_a_task_with_a_huge_name_still_names_every_instance_in_a_wecom_digest() -> None:
    """GIVEN 30 instances of a command whose name is 3,000 characters of Chinese
    WHEN a WeCom robot (4,096 bytes) renders them THEN no entry is cut before its instance:
    every instance id is in a message, next to the command's invoke id (the name is
    shortened to 256 characters instead)."""
    import httpx
    from pydantic import SecretStr

    from lib.notify.wecom import WeComReceiver

    note = make_notification(30, name="部署" * 1500)
    robot = WeComReceiver("ops", SecretStr("https://robot.example/hook?key=k"), http=httpx.Client())
    messages = robot.render(note)
    for message in messages:
        assert utf8_bytes(message.payload["markdown"]["content"]) <= 4096
    entries = [entry for message in messages for entry in message.text.split("\n\n")]
    for alert in note.alerts:
        assert any(
            f"`{alert.finding.instance_id}`" in entry and "`t-hz0jdfwd9f0001`" in entry
            for entry in entries
        )
