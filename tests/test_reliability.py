"""The fast part of the randomised reliability runner (bench/reliability.py) in ``make test``.

Every kind of fault meets the real app in a few random schedules of its own, then a few
dozen schedules mix them; after the faults stop and leases end, nothing may be lost and
nothing re-sent after it was confirmed. docs/reliability.md has the long runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.reliability import FAULTS, run_schedule, table
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.scenario import demo_dataset


@pytest.fixture(scope="module")
def cloud() -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake(dataset=demo_dataset(datetime.now(timezone.utc))) as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_leftover_faults(cloud: CloudAssistantFake) -> Iterator[None]:
    yield
    cloud.clear_faults()  # a failing schedule must not arm the next one


@pytest.mark.parametrize("fault", FAULTS)
def test_each_kind_of_fault_loses_nothing_and_never_resends_what_was_confirmed(
    cloud, tmp_path: Path, fault: str
):
    for seed in range(3):
        # GIVEN up to four runs that each meet this kind of fault, then the faults stop
        result = run_schedule(seed, tmp_path / f"s{seed}", cloud, only=fault)
        # THEN every alert was told, and none again after its confirm; late runs are clean
        assert result.lost == 0, result
        assert result.beyond == 0, result
        assert result.settle_errors == [], result


def test_mixed_random_schedules_lose_nothing(cloud, tmp_path: Path):
    # GIVEN thirty schedules mixing every kind of fault at random
    results = [run_schedule(1000 + n, tmp_path / f"m{n}", cloud) for n in range(30)]
    # THEN none lost an alert or re-sent a confirmed one, and the table adds them up
    assert [r for r in results if r.lost or r.beyond or r.settle_errors] == []
    assert "**all 30 schedules" in table(results)


def test_a_send_whose_confirm_never_happened_is_the_only_duplicate(cloud, tmp_path: Path):
    # GIVEN schedules where the process dies right after a send, before its confirm
    results = [
        run_schedule(seed, tmp_path / f"k{seed}", cloud, only="killed after a send, before confirm")
        for seed in range(5)
    ]
    # THEN those messages are told again (at-least-once, as documented), never anything else
    assert sum(r.documented for r in results) > 0
    assert sum(r.beyond for r in results) == 0
