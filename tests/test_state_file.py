"""The file:// state backend: the shared contract, expiry, damage, and choosing it by URL."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lib.state import nas_mount_covering, open_store
from lib.state.base import ClaimOutcome, StateStore
from lib.state.file import DAY, EXPIRY_SECONDS, FileStore
from lib.support.errors import ConfigError, StateError
from tests.factories import Clock
from tests.state_contract import NOW, StateStoreContract, StoreFactory, alert_payload, key

LEASE = 900.0


class TestFileStoreContract(StateStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        def make(namespace: str = "default") -> StateStore:
            return FileStore(tmp_path / "state", namespace=namespace)

        return make

    @pytest.fixture
    def process_factory(self, tmp_path: Path) -> Callable[[], StateStore] | None:
        return functools.partial(FileStore, tmp_path / "state")


# ---- expiry --------------------------------------------------------------------------------


def test_prune_deletes_confirmed_claims_older_than_six_weeks_and_a_day(tmp_path: Path) -> None:
    # GIVEN a claim confirmed long ago and one confirmed recently
    store = FileStore(tmp_path)
    store.claim(key(1), alert_payload(1), "run", LEASE, NOW)
    store.confirm(key(1), "run", NOW)
    later = NOW + EXPIRY_SECONDS + 2 * DAY
    store.claim(key(2), alert_payload(2), "run", LEASE, later - DAY)
    store.confirm(key(2), "run", later - DAY)
    # WHEN prune runs
    deleted = store.prune(later)
    # THEN the old one is forgotten (it could be claimed anew) and the recent one is kept
    assert deleted == 1
    assert store.claim(key(1), alert_payload(1), "run", LEASE, later) is ClaimOutcome.WON
    assert store.claim(key(2), alert_payload(2), "run", LEASE, later) is ClaimOutcome.DONE


def test_prune_keeps_a_claim_whose_last_write_is_recent(tmp_path: Path) -> None:
    # GIVEN a claim made long ago but confirmed only 40 days later
    store = FileStore(tmp_path)
    store.claim(key(), alert_payload(), "run", LEASE, NOW)
    store.release(key(), "run", "throttled", NOW)
    store.take_over(store.pending(NOW)[0], "run-2", LEASE, NOW + 40 * DAY)
    store.confirm(key(), "run-2", NOW + 40 * DAY)
    # WHEN prune runs after the first write's expiry but before the last write's
    deleted = store.prune(NOW + EXPIRY_SECONDS + 5 * DAY)
    # THEN it is kept: expiry counts from the last write
    assert deleted == 0
    assert store.claim(key(), alert_payload(), "x", LEASE, NOW + 50 * DAY) is ClaimOutcome.DONE


def test_prune_never_drops_an_undelivered_claim(tmp_path: Path) -> None:
    # GIVEN a claim that was never confirmed (its sends kept failing)
    store = FileStore(tmp_path)
    store.claim(key(), alert_payload(), "run", LEASE, NOW)
    store.release(key(), "run", "robot misconfigured", NOW + 1)
    much_later = NOW + 3 * EXPIRY_SECONDS
    # WHEN prune runs long after its expiry
    deleted = store.prune(much_later)
    # THEN it stays in the outbox
    assert deleted == 0
    assert [c.key for c in store.pending(much_later)] == [key()]


def test_prune_deletes_records_not_written_for_six_weeks_and_a_day(tmp_path: Path) -> None:
    # GIVEN a record written long ago and one rewritten recently
    clock = Clock(NOW)
    store = FileStore(tmp_path, clock=clock)
    store.write("watch/old", {"invoke": "t-1"}, None)
    store.write("watch/busy", {"n": 1}, None)
    clock.now = NOW + 30 * DAY
    store.write("watch/busy", {"n": 2}, store.read("watch/busy").version)
    # WHEN prune runs after the first write's expiry
    deleted = store.prune(NOW + EXPIRY_SECONDS + 2 * DAY)
    # THEN the old record is gone and the recently written one stays
    assert deleted == 1
    assert store.read("watch/old").version is None
    assert store.read("watch/busy").value == {"n": 2}


def test_prune_with_nothing_expired_changes_nothing(tmp_path: Path) -> None:
    # GIVEN fresh claims and records
    store = FileStore(tmp_path, clock=Clock(NOW))
    store.claim(key(), alert_payload(), "run", LEASE, NOW)
    store.confirm(key(), "run", NOW)
    store.write("w", {"a": 1}, None)
    # WHEN prune runs a day later
    # THEN nothing is deleted
    assert store.prune(NOW + DAY) == 0
    assert store.claim(key(), alert_payload(), "x", LEASE, NOW + DAY) is ClaimOutcome.DONE
    assert store.read("w").value == {"a": 1}


def test_prune_forgets_whole_expired_days_from_its_index(tmp_path: Path) -> None:
    # GIVEN writes spread over ten days, all long expired
    store = FileStore(tmp_path)
    for n in range(10):
        store.claim(key(n), alert_payload(n), "run", LEASE, NOW + n * DAY)
        store.confirm(key(n), "run", NOW + n * DAY)
    # WHEN prune runs, then runs again
    first = store.prune(NOW + EXPIRY_SECONDS + 20 * DAY)
    second = store.prune(NOW + EXPIRY_SECONDS + 20 * DAY)
    # THEN everything went in the first pass and the index holds no old day
    assert (first, second) == (10, 0)
    assert list((store.root / "expiry").iterdir()) == []


def test_claiming_an_already_told_alert_again_leaves_the_outbox_empty(tmp_path: Path) -> None:
    # GIVEN a confirmed claim, seen again by every later poll
    store = FileStore(tmp_path)
    store.claim(key(), alert_payload(), "run", LEASE, NOW)
    store.confirm(key(), "run", NOW)
    # WHEN later runs claim it again and again
    outcomes = {store.claim(key(), alert_payload(), f"run-{i}", LEASE, NOW + i) for i in range(5)}
    # THEN each is told it is done, and the outbox pending() reads stays empty
    assert outcomes == {ClaimOutcome.DONE}
    assert list((store.root / "outbox").iterdir()) == []


# ---- damage and bad locations --------------------------------------------------------------


def test_truncated_claim_file_is_reported_by_name_not_as_a_traceback(tmp_path: Path) -> None:
    # GIVEN a claim whose file was truncated (a full disk, a copied directory)
    store = FileStore(tmp_path)
    store.claim(key(), {"output": "password=hunter2"}, "run", LEASE, NOW)
    store.release(key(), "run", "deferred", NOW)
    (path,) = (store.root / "claims").glob("*/*.json")
    path.write_bytes(path.read_bytes()[:25])
    # WHEN the outbox is scanned, or the key is claimed
    # THEN a StateError names the file, and does not quote its content
    for attempt in (
        lambda: store.pending(NOW),
        lambda: store.claim(key(), alert_payload(), "x", LEASE, NOW),
    ):
        with pytest.raises(StateError, match="corrupt") as caught:
            attempt()
        assert str(path) in str(caught.value)
        assert "hunter2" not in str(caught.value)


def test_corrupt_record_is_reported_by_name(tmp_path: Path) -> None:
    # GIVEN a record file holding something that is not a record
    store = FileStore(tmp_path)
    store.write("budget", {"sent": 1}, None)
    (path,) = (store.root / "records").iterdir()
    path.write_text(json.dumps(["not", "a", "record"]))
    # WHEN it is read THEN a StateError names the file
    with pytest.raises(StateError, match="corrupt") as caught:
        store.read("budget")
    assert str(path) in str(caught.value)


def test_directory_is_created_when_missing(tmp_path: Path) -> None:
    # GIVEN a directory that does not exist yet
    target = tmp_path / "a" / "b" / "state"
    # WHEN a store is opened there and used
    store = FileStore(target)
    # THEN it works
    assert store.claim(key(), alert_payload(), "run", LEASE, NOW) is ClaimOutcome.WON
    assert target.is_dir()


def test_unusable_directory_is_a_clear_state_error(tmp_path: Path) -> None:
    # GIVEN a "directory" that is really a regular file
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    # WHEN a store is opened there THEN a StateError says the directory is not usable
    with pytest.raises(StateError, match="not usable") as caught:
        FileStore(blocker)
    assert str(blocker) in str(caught.value)


def test_invalid_namespace_is_a_config_error(tmp_path: Path) -> None:
    # GIVEN namespaces that would escape or hide in the directory
    # WHEN a store is opened with one THEN it is refused as configuration
    for bad in ("..", "a/b", "", ".hidden"):
        with pytest.raises(ConfigError, match="namespace"):
            FileStore(tmp_path, namespace=bad)


def test_record_names_with_slashes_and_unicode_do_not_collide(tmp_path: Path) -> None:
    # GIVEN records whose names differ only in characters a file name cannot hold as is
    store = FileStore(tmp_path)
    names = ["wm/a/b", "wm%2Fa/b", "wm/a.b", "水位/华东", "x" * 400, "x" * 399 + "y"]
    # WHEN each is written
    for i, name in enumerate(names):
        assert store.write(name, {"i": i}, None)
    # THEN each reads back its own value
    assert [store.read(name).value["i"] for name in names] == list(range(len(names)))


# ---- open_store ----------------------------------------------------------------------------


def test_file_url_with_a_relative_path_opens_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a local run in some working directory
    monkeypatch.chdir(tmp_path)
    # WHEN the state URL is file://.assistwatch-state
    store = open_store("file://.assistwatch-state", environ={})
    # THEN a working store lives in that directory
    assert store.claim(key(), alert_payload(), "run", LEASE, NOW) is ClaimOutcome.WON
    assert (tmp_path / ".assistwatch-state" / "default").is_dir()


def test_file_url_with_an_absolute_path(tmp_path: Path) -> None:
    # GIVEN an absolute file:// URL WHEN it is opened THEN the store lives there
    store = open_store(f"file://{tmp_path}/abs", environ={}, namespace="prod")
    store.write("w", {"a": 1}, None)
    assert (tmp_path / "abs" / "prod" / "records").is_dir()


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/x",
        "redis://:hunter2@host/0",
        "admin:hunter2@host://x",
        "/var/lib/state",
        "file://",
    ],
)
def test_unknown_or_malformed_url_names_the_setting_and_the_accepted_forms(url: str) -> None:
    # GIVEN a state URL we cannot use
    # WHEN it is opened
    # THEN a ConfigError names the variable, shows what is accepted, and never echoes the URL
    with pytest.raises(ConfigError, match="ASSISTWATCH_STATE_URL") as caught:
        open_store(url, environ={})
    assert "file://" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_file_state_in_tmp_is_refused_on_function_compute(tmp_path: Path) -> None:
    # GIVEN we run on Function Compute with no NAS mounted
    mounts = tmp_path / "mounts"
    mounts.write_text("overlay / overlay rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n")
    # WHEN the state URL points at /tmp
    with pytest.raises(ConfigError) as caught:
        open_store(
            "file:///tmp/assistwatch",
            environ={"FC_FUNCTION_NAME": "assistwatch"},
            mounts_path=mounts,
        )
    # THEN it is refused, saying why and what to use instead
    message = str(caught.value)
    assert "ASSISTWATCH_STATE_URL" in message
    assert "/tmp dies with the instance" in message
    assert "ots://" in message
    assert "NAS" in message


def test_file_state_on_a_mounted_nas_is_accepted_on_function_compute(tmp_path: Path) -> None:
    # GIVEN we run on Function Compute with a NAS mounted over the state directory
    nas = tmp_path / "mnt nas"
    mounts = tmp_path / "mounts"
    escaped = str(nas).replace(" ", "\\040")
    mounts.write_text(
        "overlay / overlay rw 0 0\n"
        f"1a2b3c-xyz.cn-hangzhou.nas.aliyuncs.com:/ {escaped} nfs rw,vers=3 0 0\n"
    )
    # WHEN the state URL points into the mount
    store = open_store(
        f"file://{nas}/assistwatch",
        environ={"FC_FUNCTION_NAME": "assistwatch"},
        mounts_path=mounts,
    )
    # THEN the store opens and works
    assert store.claim(key(), alert_payload(), "run", LEASE, NOW) is ClaimOutcome.WON


def test_a_tmpfs_mounted_inside_a_nas_mount_does_not_count_as_nas(tmp_path: Path) -> None:
    # GIVEN a NAS at /mnt/nas and a tmpfs mounted over /mnt/nas/scratch
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "srv:/export /mnt/nas nfs4 rw 0 0\n"
        "tmpfs /mnt/nas/scratch tmpfs rw 0 0\n"
        "srv:/other /mnt/nasty ext4 rw 0 0\n"
    )
    # WHEN paths under each are checked
    # THEN only the path really on NAS counts, and a look-alike prefix does not
    assert nas_mount_covering(Path("/mnt/nas/state"), mounts_path=mounts) == "/mnt/nas"
    assert nas_mount_covering(Path("/mnt/nas/scratch/state"), mounts_path=mounts) is None
    assert nas_mount_covering(Path("/mnt/nasty/state"), mounts_path=mounts) is None
