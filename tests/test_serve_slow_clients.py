"""The local FC (``make serve``) cannot be stalled by clients that never finish a request.

The server runs as ``make serve`` runs it (``python -m lib.edges.serve_gunicorn``), in its own
process on a loopback port; the attackers are raw sockets that send half a request and
wait. Time limits here are hang guards for the test, not measured assertions.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "local0serve0token0for0slow0client0tests"
HALF_OPEN = 20
READ_TIMEOUT = 2  # seconds, small so the "given back" story runs quickly


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    environ = {
        **os.environ,
        "ASSISTWATCH_SERVE_TOKEN": TOKEN,
        "ASSISTWATCH_SERVE_READ_TIMEOUT": str(READ_TIMEOUT),
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
    }
    environ.pop("FC_FUNCTION_NAME", None)
    process = subprocess.Popen(  # our own module, fixed arguments
        [sys.executable, "-m", "lib.edges.serve_gunicorn", "--port", str(port)],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60  # hang guard: a slow machine imports slowly
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start: {process.stderr}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _half_open(base: str) -> socket.socket:
    """A client that sends the start of a request and then nothing."""
    host, port = base.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=30)
    client.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Le")
    return client


def test_twenty_half_open_connections_do_not_starve_the_token_holder(served: str) -> None:
    # GIVEN 20 unauthenticated clients that each sent half a request and went quiet
    attackers = [_half_open(served) for _ in range(HALF_OPEN)]
    try:
        time.sleep(0.5)  # let the server pick every one of them up
        # WHEN the token holder calls the HTTP trigger
        answer = httpx.get(
            f"{served}/no-such-trigger",
            headers={"authorization": f"Bearer {TOKEN}"},
            timeout=httpx.Timeout(60.0),  # hang guard
        )
        # THEN it is answered (the entry refuses this path as bad input: 400)
        assert answer.status_code == 400
        assert "HTTP request body is empty" in answer.text
    finally:
        for client in attackers:
            client.close()


def test_a_half_sent_request_is_closed_after_the_read_timeout(served: str) -> None:
    # GIVEN a client that sent half a request
    client = _half_open(served)
    try:
        # WHEN it waits THEN the server gives up on it and closes the connection (an empty
        # read, or a reset), instead of holding a thread for ever
        client.settimeout(READ_TIMEOUT * 15)  # hang guard
        try:
            data = client.recv(1024)
        except ConnectionResetError:
            data = b""
        assert b"200" not in data
    finally:
        client.close()
