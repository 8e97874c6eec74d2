"""Acting on an alert from its message, seen by the next polls: a silence made from a link
mutes that alert (its resolve included) and no other; an acknowledgement stops the reminders
of that firing, and a later firing is told again."""

from __future__ import annotations

import re
from datetime import timedelta

from lib.app.actions import Actor, apply_link
from lib.core.alerts import Alert
from lib.core.links import Signer
from lib.state.silences import list_silences
from tests.test_polling import (  # noqa: F401 - fixtures
    Watcher,
    backup_failing_and_told,
    concurrency,
    execute,
    make_watcher,
)

SIGNER = Signer("https://alerts.example.com", b"0123456789abcdef0123456789abcdef")
PHONE = Actor(ip="203.0.113.7", user_agent="DingTalk", name="Li Na")


def first_fingerprint(watcher: Watcher) -> str:
    """The fingerprint the first message told (what its links name)."""
    first: Alert = next(iter(watcher.receiver.alerts.values()))
    return first.fingerprint


def test_an_acknowledged_firing_is_not_reminded_and_the_next_firing_is_told(make_watcher):  # noqa: F811
    # GIVEN reminders every hour and a backup failing, told
    given = backup_failing_and_told(make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    ds, backup, clock, watcher = given.ds, given.backup, given.clock, given.watcher
    fingerprint = first_fingerprint(watcher)
    # WHEN someone taps 确认 on the message
    now = clock().timestamp()
    link = SIGNER.sign("ack", f"{fingerprint}.1", now + 600)
    assert apply_link(watcher.store, link, PHONE, now).result == "acknowledged"
    # THEN an hour later no reminder is sent, and the report says why
    clock.offset = timedelta(minutes=61)
    report = watcher.poll()
    assert [t.reminder for t in watcher.told()] == [0]
    assert report.acknowledged == 1
    # WHEN the backup recovers, then fails again: the new firing is told
    with ds.lock:
        execute(backup, "Success", at=clock.at(-1))
    watcher.poll()
    clock.offset = timedelta(hours=2, minutes=5)
    with ds.lock:
        execute(backup, "Failed", at=clock.at(-1), error_code="ExitCodeNonzero")
    watcher.poll()
    assert [(t.status, t.firing) for t in watcher.told()] == [
        ("firing", 1),
        ("resolved", 1),
        ("firing", 2),
    ]


def test_a_silence_from_a_link_mutes_that_alert_and_its_resolve(make_watcher):  # noqa: F811
    given = backup_failing_and_told(make_watcher, env={"ASSISTWATCH_REPEAT_INTERVAL": "1h"})
    ds, backup, clock, watcher = given.ds, given.backup, given.clock, given.watcher
    fingerprint = first_fingerprint(watcher)
    now = clock().timestamp()
    link = SIGNER.sign("silence-resolved", f"{fingerprint}.1", now + 600)
    silence_id = apply_link(watcher.store, link, PHONE, now).result
    # `assistwatch silence list` reads the same record: the same object as a CLI silence
    [silence] = list_silences(watcher.store, now)
    assert silence.id == silence_id
    assert silence.created_by == "Li Na"
    clock.offset = timedelta(minutes=61)
    watcher.poll()  # a reminder would be due: silenced
    with ds.lock:
        execute(backup, "Success", at=clock.at(-1))
    report = watcher.poll()  # resolved: silenced too
    assert len(watcher.told()) == 1
    assert report.silenced >= 1


ACTIONS_ON = {
    "ASSISTWATCH_PUBLIC_URL": "https://alerts.example.com",
    "ASSISTWATCH_ACTIONS_SECRET": "0123456789abcdef0123456789abcdef",
    "ASSISTWATCH_LANG": "en",
}


def page(watcher: Watcher, only: str | None = None) -> str:
    from zoneinfo import ZoneInfo

    from lib.edges.operator import operator_page

    now = watcher.app.clock().timestamp()
    settings = watcher.app.settings
    return operator_page(settings, SIGNER, watcher.store, now, ZoneInfo("UTC"), only=only)


def test_the_operator_page_shows_open_alerts_silences_runs_and_each_alerts_story(
    make_watcher,  # noqa: F811
):
    # GIVEN actions on and a backup failing, told
    given = backup_failing_and_told(make_watcher, env=ACTIONS_ON)
    ds, backup, clock, watcher = given.ds, given.backup, given.clock, given.watcher
    fingerprint = first_fingerprint(watcher)
    # THEN the operator page lists it as firing, and the last runs
    ops = page(watcher)
    assert "Open alerts" in ops
    assert "firing" in ops
    assert backup.command_name in ops
    assert "poll (timer) · ok" in ops
    # WHEN it is silenced from its link THEN the page says so, with who
    now = clock().timestamp()
    link = SIGNER.sign("silence-1h", f"{fingerprint}.1", now + 600)
    apply_link(watcher.store, link, PHONE, now)
    ops = page(watcher)
    assert ">silenced<" in ops
    detail = page(watcher, only=fingerprint)
    assert "Silence 1 hour" in detail
    assert "Li Na" in detail
    assert "told (firing)" in detail
    # WHEN it recovers THEN it leaves the open alerts, its story ends "resolved"... muted
    # by the silence, so nothing was told and the story keeps "fired" only
    with ds.lock:
        execute(backup, "Success", at=clock.at(-1))
    watcher.poll()
    assert len(watcher.told()) == 1


def test_a_steady_pass_does_not_write_the_journal_within_a_quarter_hour(make_watcher):  # noqa: F811
    given = backup_failing_and_told(make_watcher, env=ACTIONS_ON)
    clock, watcher = given.clock, given.watcher
    clock.offset = timedelta(minutes=5)
    writes = watcher.store.writes
    watcher.poll()
    assert watcher.store.writes == writes
    clock.offset = timedelta(minutes=20)
    watcher.poll()
    assert watcher.store.writes == writes + 1  # the page shows the watcher alive


def test_the_operator_pages_runs_are_kept_a_week(make_watcher):  # noqa: F811
    """GIVEN actions on and the runs of a told failure in the journal WHEN the watcher runs
    again eight days later THEN the page's recent runs are the last week's only: the old ones
    were dropped from the state store, not just hidden."""
    from lib.app.journal import RECORD as JOURNAL

    given = backup_failing_and_told(make_watcher, env=ACTIONS_ON)
    clock, watcher = given.clock, given.watcher
    first = [r["at"] for r in watcher.store.read(JOURNAL).value["runs"]]
    assert first
    clock.offset = timedelta(days=8)
    watcher.poll()
    kept = [r["at"] for r in watcher.store.read(JOURNAL).value["runs"]]
    assert len(kept) == 1  # this pass's run alone
    assert kept[0] > max(first) + 7 * 86400
    assert not set(first) & set(kept)
    assert "poll (timer) · ok" in page(watcher)


def test_an_alerts_detail_page_tells_its_whole_story_with_who_and_when(make_watcher):  # noqa: F811
    """GIVEN actions on, reminders hourly and a backup failing, told WHEN an hour later it is
    reminded, Li Na acknowledges it from her phone, and it then recovers THEN its 详情 page's
    history reads fired, reminded, acknowledged (by Li Na, from her address), resolved, each
    with its time, newest first."""
    env = {**ACTIONS_ON, "ASSISTWATCH_REPEAT_INTERVAL": "1h"}
    given = backup_failing_and_told(make_watcher, env=env)
    ds, backup, clock, watcher = given.ds, given.backup, given.clock, given.watcher
    fingerprint = first_fingerprint(watcher)
    clock.offset = timedelta(minutes=61)
    watcher.poll()  # the reminder
    now = clock().timestamp()
    apply_link(watcher.store, SIGNER.sign("ack", f"{fingerprint}.1", now + 600), PHONE, now)
    clock.offset = timedelta(minutes=70)
    with ds.lock:
        execute(backup, "Success", at=clock.at(-1))
    watcher.poll()  # resolved, told
    detail = page(watcher, only=fingerprint)
    history = detail.split("<h2>History</h2>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", history)
    kinds = [re.sub(r"<[^>]+>", " ", row) for row in rows]
    order = ["resolved", "Acknowledge", "reminded", "told (firing)"]
    found = [next(i for i, text in enumerate(kinds) if kind in text) for kind in order]
    assert found == sorted(found)  # newest first
    [ack] = [text for text in kinds if "Acknowledge" in text]
    assert "Li Na" in ack
    assert "203.0.113.7" in ack
    assert all(re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text) for text in kinds)


