"""Fault injection seams for the reliability suites: a store, a receiver and an HTTP transport
that fail, stall or "kill the process" on command, and a world that runs the real app.

Nothing here patches our modules: each seam is a wrapper handed to ``build_app`` through its
own parameters (``store=``, ``receivers=``, ``transport=``, ``clock=``). A kill is a
:class:`Killed` (a ``BaseException``, like the SIGKILL FC sends at the timeout): the app
catches only ``AssistwatchError``, so it unwinds the run the way a dead process stops it.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.core.claims import ClaimKey
from lib.core.notification import Message
from lib.core.triggers import Poll, Trigger
from lib.state.base import Claim, ClaimOutcome, Record
from lib.state.file import FileStore
from lib.support.credentials import Credentials
from lib.support.errors import AssistwatchError, DeliveryError, StateError
from lib.support.log import configure
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.scenario import EXPECTED_ALERTS, demo_dataset

__all__ = [
    "CREDENTIALS",
    "EXPECTED",
    "LEASE_PASSED",
    "FaultyStore",
    "FaultyTransport",
    "Journal",
    "Killed",
    "Outcome",
    "People",
    "World",
]

CREDENTIALS = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
EXPECTED = frozenset((alert.invoke_id, alert.instance_id) for alert in EXPECTED_ALERTS)
TIMEOUT = 60.0  # the function's timeout in these runs: leases last TIMEOUT + 60 s
# Longer than a lease and than a robot's 130101 pause (600 s): after it, nothing is held.
LEASE_PASSED = timedelta(seconds=900)


class Killed(BaseException):
    """The process died here: nothing after this point of the run happens."""


class Journal:
    """Sends and confirms in the order they happened, across runs and threads.

    A claim key sent again before any confirm is the documented duplicate (the sender died
    or lost the store between send and confirm); sent again after a confirm is a bug.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str]] = []  # ("send" | "confirm", alert key)

    def note(self, event: str, key: str) -> None:
        with self._lock:
            self.events.append((event, key))

    def duplicates(self) -> tuple[int, int]:
        """(documented, beyond): re-sends before the first confirm, and after it."""
        documented = beyond = 0
        sent: Counter[str] = Counter()
        confirmed: set[str] = set()
        with self._lock:
            events = list(self.events)
        for event, key in events:
            if event == "confirm":
                confirmed.add(key)
                continue
            if key in confirmed:
                beyond += 1
            elif sent[key]:
                documented += 1
            sent[key] += 1
        return documented, beyond


STORE_METHODS = ("claim", "confirm", "release", "pending", "take_over", "read", "write", "prune")


class FaultyStore:
    """A StateStore wrapper: an outage, version conflicts, or a kill at the nth call of a method.

    ``kill_at = ("write", 1, "before")`` dies before the first ``write`` reaches the store;
    ``"after"`` dies once it has (the store changed, the process did not see the answer).
    """

    def __init__(self, inner: Any, journal: Journal | None = None) -> None:
        self.inner = inner
        self.journal = journal
        self.calls: Counter[str] = Counter()
        self.kill_at: tuple[str, int, str] | None = None
        # Count kill_at's and fail_at's calls only from the first call of this method on
        # (e.g. "claim": the first write *after* claiming, whatever was written before).
        self.count_from: str | None = None
        self._armed: Counter[str] = Counter()
        self.fail_at: tuple[str, int] | None = None  # that one call fails with StateError
        self.down_for = 0  # the next n calls fail with StateError (an outage)
        self.conflicts = 0  # the next n writes lose to a concurrent writer
        self.writes: list[tuple[str, dict[str, Any]]] = []  # every record written
        self.handed: list[str] = []  # every claim, release, take-over and write, as text
        self.before_claim: Callable[[], None] | None = None  # e.g. meet a concurrent run here
        self._lock = threading.Lock()

    def _enter(self, method: str) -> int:
        with self._lock:
            self.calls[method] += 1
            if self.count_from is None or self.calls[self.count_from]:
                self._armed[method] += 1
            count = self._armed[method]
            if self.down_for > 0:
                self.down_for -= 1
                raise StateError(f"state store unreachable: {method} timed out (injected)")
            if self.fail_at == (method, count):
                self.fail_at = None
                raise StateError(f"state store unreachable: {method} timed out (injected)")
            if self.kill_at == (method, count, "before"):
                self.kill_at = None
                raise Killed(f"killed before {method} #{count}")
        return count

    def _leave(self, method: str, count: int) -> None:
        with self._lock:
            if self.kill_at == (method, count, "after"):
                self.kill_at = None
                raise Killed(f"killed after {method} #{count}")

    def _call(self, method: str, *args: Any) -> Any:
        if method in ("claim", "release", "take_over", "write"):  # what reaches the store
            self.handed.append(f"{method} {args!r}")
        count = self._enter(method)
        result = getattr(self.inner, method)(*args)
        self._leave(method, count)
        return result

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        if self.before_claim is not None:
            self.before_claim()
        outcome: ClaimOutcome = self._call("claim", key, payload, owner, lease_seconds, now)
        return outcome

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        count = self._enter("confirm")
        done = bool(self.inner.confirm(key, owner, now))
        if done and self.journal is not None:
            alert = f"{key.fingerprint}/{key.firing}"
            self.journal.note(
                "confirm", alert if key.status == "firing" else f"{alert}/{key.status}"
            )
        self._leave("confirm", count)
        return done

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        return bool(self._call("release", key, owner, error, now))

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        claims: list[Claim] = self._call("pending", now, receiver)
        return claims

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        return bool(self._call("take_over", claim, owner, lease_seconds, now))

    def read(self, name: str) -> Record:
        record: Record = self._call("read", name)
        return record

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        with self._lock:
            conflict = self.conflicts > 0
            self.conflicts -= conflict
        if conflict:  # another instance wrote the same record first: our version is stale
            current = self.inner.read(name)
            self.inner.write(name, current.value, current.version)
        self.writes.append((name, value))
        return bool(self._call("write", name, value, expected_version))

    def prune(self, now: float) -> int:
        return int(self._call("prune", now))


