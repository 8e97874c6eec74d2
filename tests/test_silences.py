"""Silences added at run time mute matching alerts until they expire, shared by every run."""

from __future__ import annotations

import io
from pathlib import Path

from lib.core.silences import apply_silences
from lib.edges.cli import build_parser
from lib.edges.cli.silence import silence
from lib.state.file import FileStore
from lib.state.silences import add_silence, list_silences
from tests.factories import make_alert, make_finding

NOW = 1_764_000_000.0


def cli(environ: dict[str, str], *argv: str, now: float = NOW) -> tuple[int, str]:
    """Run `assistwatch silence …`; what it printed (stdout, then the stderr line if any)."""
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["silence", *argv])
    status = silence(args, environ, stream=out, now=now, err=err)
    return status, out.getvalue() + err.getvalue()


def test_a_silence_added_from_the_cli_mutes_matching_alerts_until_it_expires(
    tmp_path: Path,
) -> None:
    """GIVEN `assistwatch silence add --match name=backup-* --for 2h --reason …`
    WHEN a run applies the store's silences THEN backup alerts are muted, others told;
    after two hours nothing is muted and `list` no longer shows it."""
    env = {"ASSISTWATCH_STATE_URL": f"file://{tmp_path}"}
    status, out = cli(
        env, "add", "--match", "name=backup-*", "--for", "2h", "--reason", "disk migration"
    )
    assert status == 0
    assert out.startswith("added s-")
    status, out = cli(env, "list")
    assert "disk migration" in out
    store = FileStore(tmp_path)
    backup = make_alert(make_finding(name="backup-db"))
    deploy = make_alert(make_finding(name="deploy.sh", instance_id="i-2"))
    told, muted = apply_silences([backup, deploy], list_silences(store, NOW), NOW + 60)
    assert told == [deploy]
    assert [alert for alert, _ in muted] == [backup]
    later = NOW + 2 * 3600
    assert apply_silences([backup], list_silences(store, later), later) == ([backup], [])
    assert cli(env, "list", now=later)[1] == "no silences\n"


def test_two_people_adding_silences_at_once_both_keep_theirs(tmp_path: Path) -> None:
    """GIVEN two stores over the same state WHEN each adds a silence THEN both are listed."""
    first = add_silence(
        FileStore(tmp_path), {"region": "cn-beijing"}, reason="a", duration_seconds=600, now=NOW
    )
    second = add_silence(
        FileStore(tmp_path), {"severity": "info"}, reason="b", duration_seconds=600, now=NOW
    )
    assert {s.id for s in list_silences(FileStore(tmp_path), NOW)} == {first.id, second.id}


def test_a_bad_condition_or_expiring_an_unknown_silence_fails_clearly(tmp_path: Path) -> None:
    """GIVEN a misspelt field / an unknown id WHEN run THEN exit 1 with the reason."""
    env = {"ASSISTWATCH_STATE_URL": f"file://{tmp_path}"}
    status, out = cli(env, "add", "--match", "colour=red", "--for", "1h", "--reason", "x")
    assert (status, out) == (1, "assistwatch silence: --match colour: unknown field\n")
    status, out = cli(env, "add", "--match", "severity=loud", "--for", "1h", "--reason", "x")
    assert status == 1
    assert "silence.severity" in out
    status, out = cli(env, "expire", "s-00000000")
    assert (status, out) == (1, "assistwatch silence: no active silence s-00000000\n")


def test_an_instance_being_decommissioned_is_muted_by_its_id(tmp_path: Path) -> None:
    """GIVEN `assistwatch silence add --match instance_id=i-old* --for 7d`
    WHEN alerts (an agent alert among them) are screened THEN only that instance's are muted."""
    env = {"ASSISTWATCH_STATE_URL": f"file://{tmp_path}"}
    status, _ = cli(
        env, "add", "--match", "instance_id=i-old*", "--for", "7d", "--reason", "decommissioning"
    )
    assert status == 0
    old = make_alert(make_finding(instance_id="i-old-1", error_code="ClientNotRunning"))
    other = make_alert(make_finding(instance_id="i-new-1"))
    told, muted = apply_silences([old, other], list_silences(FileStore(tmp_path), NOW), NOW + 60)
    assert told == [other]
    assert [alert for alert, _ in muted] == [old]
