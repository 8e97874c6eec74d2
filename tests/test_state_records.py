"""Shared records: a run's update never overwrites a concurrent run's."""

from __future__ import annotations

from pathlib import Path

from lib.state.file import FileStore
from lib.state.records import rebase, update_record


def test_an_update_lands_as_is_when_nobody_wrote_in_between(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    read = store.read("r").value
    change = rebase(read, {"items": ["mine"]}, lambda current: {"merged": True})
    assert update_record(store, "r", change, what="r")
    assert store.read("r").value == {"items": ["mine"]}


def test_a_concurrent_write_is_merged_not_overwritten(tmp_path: Path) -> None:
    # GIVEN this run read the record, then another run wrote it
    store = FileStore(tmp_path)
    read = store.read("r").value
    store.write("r", {"items": ["theirs"]}, None)
    # WHEN this run applies its change
    change = rebase(
        read, {"items": ["mine"]}, lambda current: {"items": [*current["items"], "mine"]}
    )
    update_record(store, "r", change, what="r")
    # THEN both updates are there
    assert store.read("r").value == {"items": ["theirs", "mine"]}