class FaultyTransport(httpx.BaseTransport):
    """An httpx transport that raises the next queued network fault for one port, else passes."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self._faults: dict[int, list[Callable[[httpx.Request], Exception]]] = {}
        self._lock = threading.Lock()

    def inject(self, port: int, kind: str, times: int = 1) -> None:
        """Queue ``times`` faults of ``kind`` for requests to ``port``.

        "timeout" / "reset": the request is lost on the way (the server never sees it) but the
        client cannot know that; "refused": the connection is refused (provably not sent);
        "late": the server takes the request and answers after the client's read timeout
        (it is delivered, then the client raises ReadTimeout).
        """
        make: Callable[[httpx.Request], Exception]
        if kind == "late":
            make = _Late
        elif kind == "refused":
            make = lambda request: httpx.ConnectError("[Errno 111] Connection refused (injected)")  # noqa: E731
        elif kind == "timeout":
            make = lambda request: httpx.ReadTimeout("timed out (injected)", request=request)  # noqa: E731
        else:
            make = lambda request: httpx.RemoteProtocolError(  # noqa: E731
                "Server disconnected without sending a response (injected reset)", request=request
            )
        with self._lock:
            self._faults.setdefault(port, []).extend([make] * times)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            queue = self._faults.get(request.url.port or 0)
            fault = queue.pop(0) if queue else None
        if fault is not None:
            error = fault(request)
            if isinstance(error, _Late):  # delivered; the answer comes after the read timeout
                answer = self.inner.handle_request(request)
                answer.read()
                answer.close()
                raise httpx.ReadTimeout("timed out (injected late answer)", request=request)
            raise error
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _Late(Exception):
    def __init__(self, request: httpx.Request) -> None:
        super().__init__("late answer")
        self.request = request


class People(RecordingReceiver):
    """The group chat: records every alert told; can fail, or kill the process around a send."""

    def __init__(self, journal: Journal | None = None) -> None:
        super().__init__()
        self.journal = journal
        self.told: list[tuple[str, str]] = []
        self.sends = 0
        self.failures: dict[int, DeliveryError] = {}  # send number → the error it raises
        self.kill_at: tuple[int, str] | None = None  # (send number, "before" | "after")
        self.unconfirmed = 0  # alerts told by a send whose process died before confirming
        self.covers: list[int] = []  # how many alerts each delivered message told

    def send(self, message: Message) -> None:
        with self.lock:
            self.sends += 1
            number = self.sends
            if self.kill_at == (number, "before"):
                self.kill_at = None
                raise Killed(f"killed before send #{number}")
            if number in self.failures:
                raise self.failures.pop(number)
            for alert in self.covered(message):
                finding = alert.finding
                self.told.append((finding.invoke_id, finding.instance_id))
                if self.journal is not None:
                    self.journal.note("send", alert.key)
            self.covers.append(len(message.covers))
            if self.kill_at == (number, "after"):
                self.kill_at = None
                self.unconfirmed += len(message.covers)
                raise Killed(f"killed after send #{number}")

    def lost(self) -> int:
        """Expected alerts never told."""
        return len(EXPECTED - set(self.told))

    def duplicates(self) -> int:
        """Tellings beyond the first of each alert."""
        return len(self.told) - len(set(self.told))


@dataclass
class Outcome:
    """One run: its report, or what it raised."""

    report: RunReport | None = None
    error: BaseException | None = None


def open_backend(backend: str, fakes: list[Any]) -> tuple[str, str | None] | None:
    """Start the OSS or Table Store fake for ``backend`` ("oss", "ots"; else None), added to
    ``fakes`` to stop later: the state URL and endpoint that reach it."""
    if backend == "oss":
        from tests.fakes.oss import OssFake

        oss = OssFake(region="cn-hangzhou").__enter__()
        fakes.append(oss)
        oss.add_key(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
        oss.add_bucket("aw-state")
        return "oss://aw-state/assistwatch", oss.url
    if backend == "ots":
        from tests.fakes.ots import FakeTableStore

        ots = FakeTableStore(
            instance="assistwatch",
            access_key_id=DEMO_ACCESS_KEY_ID,
            access_key_secret=DEMO_ACCESS_KEY_SECRET,
        ).start()
        fakes.append(ots)
        ots.create_table("assistwatch_state", ttl=3_715_200)
        return "ots://assistwatch/assistwatch_state", ots.endpoint
    return None


@dataclass
class World:
    """The Cloud Assistant fake, one state directory and the group chat; the clock is ours.

    Every app built here is one FC instance: its own HTTP client, the shared state directory
    (wrapped in a :class:`FaultyStore` that tests and schedules steer).
    """

    cloud: CloudAssistantFake
    state_dir: Path
    journal: Journal = field(default_factory=Journal)
    people: People = field(init=False)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    logs: io.StringIO = field(default_factory=io.StringIO)
    transport: FaultyTransport = field(default_factory=FaultyTransport)
    env: dict[str, str] = field(default_factory=dict)
    runs: int = 0
    backend: str = "file"  # "file", "oss" (OSS fake, real SDK) or "ots" (Table Store fake)
    _fakes: list[Any] = field(default_factory=list)
    _state_url: str = ""
    _state_endpoint: str | None = None

    def __post_init__(self) -> None:
        self.people = People(self.journal)

    @classmethod
    def start(
        cls, state_dir: Path, cloud: CloudAssistantFake | None = None, *, backend: str = "file"
    ) -> World:
        """A world on a fresh state location; ``cloud`` reuses a running fake (not stopped)."""
        owned = cloud is None
        if cloud is None:
            cloud = CloudAssistantFake(dataset=demo_dataset(datetime.now(timezone.utc))).start()
        world = cls(cloud=cloud, state_dir=state_dir, backend=backend)
        if owned:
            world._fakes.append(cloud)
        world._open_backend()
        configure(world.logs)
        return world

    def _open_backend(self) -> None:
        found = open_backend(self.backend, self._fakes)
        if found is not None:
            self._state_url, self._state_endpoint = found

    def stop(self) -> None:
        for fake in reversed(self._fakes):
            fake.__exit__(None, None, None)
        self._fakes.clear()

    def store(self) -> FaultyStore:
        """The shared state as a new FC instance opens it (its own client)."""
        if self.backend == "file":
            return FaultyStore(FileStore(self.state_dir), self.journal)
        from lib.state import open_store

        inner = open_store(
            self._state_url,
            environ={},
            namespace=self.state_dir.name,  # a fresh namespace per state_dir, like a new table
            credentials=lambda: CREDENTIALS,
            endpoint=self._state_endpoint,
            region="cn-hangzhou",
        )
        return FaultyStore(inner, self.journal)

    def app(self, store: FaultyStore | None = None, *, people: bool = True) -> App:
        """One FC instance; ``people=False``: the receivers the environment configures."""
        settings = load_settings(
            {
                "ASSISTWATCH_REGIONS": "cn-hangzhou",
                "ASSISTWATCH_ECS_ENDPOINT": self.cloud.url,
                "ASSISTWATCH_SHOW_OUTPUT": "false",
                # Long enough that no expected failure ages past the first run's window
                # while a schedule's faults keep that first run failing (the 3-hour-old
                # failure stays baseline).
                "ASSISTWATCH_LOOKBACK": "2h",
                **self.env,
            }
        )
        return build_app(
            settings,
            transport=self.transport,
            store=store or self.store(),
            receivers={self.people.name: self.people} if people else None,
            clock=lambda: self.now,
            sleep=lambda _: None,
            environ={},
        )

    def run(
        self, app: App | None = None, trigger: Trigger | None = None, request_id: str | None = None
    ) -> Outcome:
        """One invocation; a retryable error or a kill is returned, not raised."""
        self.runs += 1
        invocation = Invocation(
            request_id or f"run-{self.runs}", CREDENTIALS, timeout_seconds=TIMEOUT
        )
        try:
            report = (app or self.app()).run(trigger or Poll(origin="timer"), invocation)
        except (AssistwatchError, Killed) as error:
            return Outcome(error=error)
        return Outcome(report=report)

    def settle(self, runs: int = 2) -> list[Outcome]:
        """Faults over: let every lease and pause end, then run the timer until all is told."""
        self.now += LEASE_PASSED
        outcomes = []
        for _ in range(runs):
            outcomes.append(self.run())
            self.now += timedelta(seconds=60)
        return outcomes

    def log_lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = [
            json.loads(line) for line in self.logs.getvalue().splitlines() if line.strip()
        ]
        return lines

    def problems(self) -> list[dict[str, Any]]:
        """Log lines at warning level or worse."""
        return [line for line in self.log_lines() if line.get("level") in ("warning", "error")]
