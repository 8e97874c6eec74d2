"""The concurrent-increment race of the state contract, many times over: is every write counted?

Six threads each add one to a counter fifteen times (re-read and retry on conflict) through the
OSS or Table Store backend, its real SDK and its loopback fake, as
``test_concurrent_increments_from_threads_lose_no_update`` does, ``--races`` times. It prints
the races whose count came out wrong, the client-side latency of every store request (the
SDK timeouts are 10-20 s), and for OSS how often a writer found later generations when it
checked its write, and how often the successor-only check used before 2026-12 would have
called a landed write a conflict there (the caller then counts it twice: docs/decisions.md,
"a write whose outcome was unclear"). Run it on a loaded machine to see the flake's window::

    .venv/bin/python bench/state_race.py --backend oss --races 150
    .venv/bin/python bench/state_race.py --backend ots --races 50
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the repo's lib and tests
    sys.path.insert(0, str(ROOT))

from lib.state.base import StateStore  # noqa: E402
from lib.state.oss import OssStore  # noqa: E402
from lib.state.ots import TTL_SECONDS, OtsStore  # noqa: E402
from tests.fakes.oss import OssFake  # noqa: E402
from tests.fakes.ots import FakeTableStore  # noqa: E402
from tests.state_contract import RACERS, increment  # noqa: E402
from tests.test_state_oss import KEY_ID as OSS_KEY  # noqa: E402
from tests.test_state_oss import REGION, StaticCredentials  # noqa: E402
from tests.test_state_oss import SECRET as OSS_SECRET  # noqa: E402
from tests.test_state_ots import INSTANCE, KEY_ID, SECRET, TOKEN, creds  # noqa: E402

PER_RACER = 15
_latencies: list[float] = []
_checks: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()


def _timed(call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(self, *args, **kwargs)
        finally:
            with _lock:
                _latencies.append(time.perf_counter() - started)

    return wrapper


def _compared(in_chain: Callable[..., bool]) -> Callable[..., bool]:
    """OssStore._in_chain, also asking the successor-only check at the same moment."""

    def wrapper(self: OssStore, prefix: str, gen: int, version: str) -> bool:
        successor = self._get_json(f"{prefix}{gen + 1:010d}")
        old = successor is not None and successor.get("prev") == version
        new = in_chain(self, prefix, gen, version)
        with _lock:
            _checks["checked after later generations"] += 1
            if new and not old:
                _checks["landed, but the old check said conflict"] += 1
        return new

    return wrapper


Opener = Callable[[Any, int], StateStore]


def _stores(backend: str) -> Iterator[tuple[AbstractContextManager[Any], Opener, Opener]]:
    """(the fake, prepare race N's bucket or table, open a store on it)."""
    if backend == "oss":
        OssStore._call = _timed(OssStore._call)  # type: ignore[method-assign]
        OssStore._in_chain = _compared(OssStore._in_chain)  # type: ignore[method-assign]
        oss_fake = OssFake(region=REGION)
        oss_fake.add_key(OSS_KEY, OSS_SECRET)

        def prepare_oss(fake: OssFake, race: int) -> StateStore:
            fake.add_bucket(f"aw-race-{race}")
            return make_oss(fake, race)

        def make_oss(fake: OssFake, race: int) -> StateStore:
            return OssStore(
                f"aw-race-{race}",
                "assistwatch",
                region=REGION,
                endpoint=fake.url,
                credentials=StaticCredentials(),
                retry_base_delay=0.001,
            )

        yield oss_fake, prepare_oss, make_oss
        return
    OtsStore._call = _timed(OtsStore._call)  # type: ignore[method-assign]
    ots_fake = FakeTableStore(
        instance=INSTANCE, access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN
    )

    def prepare_ots(fake: FakeTableStore, race: int) -> StateStore:
        fake.create_table(f"race{race}", ttl=TTL_SECONDS)
        return make_ots(fake, race)

    def make_ots(fake: FakeTableStore, race: int) -> StateStore:
        return OtsStore(INSTANCE, f"race{race}", endpoint=fake.endpoint, credentials=creds)

    yield ots_fake, prepare_ots, make_ots


def _race(make: Opener, barrier: threading.Barrier, fake: Any, race: int) -> None:
    store = make(fake, race)
    barrier.wait(60)
    for _ in range(PER_RACER):
        increment(store, "counter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["oss", "ots"], default="oss")
    parser.add_argument("--races", type=int, default=50)
    args = parser.parse_args()
    wrong = 0
    started = time.perf_counter()
    for server, prepare, make in _stores(args.backend):
        with server as fake:
            for race in range(args.races):
                prepare(fake, race)
                racer = functools.partial(_race, make, threading.Barrier(RACERS), fake, race)
                with ThreadPoolExecutor(RACERS) as pool:
                    for done in [pool.submit(racer) for _ in range(RACERS)]:
                        done.result()
                count = make(fake, race).read("counter").value.get("count")
                wrong += count != RACERS * PER_RACER
    took = time.perf_counter() - started
    lat = sorted(_latencies)
    n = len(lat)
    print(f"{args.backend}: {args.races} races of {RACERS} x {PER_RACER} in {took:.0f} s")
    print(f"  races counted wrong: {wrong}")
    print(
        f"  store requests: {n}; latency p50 {lat[n // 2] * 1000:.1f} ms, p99 "
        f"{lat[int(n * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.0f} ms"
    )
    for what, times in sorted(_checks.items()):
        print(f"  {what}: {times}")


if __name__ == "__main__":
    main()