def test_the_detail_page_shows_the_whole_output_not_only_the_messages_tail(
    make_watcher,  # noqa: F811
):
    """GIVEN actions on and a deploy whose failed run printed 3,900 characters of log (its
    first line says which database), more than a message shows (2,000 bytes) WHEN its 详情
    page is opened THEN the page shows the whole output, first line to last, with the
    password it printed redacted."""
    from tests.fakes.dataset import Dataset
    from tests.test_polling import deploy

    log = "\n".join(
        ["dumping database orders-prod (password=hunter2hunter2)"]
        + [f"copied chunk {n:04d} of 0180 to oss://backups/orders" for n in range(70)]
        + ["ERROR: disk full on /data"]
    )
    assert 3000 < len(log) < 4000  # a Finding keeps 4,000 characters (OUTPUT_LIMIT)
    watcher = make_watcher(Dataset().add(deploy(1, output=log)), env=ACTIONS_ON)
    watcher.app.settings = watcher.app.settings.model_copy(update={"show_output": True})
    assert watcher.poll().alerts_sent == 1
    detail = page(watcher, only=first_fingerprint(watcher))
    assert "dumping database orders-prod" in detail
    assert "copied chunk 0035 of 0180" in detail
    assert "ERROR: disk full on /data" in detail
    assert "hunter2hunter2" not in detail


