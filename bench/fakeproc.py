"""The Cloud Assistant fake (and a webhook sink) in a separate process, driven over a pipe.

A benchmark measures the process that runs assistwatch; the fake's dataset (100k records is
a few hundred MB of Python objects) must not count towards that process's peak RSS or CPU
time, so it lives in a child started with the ``spawn`` method (a fresh interpreter that
never imported ``lib``). Only stdlib is imported at module level for the same reason.

::

    with FakeProcess(Shape(records=10_000)) as fake:
        settings = {"ASSISTWATCH_ECS_ENDPOINT": fake.url, ...}
        ...
        fake.calls()            # {"DescribeInvocations": 201, ...} since the last ask
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ROOT", "FakeProcess", "Shape"]

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/x.py`: make `lib` and `tests` importable
    sys.path.insert(0, str(ROOT))

WEBHOOK_SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMDAwMDAwMDA="  # base64 of a dummy key


@dataclass(frozen=True)
class Shape:
    """What the fake's history looks like.

    Attributes:
        records: execution records (invocations x instances) in the history.
        fanout: instances per invocation (a fleet task runs on several at once).
        failure_every: one execution in this many failed (ExitCodeNonzero); 0: none.
        spread_hours: the history's records are spread evenly over this many hours before now.
        fleet: distinct instance ids the executions run on.
    """

    records: int = 1000
    fanout: int = 10
    failure_every: int = 100
    spread_hours: float = 24.0 * 6
    fleet: int = 500


def _build(shape: Shape) -> Any:
    """The dataset: ``records // fanout`` once-commands, newest last, all finished."""
    from datetime import datetime, timedelta, timezone

    from tests.fakes.dataset import Dataset, command, run

    now = datetime.now(timezone.utc).replace(microsecond=0)
    invocations = max(1, shape.records // shape.fanout)
    step = timedelta(hours=shape.spread_hours) / invocations
    ds = Dataset()
    commands = []
    n = 0
    for k in range(invocations):
        runs = []
        for _ in range(shape.fanout):
            n += 1
            failed = shape.failure_every > 0 and n % shape.failure_every == 0
            runs.append(
                run(
                    f"i-bench{n % shape.fleet:08d}",
                    "Failed" if failed else "Success",
                    error_code="ExitCodeNonzero" if failed else "",
                    exit_code=2 if failed else 0,
                )
            )
        # The newest ends more than the poll's 10-minute overlap ago: "nothing new" since.
        created = now - timedelta(minutes=15) - step * (invocations - 1 - k)
        commands.append(
            command(created=created, name="bench.sh", invoke=f"t-bench{k:010d}", instances=runs)
        )
    ds.add(*commands)
    return ds


def _progress(fake: Any, stop: threading.Event) -> None:
    """Say on stderr how far a long pass has come (the fake is the only one who knows)."""
    last = 0
    while not stop.wait(10.0):
        served = len(fake.calls)
        if served != last:
            print(f"  … the fake has answered {served} API calls", file=sys.stderr, flush=True)
            last = served


def _serve(conn: Connection, shape: Shape) -> None:
    """Child process: build the dataset, serve it, answer the parent's questions until stop."""
    import socketserver
    from datetime import datetime, timedelta, timezone

    from tests.fakes.cloudassist import CloudAssistantFake
    from tests.fakes.dataset import command, run
    from tests.fakes.webhook import WebhookSink

    # http.server writes the headers and the body in two sends; with Nagle on, the body waits
    # for the client's delayed ACK: +40 ms per API call that no real gateway adds. Set here,
    # in the fake's own process, on the stdlib class its handlers inherit from.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    dataset = _build(shape)
    stop = threading.Event()
    with CloudAssistantFake(dataset=dataset) as fake, WebhookSink(WEBHOOK_SECRET) as sink:
        threading.Thread(target=_progress, args=(fake, stop), daemon=True).start()
        conn.send((fake.url, sink.url))
        cpu = time.process_time()
        while True:
            ask, arg = conn.recv()
            if ask == "calls":
                with fake._lock:  # the fake's own lock guards its call log
                    counts: dict[str, int] = {}
                    for action, _ in fake.calls:
                        counts[action] = counts.get(action, 0) + 1
                    fake.calls.clear()
                # The fake's own CPU since the last ask: the part of a pass's wall time that
                # is the fake scanning its history (O(records) per page), not assistwatch.
                spent, cpu = time.process_time() - cpu, time.process_time()
                conn.send((counts, spent))
            elif ask == "fail":  # a new failed task on one instance, finished a moment ago
                now = datetime.now(timezone.utc).replace(microsecond=0)
                failed = command(
                    created=now - timedelta(seconds=10),
                    name="deploy.sh",
                    invoke=f"t-new{arg:010d}",
                    instances=[run(f"i-new{arg:08d}", "Failed", error_code="ExitCodeNonzero")],
                )
                dataset.add(failed)
                conn.send((failed.invoke_id, failed.instances[0].instance_id))
            elif ask == "deliveries":
                conn.send(len(sink.deliveries))
            else:
                stop.set()
                conn.send(None)
                return


class FakeProcess:
    """The fake in a ``spawn``-ed child; a context manager."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.url = ""
        self.webhook_url = ""
        self.webhook_secret = WEBHOOK_SECRET
        self.build_seconds = 0.0
        self.last_cpu_s = 0.0  # the fake process's CPU seconds up to the last calls() ask
        self._conn: Connection | None = None
        self._process: Any = None

    def __enter__(self) -> FakeProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.shape), daemon=True)
        started = time.perf_counter()
        self._process.start()
        self._conn = parent
        self.url, self.webhook_url = parent.recv()
        self.build_seconds = time.perf_counter() - started
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            with contextlib.suppress(EOFError, OSError):  # the child is gone already
                self._ask("stop")
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()

    def _ask(self, what: str, arg: Any = None) -> Any:
        assert self._conn is not None, "FakeProcess is not started"
        self._conn.send((what, arg))
        return self._conn.recv()

    def calls(self) -> dict[str, int]:
        """API calls per action since the last ask (the fake's count, not the client's)."""
        counts, self.last_cpu_s = self._ask("calls")
        return dict(counts)

    def add_failure(self, n: int) -> tuple[str, str]:
        """Add a task that just failed on one instance; return (invoke id, instance id)."""
        invoke_id, instance_id = self._ask("fail", n)
        return str(invoke_id), str(instance_id)

    def deliveries(self) -> int:
        """Webhook messages the sink accepted (signature verified) so far."""
        return int(self._ask("deliveries"))
