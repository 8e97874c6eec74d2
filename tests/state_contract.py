"""The StateStore contract, run by every backend's tests (file now; OSS and Table Store later).

Use it by subclassing in a ``test_*.py`` module and providing two fixtures::

    class TestMyStoreContract(StateStoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path) -> StoreFactory:
            return lambda namespace="default": MyStore(..., namespace=namespace)

        @pytest.fixture
        def process_factory(self, tmp_path) -> Callable[[], StateStore] | None:
            return functools.partial(MyStore, ...)  # picklable, or None to skip process races

Calling the factory twice with the same namespace must give two stores over the same state
(two runs of the function). Times are fake numbers: nothing here sleeps.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest

from lib.core.claims import ClaimKey
from lib.state.base import Claim, ClaimOutcome, StateStore

__all__ = ["NOW", "StateStoreContract", "StoreFactory", "increment"]

NOW = 1_700_000_000.0
LEASE = 900.0
RACERS = 6  # threads or processes racing on the same keys
RACE_KEYS = 12
SAFETY_TIMEOUT = 120.0  # only so a broken store cannot hang the suite; never asserted on


class StoreFactory(Protocol):
    def __call__(self, namespace: str = "default") -> StateStore: ...


def key(n: int = 1, *, receiver: str = "dingtalk-ops", firing: int = 1) -> ClaimKey:
    return ClaimKey(fingerprint=f"fp-{n:04d}", firing=firing, receiver=receiver)


def alert_payload(n: int = 1) -> dict[str, Any]:
    return {"fingerprint": f"fp-{n:04d}", "status": "firing", "text": "云助手 执行失败 ✗"}


def increment(store: StateStore, name: str) -> int:
    """Add one to a counter record the way callers must: re-read and retry on conflict."""
    attempts = 0
    while True:
        attempts += 1
        record = store.read(name)
        count = int(record.value.get("count", 0))
        if store.write(name, {"count": count + 1}, record.version):
            return attempts


def _race_claims_in_process(
    factory: Callable[[], StateStore],
    owner: str,
    barrier: Any,
    results: Any,
) -> None:
    store = factory()
    barrier.wait(SAFETY_TIMEOUT)
    won = [
        n
        for n in range(RACE_KEYS)
        if store.claim(key(n), alert_payload(n), owner, LEASE, NOW) is ClaimOutcome.WON
    ]
    results.put((owner, won))


def _increment_in_process(
    factory: Callable[[], StateStore], times: int, barrier: Any, results: Any
) -> None:
    store = factory()
    barrier.wait(SAFETY_TIMEOUT)
    for _ in range(times):
        increment(store, "counter")
    results.put(times)


def _run_processes(
    target: Callable[..., None], args_for: Callable[[int], tuple[Any, ...]]
) -> list[Any]:
    """Start RACERS spawned processes released together by a barrier; collect one result each."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(RACERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(RACERS)
    ]
    for proc in procs:
        proc.start()
    collected = [results.get(timeout=SAFETY_TIMEOUT) for _ in procs]
    for proc in procs:
        proc.join(SAFETY_TIMEOUT)
        assert proc.exitcode == 0
    return collected


