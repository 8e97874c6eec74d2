"""A step that only tidies up never aborts a run (issue #12, item 9).

Deleting an outbox marker after a confirm has committed, or pruning expired entries, keeps
nothing safe: a marker left behind is tidied by a later ``pending()`` scan, a prune that
fails is done by the next run. So a fault there is a warning and the run goes on; only a
step that protects delivery (claim, confirm, release, the records after the claims) fails
the run for FC to retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.support.errors import StateError
from tests.chaos import EXPECTED, World


@pytest.fixture
def ots_world(tmp_path: Path) -> Iterator[World]:
    world = World.start(tmp_path / "state", backend="ots")
    yield world
    world.stop()


@pytest.fixture
def oss_world(tmp_path: Path) -> Iterator[World]:
    world = World.start(tmp_path / "state", backend="oss")
    yield world
    world.stop()


def _fake(world: World, kind: type) -> Any:
    return next(fake for fake in world._fakes if isinstance(fake, kind))


def test_a_table_store_timeout_while_tidying_a_marker_does_not_abort_the_run(ots_world):
    # GIVEN Table Store times out on every DeleteRow (the marker tidied after each confirm)
    from tests.fakes.ots import FakeTableStore

    fake = _fake(ots_world, FakeTableStore)
    fake.fail(1000, status=503, code="OTSTimeout", message="Request timeout.", apis=["DeleteRow"])
    # WHEN the timer runs
    outcome = ots_world.run()
    # THEN it did not fail for FC to retry: all eight failures were told in this run,
    assert outcome.error is None, f"the run raised {outcome.error!r}"
    assert outcome.report is not None
    assert outcome.report.ok, outcome.report.errors
    assert set(ots_world.people.told) == EXPECTED
    # and the run says what it left untidy, once, as a warning
    tidy = [line for line in ots_world.problems() if line.get("event") == "tidy-up failed"]
    assert tidy
    assert all(line["level"] == "warning" for line in tidy)
    # WHEN Table Store recovers, the next runs tidy up and tell nothing again
    fake.clear_faults()
    for outcome in ots_world.settle():
        assert outcome.error is None
        assert outcome.report is not None
        assert outcome.report.ok
        assert outcome.report.redelivered == 0
    assert ots_world.people.duplicates() == 0
    assert not [row for row in fake.rows("assistwatch_state") if str(row[1]).startswith("outbox/")]


def test_an_oss_error_while_tidying_a_marker_does_not_abort_the_run(oss_world):
    # GIVEN OSS answers 503 to every DeleteObject
    from tests.fakes.oss import OssFake

    fake = _fake(oss_world, OssFake)
    fake.fail_next(503, 1000, method="DELETE")
    # WHEN the timer runs: every failure is told, the run is ok
    outcome = oss_world.run()
    assert outcome.error is None, f"the run raised {outcome.error!r}"
    assert outcome.report is not None
    assert outcome.report.ok
    assert set(oss_world.people.told) == EXPECTED
    fake.clear_faults()
    oss_world.settle()
    assert oss_world.people.duplicates() == 0


def test_a_failing_prune_does_not_abort_a_run_that_told_everything(tmp_path):
    # GIVEN a store whose prune fails (an expired entry it cannot delete)
    world = World.start(tmp_path / "state")
    try:
        store = world.store()
        store.fail_at = ("prune", 1)
        # WHEN the timer runs
        outcome = world.run(world.app(store))
        # THEN the run is ok and told all: a prune the next run can do keeps nothing safe
        assert outcome.error is None, f"the run raised {outcome.error!r}"
        assert outcome.report is not None
        assert outcome.report.ok
        assert any("prune" in note for note in outcome.report.notes)
        assert set(world.people.told) == EXPECTED
    finally:
        world.stop()


def test_a_failing_confirm_still_fails_the_run(tmp_path):
    # A confirm protects delivery (without it the message is sent again): it still aborts.
    world = World.start(tmp_path / "state")
    try:
        store = world.store()
        store.fail_at = ("confirm", 1)
        outcome = world.run(world.app(store))
        assert isinstance(outcome.error, StateError)
    finally:
        world.stop()
