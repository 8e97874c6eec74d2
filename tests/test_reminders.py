"""Reminders: when they are due, for whom, how often, and how they read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lib.app.config import parse_config
from lib.core.alerts import Alert, Reminded
from lib.core.notification import Notification
from lib.core.reminders import could_be_due, due_reminders, shortest_interval, superseded
from lib.core.routing import Matcher, Route, RoutingTable, plan, repeat_intervals, route
from lib.notify.render import RenderOptions, message_id, render_markdown
from lib.notify.webhook import alertmanager_payload
from lib.support.errors import ConfigError
from lib.support.settings import load_settings
from tests.factories import make_alert, make_classification, make_finding

TOLD = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def test_no_reminder_before_an_interval_has_passed_then_one_per_interval() -> None:
    # GIVEN an alert told at 02:00 and a receiver reminded hourly
    alert = make_alert()
    hourly = {"ops": HOUR}
    # WHEN polls run at 02:59 and 03:01
    early, kept = due_reminders(
        alert, told_at=TOLD, intervals=hourly, reminded={}, now=TOLD + 59 * HOUR / 60
    )
    due, counts = due_reminders(
        alert, told_at=TOLD, intervals=hourly, reminded=kept, now=TOLD + HOUR
    )
    # THEN nothing at 02:59; reminder 1 at 03:00, for ops only, remembered
    assert early == []
    assert kept == {}
    assert [(a.reminder, a.receiver, a.status) for a in due] == [(1, "ops", "firing")]
    assert counts == {"ops": Reminded(number=1, at=TOLD + HOUR)}
    # AND a poll a minute later sends nothing more
    again, _ = due_reminders(
        alert, told_at=TOLD, intervals=hourly, reminded=counts, now=TOLD + 61 * HOUR / 60
    )
    assert again == []


def test_a_watcher_back_after_hours_sends_one_reminder_not_a_backlog() -> None:
    # GIVEN reminder 1 at 03:00, and the watcher stopped until 07:30
    now = TOLD + 5.5 * HOUR
    due, counts = due_reminders(
        make_alert(),
        told_at=TOLD,
        intervals={"ops": HOUR},
        reminded={"ops": Reminded(number=1, at=TOLD + HOUR)},
        now=now,
    )
    # THEN one reminder, the next in line, and the next one an hour after it
    assert [a.reminder for a in due] == [2]
    assert counts == {"ops": Reminded(number=2, at=now)}


def test_each_receiver_is_reminded_on_its_own_interval() -> None:
    # GIVEN the on-call robot reminded hourly and the team's webhook every 4 hours
    intervals = {"oncall": HOUR, "team": 4 * HOUR}
    # WHEN 4 hours have passed since the alert was told
    reminded = {"oncall": Reminded(number=3, at=TOLD + 3 * HOUR)}
    due, counts = due_reminders(
        make_alert(), told_at=TOLD, intervals=intervals, reminded=reminded, now=TOLD + 4 * HOUR
    )
    # THEN the robot gets reminder 4 and the webhook its first
    assert sorted((a.receiver, a.reminder) for a in due) == [("oncall", 4), ("team", 1)]
    assert {name: mark.number for name, mark in counts.items()} == {"oncall": 4, "team": 1}


def test_a_longer_interval_reminds_from_the_last_reminder_on_the_new_interval() -> None:
    # GIVEN reminded hourly for a day (reminder 24 at 02:00 the next day)
    last = Reminded(number=24, at=TOLD + 24 * HOUR)
    # WHEN the route changes to every 4 hours
    early, _ = due_reminders(
        make_alert(),
        told_at=TOLD,
        intervals={"ops": 4 * HOUR},
        reminded={"ops": last},
        now=TOLD + 27 * HOUR,
    )
    due, _ = due_reminders(
        make_alert(),
        told_at=TOLD,
        intervals={"ops": 4 * HOUR},
        reminded={"ops": last},
        now=TOLD + 28 * HOUR,
    )
    # THEN nothing 3 hours on, reminder 25 4 hours on
    assert early == []
    assert [a.reminder for a in due] == [25]


def test_routing_waits_until_a_reminder_could_be_due() -> None:
    # GIVEN the shortest interval anywhere is 1h, 4h on one route, 12h for the rest
    table = RoutingTable(
        routes=(Route(receivers=("ops",), repeat_interval=HOUR),), repeat_interval=12 * HOUR
    )
    shortest = shortest_interval(4 * HOUR, table)
    assert shortest == HOUR
    assert shortest_interval(timedelta(0), RoutingTable()) is None  # 0 = off: nothing reminds
    # THEN an alert told 59 minutes ago, or last reminded 59 minutes ago, needs no routing yet
    assert not could_be_due(TOLD, {}, HOUR, TOLD + 59 * HOUR / 60)
    assert could_be_due(TOLD, {}, HOUR, TOLD + HOUR)
    mark = {"ops": Reminded(number=1, at=TOLD + HOUR)}
    assert not could_be_due(TOLD, mark, HOUR, TOLD + 1.5 * HOUR)
    assert could_be_due(TOLD, mark, HOUR, TOLD + 2 * HOUR)


def test_a_reminder_is_a_claim_of_its_own_and_a_message_of_its_own() -> None:
    alert = make_alert()
    (reminder,), _ = due_reminders(
        alert, told_at=TOLD, intervals={"ops": HOUR}, reminded={}, now=TOLD + HOUR
    )
    assert reminder.claim_key("ops") != alert.claim_key("ops")
    assert reminder.claim_key("ops").id != alert.claim_key("ops").id
    assert reminder.key != alert.key
    assert message_id("ops", [reminder]) != message_id("ops", [alert])


def test_a_reminder_goes_only_to_the_receiver_it_is_due_for() -> None:
    # GIVEN a reminder due for ops (every receiver hears everything)
    (reminder,), _ = due_reminders(
        make_alert(), told_at=TOLD, intervals={"ops": HOUR}, reminded={}, now=TOLD + HOUR
    )
    # WHEN routed to ops and team
    routed = route([reminder], ["ops", "team"])
    # THEN only ops gets it, and redelivery from the outbox plans it for ops the same way
    assert routed == {"ops": [reminder], "team": []}
    assert [n.alerts for _, n in plan("ops", [reminder])] == [(reminder,)]


def test_the_route_interval_wins_over_the_file_default_over_the_environment() -> None:
    # GIVEN critical alerts routed to oncall every hour, backups to team with reminders off,
    # everything else to ops under the file's 12h default (the environment says 1d)
    table = RoutingTable(
        routes=(
            Route(
                receivers=("oncall",),
                matcher=Matcher(severities=frozenset({"critical"})),
                repeat_interval=HOUR,
            ),
            Route(
                receivers=("team",),
                matcher=Matcher(names=("backup-*",)),
                repeat_interval=timedelta(0),
            ),
        ),
        default_receivers=("ops",),
        repeat_interval=12 * HOUR,
    )
    receivers = ["oncall", "team", "ops"]
    critical = make_alert(make_finding(classification=make_classification(severity="critical")))
    backup = make_alert(make_finding(name="backup-db"))
    other = make_alert(make_finding(name="deploy.sh"))
    day = timedelta(days=1)
    # THEN
    assert repeat_intervals(critical, receivers, table, default=day) == {"oncall": HOUR}
    assert repeat_intervals(backup, receivers, table, default=day) == {}
    assert repeat_intervals(other, receivers, table, default=day) == {"ops": 12 * HOUR}
    # AND without a routing file, the environment's interval applies to everyone
    assert repeat_intervals(other, ["ops", "team"], None, default=day) == {"ops": day, "team": day}
    assert repeat_intervals(other, ["ops"], None, default=None) == {}


def test_the_routing_file_takes_a_default_interval_and_off_per_route() -> None:
    config = parse_config(
        "repeat_interval: 6h\n"
        "routes:\n"
        "  - match: {name: 'backup-*'}\n"
        "    receivers: [console]\n"
        "    repeat_interval: off\n",
        known=("console",),
    )
    assert config.table.repeat_interval == 6 * HOUR
    assert config.table.routes[0].repeat_interval == timedelta(0)


def test_a_repeat_interval_under_a_minute_is_refused_naming_the_line() -> None:
    text = "routes:\n  - receivers: [console]\n    repeat_interval: 30s\n"
    with pytest.raises(
        ConfigError, match=r"<config>:3: routes\[0\]\.repeat_interval: .*at least 1m"
    ):
        parse_config(text, known=("console",))
    with pytest.raises(ConfigError, match="ASSISTWATCH_REPEAT_INTERVAL"):
        load_settings({"ASSISTWATCH_REPEAT_INTERVAL": "soon"})


@pytest.mark.parametrize(
    ("lang", "words"), [("zh", "第 3 次提醒，仍未恢复"), ("en", "reminder 3: still open")]
)
def test_a_reminder_reads_as_one(lang: str, words: str) -> None:
    # GIVEN reminder 3 of a failure
    (reminder,), _ = due_reminders(
        make_alert(),
        told_at=TOLD,
        intervals={"ops": HOUR},
        reminded={"ops": Reminded(number=2, at=TOLD + 2 * HOUR)},
        now=TOLD + 3 * HOUR,
    )
    # WHEN rendered for a robot and a webhook
    options = RenderOptions(lang=lang, timezone="Asia/Shanghai")
    text = render_markdown(make_notification_for(reminder), options)
    payload = alertmanager_payload(make_notification_for(reminder), "ops", options)
    # THEN the robot's text says which reminder and since when; the webhook carries the number
    assert words in text
    assert ("持续自" if lang == "zh" else "Open since") in text
    assert payload["alerts"][0]["annotations"]["reminder"] == "3"
    assert payload["alerts"][0]["status"] == "firing"


def make_notification_for(alert: Alert) -> Notification:
    return Notification(receiver="ops", group=alert.group, alerts=(alert,))


def test_of_reminders_that_waited_only_the_newest_is_sent_and_none_beside_its_resolve() -> None:
    # GIVEN reminders 1 and 2 of one firing waiting, with another alert's reminder 1 and resolve
    one, two = make_alert(reminder=1), make_alert(reminder=2)
    other = make_finding(instance_id="i-other")
    other_reminder = make_alert(other, reminder=1)
    other_resolve = make_alert(other, status="resolved")
    first_notice = make_alert(make_finding(instance_id="i-third"))
    # WHEN the outbox sorts what is still worth sending
    send, stale = superseded([one, two, other_reminder, other_resolve, first_notice])
    # THEN the newest reminder, the resolve and the first notice go; the rest are superseded
    assert send == [two, other_resolve, first_notice]
    assert stale == [one, other_reminder]