class StateStoreContract:
    """Behaviour every StateStore must show. Subclasses provide the two fixtures below."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError

    @pytest.fixture
    def process_factory(self) -> Callable[[], StateStore] | None:
        return None

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> StateStore:
        return store_factory()

    # ---- claims ---------------------------------------------------------------------------

    def test_first_claim_wins_then_it_is_held_then_done_once_confirmed(
        self, store: StateStore
    ) -> None:
        # GIVEN an empty store
        # WHEN a run claims a key, another claims it, and the first confirms
        first = store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        second = store.claim(key(), alert_payload(), "run-b", LEASE, NOW + 1)
        confirmed = store.confirm(key(), "run-a", NOW + 2)
        third = store.claim(key(), alert_payload(), "run-c", LEASE, NOW + 3)
        # THEN the first won, the second saw it held, and after confirm it is done
        assert (first, second, confirmed, third) == (
            ClaimOutcome.WON,
            ClaimOutcome.HELD,
            True,
            ClaimOutcome.DONE,
        )

    def test_another_run_sees_the_claims_of_an_earlier_run(
        self, store_factory: StoreFactory
    ) -> None:
        # GIVEN a claim made and confirmed by one run
        earlier = store_factory()
        earlier.claim(key(1), alert_payload(1), "run-a", LEASE, NOW)
        earlier.confirm(key(1), "run-a", NOW + 1)
        earlier.claim(key(2), alert_payload(2), "run-a", LEASE, NOW)
        # WHEN a later run (a new store over the same state) claims the same keys
        later = store_factory()
        # THEN it is told the first is done and the second is held
        assert later.claim(key(1), alert_payload(1), "run-b", LEASE, NOW + 5) is ClaimOutcome.DONE
        assert later.claim(key(2), alert_payload(2), "run-b", LEASE, NOW + 5) is ClaimOutcome.HELD

    def test_claims_differ_by_firing_and_receiver(self, store: StateStore) -> None:
        # GIVEN a confirmed claim for one firing and receiver
        store.claim(key(1), alert_payload(), "run-a", LEASE, NOW)
        store.confirm(key(1), "run-a", NOW)
        # WHEN the next firing, or another receiver, is claimed
        next_firing = store.claim(key(1, firing=2), alert_payload(), "run-a", LEASE, NOW)
        other_receiver = store.claim(key(1, receiver="webhook"), alert_payload(), "x", LEASE, NOW)
        # THEN each is a new claim
        assert next_firing is ClaimOutcome.WON
        assert other_receiver is ClaimOutcome.WON

    def test_only_one_of_many_threads_wins_each_claim(self, store_factory: StoreFactory) -> None:
        # GIVEN several threads, each with its own store, released together
        barrier = threading.Barrier(RACERS)

        def race(owner: str) -> list[int]:
            store = store_factory()
            barrier.wait(SAFETY_TIMEOUT)
            return [
                n
                for n in range(RACE_KEYS)
                if store.claim(key(n), alert_payload(n), owner, LEASE, NOW) is ClaimOutcome.WON
            ]

        # WHEN they all claim the same keys
        with ThreadPoolExecutor(RACERS) as pool:
            won = list(pool.map(race, [f"thread-{i}" for i in range(RACERS)]))
        # THEN every key was won exactly once
        assert sorted(n for keys in won for n in keys) == list(range(RACE_KEYS))

    def test_only_one_of_many_processes_wins_each_claim(
        self, process_factory: Callable[[], StateStore] | None
    ) -> None:
        if process_factory is None:
            pytest.skip("this backend cannot be opened from another process")
        # GIVEN several processes released together
        # WHEN they all claim the same keys
        results = _run_processes(
            _race_claims_in_process, lambda i: (process_factory, f"process-{i}")
        )
        # THEN every key was won exactly once, and the winner is the one stored
        won = sorted(n for _, keys in results for n in keys)
        assert won == list(range(RACE_KEYS))
        store = process_factory()
        winners = {n: owner for owner, keys in results for n in keys}
        for n, owner in winners.items():
            assert store.confirm(key(n), owner, NOW + 1)

    # ---- release, pending, take over ------------------------------------------------------

    def test_released_claim_is_pending_at_once_with_its_error(self, store: StateStore) -> None:
        # GIVEN a claim whose send failed
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        # WHEN the owner releases it
        released = store.release(key(), "run-a", "HTTP 503 from robot", NOW + 10)
        # THEN the very next scan, at the same moment, finds it with the error noted
        pending = store.pending(NOW + 10)
        assert released
        assert [c.key for c in pending] == [key()]
        assert pending[0].last_error == "HTTP 503 from robot"
        assert pending[0].owner == "run-a"

    def test_a_resolve_is_its_own_claim_and_comes_back_from_the_outbox_as_one(
        self, store: StateStore
    ) -> None:
        # GIVEN the firing of an alert was told, and its resolve's send failed
        firing = key(7)
        resolved = ClaimKey(firing.fingerprint, firing.firing, firing.receiver, status="resolved")
        assert store.claim(firing, alert_payload(7), "run-a", LEASE, NOW) is ClaimOutcome.WON
        store.confirm(firing, "run-a", NOW + 1)
        assert store.claim(resolved, alert_payload(7), "run-b", LEASE, NOW + 2) is ClaimOutcome.WON
        store.release(resolved, "run-b", "HTTP 502", NOW + 3)
        # THEN the outbox holds the resolve, with its status intact
        assert [c.key for c in store.pending(NOW + 3)] == [resolved]
        assert store.claim(firing, alert_payload(7), "run-c", LEASE, NOW + 4) is ClaimOutcome.DONE

    def test_each_reminder_is_its_own_claim_and_comes_back_from_the_outbox_as_one(
        self, store: StateStore
    ) -> None:
        # GIVEN a firing told, reminder 1 told, and reminder 2's send failed
        firing = key(8)
        first, second = (
            ClaimKey(firing.fingerprint, firing.firing, firing.receiver, reminder=n) for n in (1, 2)
        )
        for n, claim in enumerate((firing, first)):
            assert store.claim(claim, alert_payload(8), "run-a", LEASE, NOW + n) is ClaimOutcome.WON
            store.confirm(claim, "run-a", NOW + n)
        assert store.claim(second, alert_payload(8), "run-b", LEASE, NOW + 2) is ClaimOutcome.WON
        store.release(second, "run-b", "HTTP 502", NOW + 3)
        # THEN the outbox holds reminder 2, its number intact; the others stay told
        assert [c.key for c in store.pending(NOW + 3)] == [second]
        assert store.claim(first, alert_payload(8), "run-c", LEASE, NOW + 4) is ClaimOutcome.DONE
        assert store.claim(firing, alert_payload(8), "run-c", LEASE, NOW + 4) is ClaimOutcome.DONE

    def test_pending_skips_live_leases_and_confirmed_claims_but_keeps_dead_runs(
        self, store: StateStore
    ) -> None:
        # GIVEN a live claim, a confirmed claim, and a claim whose run died (lease ended)
        store.claim(key(1), alert_payload(1), "run-live", LEASE, NOW)
        store.claim(key(2), alert_payload(2), "run-done", LEASE, NOW - 2 * LEASE)
        store.confirm(key(2), "run-done", NOW - 2 * LEASE + 1)
        store.claim(key(3), alert_payload(3), "run-died", LEASE, NOW - 2 * LEASE)
        # WHEN the outbox is scanned now
        pending = store.pending(NOW)
        # THEN only the dead run's claim is pending, with what it was about
        assert [c.key for c in pending] == [key(3)]
        assert pending[0].payload == alert_payload(3)
        assert pending[0].owner == "run-died"
        assert not pending[0].confirmed
        # ... and once the live lease ends, that one is pending too
        assert [c.key for c in store.pending(NOW + LEASE)] == [key(3), key(1)]

    def test_pending_is_oldest_first_and_can_be_narrowed_to_one_receiver(
        self, store: StateStore
    ) -> None:
        # GIVEN released claims created at different times for two receivers
        for n, created, receiver in [(1, 30, "a"), (2, 10, "b"), (3, 20, "a")]:
            store.claim(key(n, receiver=receiver), alert_payload(n), "run", LEASE, NOW + created)
            store.release(key(n, receiver=receiver), "run", "deferred", NOW + 100)
        # WHEN the outbox is scanned, in full and for receiver "a"
        everything = store.pending(NOW + 100)
        only_a = store.pending(NOW + 100, receiver="a")
        # THEN claims come oldest first, and the filter keeps only "a"
        assert [c.key.fingerprint for c in everything] == ["fp-0002", "fp-0003", "fp-0001"]
        assert [c.key.fingerprint for c in only_a] == ["fp-0003", "fp-0001"]

    def test_take_over_is_won_by_exactly_one_of_two_runs(self, store_factory: StoreFactory) -> None:
        # GIVEN a claim left by a dead run, seen as pending by two later runs
        store_factory().claim(key(), alert_payload(), "run-died", LEASE, NOW)
        later = NOW + LEASE + 1
        seen_by_b = store_factory().pending(later)[0]
        seen_by_c = store_factory().pending(later)[0]
        # WHEN both try to take it over
        b = store_factory().take_over(seen_by_b, "run-b", LEASE, later)
        c = store_factory().take_over(seen_by_c, "run-c", LEASE, later)
        # THEN only the first succeeds; its lease is live, so nothing is pending
        assert (b, c) == (True, False)
        assert store_factory().pending(later + 1) == []

    def test_take_over_race_between_threads_has_one_winner(
        self, store_factory: StoreFactory
    ) -> None:
        # GIVEN a pending claim that many threads read at the same moment
        store_factory().claim(key(), alert_payload(), "run-died", LEASE, NOW)
        later = NOW + LEASE + 1
        snapshot = store_factory().pending(later)[0]
        barrier = threading.Barrier(RACERS)

        def race(owner: str) -> bool:
            store = store_factory()
            barrier.wait(SAFETY_TIMEOUT)
            return store.take_over(snapshot, owner, LEASE, later)

        # WHEN they all try to take it over
        with ThreadPoolExecutor(RACERS) as pool:
            results = list(pool.map(race, [f"run-{i}" for i in range(RACERS)]))
        # THEN exactly one did
        assert results.count(True) == 1

    def test_take_over_refuses_a_claim_whose_lease_is_still_live(self, store: StateStore) -> None:
        # GIVEN a claim whose owner is still within its lease
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        live = Claim(key(), "run-a", NOW + LEASE, alert_payload(), NOW, attempts=1)
        # WHEN another run tries to take it over before the lease ends
        # THEN it is refused
        assert not store.take_over(live, "run-b", LEASE, NOW + 10)

    def test_taken_over_claim_counts_the_attempt_and_is_confirmed_by_its_new_owner(
        self, store: StateStore
    ) -> None:
        # GIVEN a claim released by its first owner and taken over by another run
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        store.release(key(), "run-a", "throttled", NOW + 1)
        store.take_over(store.pending(NOW + 1)[0], "run-b", LEASE, NOW + 2)
        # WHEN the first owner's late confirm and the new owner's confirm arrive
        stale = store.confirm(key(), "run-a", NOW + 3)
        fresh = store.confirm(key(), "run-b", NOW + 4)
        # THEN the stale owner is refused, the new owner succeeds, and it is done
        assert (stale, fresh) == (False, True)
        assert store.claim(key(), alert_payload(), "run-c", LEASE, NOW + 5) is ClaimOutcome.DONE

    def test_attempts_grow_with_each_lease_handed_out(self, store: StateStore) -> None:
        # GIVEN a claim that failed twice and was taken over each time
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        store.release(key(), "run-a", "503", NOW + 1)
        store.take_over(store.pending(NOW + 1)[0], "run-b", LEASE, NOW + 2)
        store.release(key(), "run-b", "503", NOW + 3)
        # WHEN it is scanned again
        (claim,) = store.pending(NOW + 3)
        # THEN it shows the two leases handed out so far
        assert claim.attempts == 2

    def test_stale_owner_can_neither_confirm_nor_release(self, store: StateStore) -> None:
        # GIVEN a claim held by run-a
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        # WHEN run-b tries to confirm or release it
        # THEN both are refused and run-a still holds it
        assert not store.confirm(key(), "run-b", NOW + 1)
        assert not store.release(key(), "run-b", "boom", NOW + 1)
        assert store.pending(NOW + 1) == []
        assert store.confirm(key(), "run-a", NOW + 2)

    def test_confirm_or_release_of_an_unknown_claim_fails(self, store: StateStore) -> None:
        # GIVEN an empty store
        # WHEN a claim that was never made is confirmed or released
        # THEN both report failure
        assert not store.confirm(key(9), "run-a", NOW)
        assert not store.release(key(9), "run-a", "boom", NOW)

    def test_confirmed_claim_can_no_longer_be_released(self, store: StateStore) -> None:
        # GIVEN a confirmed claim
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
        store.confirm(key(), "run-a", NOW + 1)
        # WHEN its owner tries to release it
        # THEN it stays confirmed and never becomes pending
        assert not store.release(key(), "run-a", "late failure", NOW + 2)
        assert store.pending(NOW + 10 * LEASE) == []

    def test_claim_payload_comes_back_as_stored(self, store: StateStore) -> None:
        # GIVEN a claim holding nested, non-ASCII alert data
        payload = {"alert": {"labels": {"区域": "cn-hangzhou"}, "n": [1, 2.5, None, True]}}
        store.claim(key(), payload, "run-a", LEASE, NOW)
        store.release(key(), "run-a", "deferred", NOW)
        # WHEN it is read back from the outbox
        (claim,) = store.pending(NOW)
        # THEN the payload and timestamps are unchanged
        assert claim.payload == payload
        assert claim.created_at == NOW

    # ---- versioned records ----------------------------------------------------------------

    def test_absent_record_reads_empty_without_a_version(self, store: StateStore) -> None:
        # GIVEN an empty store WHEN a record is read THEN it is empty with version None
        record = store.read("watermark/acct/cn-hangzhou/ecs.command")
        assert (record.value, record.version) == ({}, None)

    def test_record_write_succeeds_only_at_the_version_read(self, store: StateStore) -> None:
        # GIVEN a record created from "absent"
        name = "budget/dingtalk-ops"
        assert store.write(name, {"sent": 1}, None)
        first = store.read(name)
        # WHEN it is created again from "absent", written at the version read, then at that
        # now stale version
        again = store.write(name, {"sent": 99}, None)
        ok = store.write(name, {"sent": 2}, first.version)
        stale = store.write(name, {"sent": 3}, first.version)
        # THEN only the write at the current version took effect
        assert (again, ok, stale) == (False, True, False)
        assert store.read(name).value == {"sent": 2}
        assert store.read(name).version not in (None, first.version)

    def test_conflicting_writers_one_wins_and_the_loser_retries_on_a_fresh_read(
        self, store_factory: StoreFactory
    ) -> None:
        # GIVEN two runs that read the same record version
        a, b = store_factory(), store_factory()
        a.write("silences", {"ids": ["s1"]}, None)
        seen_a, seen_b = a.read("silences"), b.read("silences")
        # WHEN both write an update based on it
        won = a.write("silences", {"ids": [*seen_a.value["ids"], "s2"]}, seen_a.version)
        lost = b.write("silences", {"ids": [*seen_b.value["ids"], "s3"]}, seen_b.version)
        # ... and the loser re-reads and retries
        fresh = b.read("silences")
        retried = b.write("silences", {"ids": [*fresh.value["ids"], "s3"]}, fresh.version)
        # THEN no update is lost
        assert (won, lost, retried) == (True, False, True)
        assert a.read("silences").value == {"ids": ["s1", "s2", "s3"]}

    def test_concurrent_increments_from_threads_lose_no_update(
        self, store_factory: StoreFactory
    ) -> None:
        # GIVEN several threads incrementing one counter with re-read-and-retry
        barrier = threading.Barrier(RACERS)
        per_thread = 15

        def work(_: int) -> None:
            store = store_factory()
            barrier.wait(SAFETY_TIMEOUT)
            for _ in range(per_thread):
                increment(store, "counter")

        # WHEN they run at once
        with ThreadPoolExecutor(RACERS) as pool:
            list(pool.map(work, range(RACERS)))
        # THEN the counter counts every increment
        assert store_factory().read("counter").value == {"count": RACERS * per_thread}

    def test_concurrent_increments_from_processes_lose_no_update(
        self, process_factory: Callable[[], StateStore] | None
    ) -> None:
        if process_factory is None:
            pytest.skip("this backend cannot be opened from another process")
        # GIVEN several processes incrementing one counter with re-read-and-retry
        # WHEN they run at once
        per_process = 15
        _run_processes(_increment_in_process, lambda _: (process_factory, per_process))
        # THEN the counter counts every increment
        assert process_factory().read("counter").value == {"count": RACERS * per_process}

    # ---- namespaces -----------------------------------------------------------------------

    def test_namespaces_keep_deployments_apart(self, store_factory: StoreFactory) -> None:
        # GIVEN two deployments in different namespaces
        prod, staging = store_factory("prod"), store_factory("staging")
        # WHEN each claims the same key, releases it, and writes the same record
        outcomes = [s.claim(key(), alert_payload(), "run", LEASE, NOW) for s in (prod, staging)]
        prod.release(key(), "run", "deferred", NOW)
        prod.write("watermark", {"t": 1}, None)
        # THEN neither sees the other's claims, outbox or records
        assert outcomes == [ClaimOutcome.WON, ClaimOutcome.WON]
        assert [c.key for c in prod.pending(NOW)] == [key()]
        assert staging.pending(NOW) == []
        assert staging.read("watermark").version is None
