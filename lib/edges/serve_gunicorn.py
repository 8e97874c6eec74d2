"""``make serve``: the local FC (:mod:`lib.edges.serve`) under gunicorn, hardened against slow clients.

functions-framework's own command runs gunicorn's threaded worker with a thread per CPU
× 4 and no read timeout: a client that sends half a request holds a thread for ever, so
nine unauthenticated half-open connections blocked the token holder. Here:

- every client socket reads and writes under a timeout (``--read-timeout``, default 10 s;
  ``ASSISTWATCH_SERVE_READ_TIMEOUT``): a half-sent request or body gives its thread back
  then, and the connection is closed;
- the pool has ``--threads`` threads (default 64; ``ASSISTWATCH_SERVE_THREADS``), so 20
  half-open sockets leave most of it to callers who send whole requests. A thread costs a
  small stack; the runs themselves are what uses memory, and only authenticated ones run.

Bearer-token checking stays in :mod:`lib.edges.serve` (constant-time, fail closed).

    python -m lib.edges.serve_gunicorn [--host 127.0.0.1] [--port 9000]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

__all__ = ["DEFAULT_READ_TIMEOUT", "DEFAULT_THREADS", "TimedThreadWorker", "main"]

DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_THREADS = 64
READ_TIMEOUT_ENV = "ASSISTWATCH_SERVE_READ_TIMEOUT"
THREADS_ENV = "ASSISTWATCH_SERVE_THREADS"
_read_timeout = DEFAULT_READ_TIMEOUT  # set by main() before gunicorn forks its worker


class _TimedSocket(socket.socket):
    """A client socket whose "blocking" mode is a timeout: no read or write waits for ever.

    gunicorn switches a connection between non-blocking (in its poller) and blocking (in a
    worker thread) with ``setblocking``; blocking here means "at most the read timeout".
    """

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(_read_timeout)
        else:
            super().setblocking(False)


class TimedThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's threaded worker with every client socket under the read timeout."""

    def enqueue_req(self, conn: Any) -> None:
        if not isinstance(conn.sock, _TimedSocket):
            blocking = conn.sock.gettimeout() != 0.0
            timed = _TimedSocket(fileno=conn.sock.detach())
            timed.setblocking(blocking)
            conn.sock = timed
        super().enqueue_req(conn)


class _Application(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Serve :func:`lib.edges.serve.fc` on a loopback port until interrupted."""
    global _read_timeout  # noqa: PLW0603  # gunicorn builds the worker: no other seam
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get(THREADS_ENV, DEFAULT_THREADS))
    )
    parser.add_argument(
        "--read-timeout",
        type=_positive,
        default=_positive(os.environ.get(READ_TIMEOUT_ENV, str(DEFAULT_READ_TIMEOUT))),
        help="seconds a client may take to send a request (and to read the answer)",
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    _read_timeout = args.read_timeout
    from functions_framework import create_app

    source = str(Path(__file__).with_name("serve.py"))
    app = create_app(target="fc", source=source)  # type: ignore[no-untyped-call]
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": 1,
        "threads": args.threads,
        "worker_class": f"{__name__}.TimedThreadWorker",
        "timeout": 0,  # no worker heartbeat kill: a poll may take minutes, like on FC
        "keepalive": 2,
        "loglevel": os.environ.get("GUNICORN_LOG_LEVEL", "error"),
    }
    _Application(app, options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
