"""One message per cause: a task failing on many instances reads by error signature."""

from __future__ import annotations

from pydantic import SecretStr

from lib.core.notification import Notification
from lib.notify.dingtalk import DingTalkReceiver
from lib.notify.render import RenderOptions, compact_json, render_markdown
from lib.notify.signatures import signature
from tests.factories import make_alert, make_classification, make_finding

ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"


def disk_full(n: int):
    return make_alert(
        make_finding(
            name="rollout.sh",
            instance_id=f"i-bp1rollout{n:09d}",
            output=f"copying build {n}\ncp: error writing '/data/app-{n}.tar': No space left on "
            f"device\n/data {90 + n % 10}% used",
        )
    )


def timed_out(n: int):
    return make_alert(
        make_finding(
            name="rollout.sh",
            instance_id=f"i-bp1slow{n:012d}",
            status="Timeout",
            error_code="ExecutionTimeout",
            exit_code=None,
            output="",
            classification=make_classification(code="ExecutionTimeout", category="timeout"),
        )
    )


def rollout(*alerts) -> Notification:
    return Notification(receiver="ops", group=alerts[0].group, alerts=tuple(alerts))


def test_a_rollout_failing_two_ways_reads_as_two_causes_with_every_instance_named():
    # GIVEN rollout.sh failed on 37 instances: 30 with a full disk, 7 timed out
    alerts = [disk_full(n) for n in range(30)] + [timed_out(n) for n in range(7)]
    text = render_markdown(rollout(*alerts), RenderOptions(lang="en"))
    # THEN the summary counts each cause
    assert "`rollout.sh` failed on 37 instances: 30 × `ExitCodeNonzero` · exit 1" in text
    assert "7 × `ExecutionTimeout`" in text
    # AND the shared output is shown once per signature, not 30 times
    assert "\"cp: error writing '/data/app-0.tar': No space left on device\"" in text
    assert text.count("No space left on device") == 2  # the summary's quote and one output
    # AND every instance is named
    assert all(a.finding.instance_id in text for a in alerts)
    assert "Same failure on (30)" in text


def test_thirty_instances_failing_the_same_way_are_one_robot_message_under_8000_bytes(http):
    robot = DingTalkReceiver("ops", SecretStr(ROBOT), None, http=http)
    alerts = [disk_full(n) for n in range(30)]
    messages = robot.render(rollout(*alerts))
    assert len(messages) == 1
    body = compact_json(messages[0].payload)
    assert len(body) <= 8000
    assert all(a.finding.instance_id in messages[0].text for a in alerts)
    # AND the message still covers every alert: claims stay per instance
    assert sorted(messages[0].covers) == sorted(a.key for a in alerts)


def test_failures_that_differ_only_in_numbers_and_ids_share_a_signature():
    a, b = disk_full(1).finding, disk_full(2).finding
    assert a.output != b.output
    assert signature(a) == signature(b)
    assert signature(a) != signature(timed_out(1).finding)


def test_a_few_failures_or_all_different_are_read_one_by_one():
    two = render_markdown(rollout(disk_full(1), disk_full(2)), RenderOptions(lang="en"))
    assert "failed on" not in two
    different = [
        make_alert(make_finding(name="rollout.sh", instance_id=f"i-x{n}", exit_code=n, output=""))
        for n in range(1, 5)
    ]
    assert "failed on" not in render_markdown(rollout(*different), RenderOptions(lang="en"))


def test_the_summary_reads_in_chinese_too():
    alerts = [disk_full(n) for n in range(5)]
    text = render_markdown(rollout(*alerts), RenderOptions(lang="zh"))
    assert "`rollout.sh` 在 5 台实例上失败：5 × `ExitCodeNonzero`" in text


def test_text_from_the_cloud_stays_data_when_read_by_cause():
    """GIVEN a command with a hostile name failing the same way on 6 instances, its output
    carrying a link, a mention and a heading WHEN the notification reads by cause THEN nothing
    in it would act on a robot (no link, no tag, no heading of theirs) and every id and the
    invoke id are still there to copy."""
    hostile = "deploy.sh`\n\n### INJECTED"
    alerts = tuple(
        make_alert(
            make_finding(
                name=hostile,
                instance_id=f"i-bp1hostile{n:09d}",
                output="step\n[click](http://evil) <at id=all></at>\nerror: failed",
            )
        )
        for n in range(6)
    )
    text = render_markdown(Notification(receiver="r", group="g", alerts=alerts), RenderOptions())

    assert "](http://evil)" not in text
    assert "<at id=all>" not in text
    assert not any(line.startswith("### INJECTED") for line in text.splitlines())
    for alert in alerts:
        assert alert.finding.instance_id in text
    assert alerts[0].finding.invoke_id in text


def _login_failed(n: int):
    return make_alert(
        make_finding(
            name="db-migrate.sh",
            instance_id=f"i-bp1migrate{n:09d}",
            output="connecting\nERROR 1045: login failed for mysql://app:Hunter2pass@10.0.0.5/prod",
        )
    )


def test_the_causes_summary_quotes_no_output_where_output_is_off():
    # GIVEN a receiver set to show no command output (ASSISTWATCH_SHOW_OUTPUT=false)
    # WHEN a migration fails the same way on six instances, its output naming a password
    alerts = [_login_failed(n) for n in range(6)]
    text = render_markdown(rollout(*alerts), RenderOptions(lang="en", show_output=False))
    # THEN the message reads by cause, and quotes nothing of the output
    assert "failed on 6 instances: 6 × `ExitCodeNonzero` · exit 1" in text
    assert "login failed" not in text
    assert "Hunter2pass" not in text


def test_the_causes_summary_quotes_the_output_redacted():
    # GIVEN output shown WHEN the same failure names a password THEN the quote masks it
    alerts = [_login_failed(n) for n in range(6)]
    text = render_markdown(rollout(*alerts), RenderOptions(lang="en"))
    assert "ERROR 1045: login failed" in text
    assert "Hunter2pass" not in text
