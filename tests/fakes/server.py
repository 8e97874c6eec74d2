"""The loopback plumbing every HTTP fake shares: a threaded server on 127.0.0.1, port 0.

A fake subclasses :class:`LoopbackServer`, implements ``_handler()`` (its request handler,
usually a :class:`QuietHandler` subclass) and keeps its own names for the address
(``url``, ``base_url``, ``endpoint``) on top of :meth:`LoopbackServer.root_url`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["LoopbackServer", "QuietHandler"]

_S = TypeVar("_S", bound="LoopbackServer")

POLL_INTERVAL = 0.05  # how long stop() waits at most for the serving loop to notice


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and sends small answers without delay."""

    # Headers and body leave in two writes: without TCP_NODELAY each answer on a kept-alive
    # connection waits ~40 ms for the client's delayed ACK (Nagle), which is not the cloud.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: request lines carry tokens and keys; tests read answers, not stderr


class LoopbackServer:
    """A ``ThreadingHTTPServer`` on a free loopback port, served in a daemon thread.

    Args:
        bind: listen at once, so the address is known before :meth:`start` and still after
            :meth:`stop`; otherwise :meth:`start` binds and :meth:`stop` forgets the address.
        name: the serving thread's name.
    """

    def __init__(self, *, bind: bool = False, name: str | None = None) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._thread_name = name
        self._keep_address = bind
        self._address: tuple[Any, ...] | None = None
        if bind:
            self._bind()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class serving this fake."""
        raise NotImplementedError

    def _bind(self) -> ThreadingHTTPServer:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
            self._address = tuple(self._server.server_address)
        return self._server

    def start(self: _S) -> _S:
        """Listen on a free loopback port (if not yet) and serve in a daemon thread."""
        server = self._bind()
        if self._thread is None:
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name=self._thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; a later :meth:`start` listens anew."""
        server, thread = self._server, self._thread
        self._server = None
        self._thread = None
        if not self._keep_address:
            self._address = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _root_url_or_none(self) -> str | None:
        if self._address is None:
            return None
        host, port = self._address[:2]
        return f"http://{host!s}:{port}"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` while listening."""
        url = self._root_url_or_none()
        if url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return url