def test_the_journal_stays_far_below_a_table_store_column_however_much_the_cloud_printed():
    """GIVEN 250 alerts each told with Cloud Assistant's largest output (24 KB) WHEN the
    journal keeps them THEN it keeps the 200 newest, the newest with their whole output, the
    oldest with their last 1,000 bytes, and the record is well under Table Store's 2 MB a
    column (general limits of Table Store)."""
    import json

    from lib.app.journal import bounded

    big = "x" * (24 * 1024 - 17) + "\nERROR: disk full"
    alerts = {
        f"fp{n:03d}": {"output": big, "updated_at": float(n), "status": "firing"}
        for n in range(250)
    }
    kept = bounded(alerts)
    assert len(kept) == 200
    assert kept["fp249"]["output"] == big  # the newest: whole
    oldest = kept["fp050"]["output"]
    assert oldest.endswith("ERROR: disk full")
    assert len(oldest.encode()) <= 1000 + 3
    size = len(json.dumps({"runs": [], "alerts": kept}, ensure_ascii=False).encode())
    assert size < 1024 * 1024


def test_the_journal_stays_below_a_table_store_column_when_commands_printed_binary():
    """GIVEN 200 alerts whose command printed binary (Cloud Assistant's 4,000 characters of
    control bytes each: a `cat` of a compressed file, kept in journals written before their
    output was cleaned) WHEN the journal keeps them THEN the record as Table Store stores it
    (JSON, where one control byte would take six) is under 2 MB a column, each output
    keeping its error line and losing its control bytes, as the messages show it."""
    import json

    from lib.app.journal import bounded

    binary = "".join(chr(n % 32) for n in range(3984)) + "\nERROR: bad gzip"
    assert len(binary) == 4000  # a Finding's OUTPUT_LIMIT
    alerts = {
        f"fp{n:03d}": {"output": binary, "updated_at": float(n), "status": "firing"}
        for n in range(200)
    }
    kept = bounded(alerts)
    assert len(kept) == 200
    assert all(entry["output"].endswith("\nERROR: bad gzip") for entry in kept.values())
    assert not any(chr(n) in entry["output"] for entry in kept.values() for n in (0, 1, 27))
    size = len(json.dumps({"runs": [], "alerts": kept}, ensure_ascii=False).encode())
    assert size < 1024 * 1024


def test_the_detail_page_shows_a_binary_output_without_its_control_bytes(make_watcher):  # noqa: F811
    """GIVEN a command that printed colour codes and NUL bytes before its error WHEN its 详情
    page is opened THEN the page shows the text as the message did: no escape or NUL bytes
    (a browser shows them as boxes), the error line whole."""
    from tests.fakes.dataset import Dataset
    from tests.test_polling import deploy

    log = "\x1b[31mfailed\x1b[0m\x00\x00\x01\x02 gzip: stdin: not in gzip format\nERROR: bad gzip"
    watcher = make_watcher(Dataset().add(deploy(1, output=log)), env=ACTIONS_ON)
    watcher.app.settings = watcher.app.settings.model_copy(update={"show_output": True})
    assert watcher.poll().alerts_sent == 1
    detail = page(watcher, only=first_fingerprint(watcher))
    assert "failed gzip: stdin: not in gzip format" in detail
    assert "ERROR: bad gzip" in detail
    assert not any(char in detail for char in "\x1b\x00\x01\x02")
