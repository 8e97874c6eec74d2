"""The local FC (functions-framework shim), driven over loopback like FC's runtime would."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from functions_framework import create_app
from werkzeug.serving import make_server

from lib.edges.serve import FcCredentials, make_target
from lib.support.errors import ApiTransientError

TOKEN = "local0serve0token0for0tests"
STS_SECRET = "sts0secret0value0000000000"
STS_TOKEN = "CAIS0sts0token0value00000000"
FC_HEADERS = {
    "x-fc-request-id": "req-123",
    "x-fc-access-key-id": "STS.local",
    "x-fc-access-key-secret": STS_SECRET,
    "x-fc-security-token": STS_TOKEN,
    "x-fc-region": "cn-hangzhou",
    "x-fc-function-timeout": "120",
    "x-fc-function-name": "assistwatch",
}
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Recorder:
    """An entry that records what it was handed and answers like lib.edges.entry.handle."""

    def __init__(self, answer: Any = None, raises: Exception | None = None) -> None:
        self.calls: list[tuple[Any, Any]] = []
        self.answer = answer if answer is not None else json.dumps({"ok": True})
        self.raises = raises

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls.append((event, context))
        if self.raises is not None:
            raise self.raises
        return self.answer


# functions-framework loads its target by name from a source file; the file written by
# ``Server`` picks the target built for that test from here (same process, server thread).
TARGETS: dict[str, Any] = {}


class Server:
    """functions-framework's own app for a target, served on a loopback port."""

    def __init__(self, tmp_path: Path, environ: dict[str, str], entry: Any) -> None:
        self.stdout = io.StringIO()
        key = f"t{len(TARGETS)}"
        TARGETS[key] = make_target(environ=environ, entry=entry, stdout=self.stdout)
        source = tmp_path / "fc_target.py"
        source.write_text(f"from tests.test_serve import TARGETS\n\nfc = TARGETS[{key!r}]\n")
        self.server = make_server("127.0.0.1", 0, create_app("fc", str(source)), threaded=True)  # type: ignore[no-untyped-call]
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(tmp_path: Path, recorder: Recorder) -> Iterator[Server]:
    with Server(tmp_path, {"ASSISTWATCH_SERVE_TOKEN": TOKEN}, recorder) as running:
        yield running


def test_invoke_hands_the_event_bytes_and_fc_context_to_the_entry(server, recorder):
    """GIVEN the local FC WHEN FC's runtime POSTs /invoke with x-fc-* headers
    THEN the entry gets the body bytes and a context with request id, credentials, region."""
    event = b'{"triggerTime": "2025-01-01T00:00:00Z", "triggerName": "poll", "payload": ""}'
    reply = httpx.post(f"{server.url}/invoke", content=event, headers={**FC_HEADERS, **AUTH})

    assert reply.status_code == 200
    assert reply.headers["x-fc-status"] == "200"
    assert reply.json() == {"ok": True}
    [(got_event, context)] = recorder.calls
    assert got_event == event
    assert context.request_id == "req-123"
    assert context.region == "cn-hangzhou"
    assert context.function.timeout == 120
    assert context.credentials.access_key_id == "STS.local"
    assert context.credentials.access_key_secret == STS_SECRET
    assert context.credentials.security_token == STS_TOKEN
    assert "FC Invoke Start RequestId: req-123" in server.stdout.getvalue()
    assert "FC Invoke End RequestId: req-123" in server.stdout.getvalue()


def test_a_retryable_failure_is_an_fc_function_error(tmp_path):
    """GIVEN an entry that raises a retryable error WHEN /invoke runs
    THEN the reply carries x-fc-status 404 (FC's function error) so FC retries the event."""
    failing = Recorder(raises=ApiTransientError("Throttling", "slow down", "RID-1"))
    with Server(tmp_path, {"ASSISTWATCH_SERVE_TOKEN": TOKEN}, failing) as running:
        reply = httpx.post(f"{running.url}/invoke", content=b"{}", headers={**FC_HEADERS, **AUTH})

    assert reply.status_code == 500
    assert reply.headers["x-fc-status"] == "404"
    assert reply.json()["errorType"] == "ApiTransientError"


def test_http_trigger_request_arrives_as_the_v1_envelope_without_secrets(server, recorder):
    """GIVEN an HTTP trigger call WHEN it reaches the shim
    THEN the entry gets FC 3.0's v1 envelope, with no Authorization or STS header in it."""
    recorder.answer = {
        "statusCode": 202,
        "headers": {"content-type": "application/json"},
        "body": '{"ok": true}',
    }
    reply = httpx.post(
        f"{server.url}/poll?dry=1",
        content=b'{"action": "poll"}',
        headers={**FC_HEADERS, **AUTH, "x-custom": "yes"},
    )

    assert reply.status_code == 202
    assert reply.json() == {"ok": True}
    [(envelope, context)] = recorder.calls
    assert envelope["version"] == "v1"
    assert envelope["rawPath"] == "/poll"
    assert envelope["body"] == '{"action": "poll"}'
    assert envelope["isBase64Encoded"] is False
    assert envelope["queryParameters"] == {"dry": "1"}
    assert envelope["requestContext"]["http"]["method"] == "POST"
    assert envelope["requestContext"]["requestId"] == "req-123"
    lowered = {key.lower() for key in envelope["headers"]}
    assert "x-custom" in lowered
    assert not lowered & {"authorization", "x-fc-access-key-secret", "x-fc-security-token"}
    assert TOKEN not in json.dumps(envelope)
    assert STS_SECRET not in json.dumps(envelope)
    assert context.credentials is not None


def test_binary_http_body_is_base64_in_the_envelope(server, recorder):
    """GIVEN a body that is not UTF-8 WHEN it comes through the HTTP trigger
    THEN the envelope carries it Base64-encoded and says so."""
    httpx.post(f"{server.url}/", content=b"\xff\xfe\x00", headers=AUTH)

    [(envelope, _)] = recorder.calls
    assert envelope["isBase64Encoded"] is True
    assert envelope["body"] == "//4A"


@pytest.mark.parametrize("path", ["/invoke", "/"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong-token-wrong-token"}, {"authorization": TOKEN}],
    ids=["none", "wrong", "not-bearer"],
)
def test_requests_without_the_token_are_refused(server, recorder, path, headers):
    """GIVEN the shim with a token WHEN a request has none, a wrong one or no Bearer scheme
    THEN it is refused with 401 and nothing runs."""
    reply = httpx.post(f"{server.url}{path}", content=b"{}", headers=headers)

    assert reply.status_code == 401
    assert recorder.calls == []


def test_without_a_configured_token_the_shim_refuses_everything(tmp_path, recorder):
    """GIVEN no ASSISTWATCH_SERVE_TOKEN outside FC WHEN anything is requested
    THEN 503 says which variable to set, and nothing runs (fail closed)."""
    with Server(tmp_path, {}, recorder) as running:
        reply = httpx.post(f"{running.url}/invoke", content=b"{}", headers=FC_HEADERS)

    assert reply.status_code == 503
    assert "ASSISTWATCH_SERVE_TOKEN" in reply.json()["error"]
    assert recorder.calls == []


def test_inside_fc_the_platform_authenticates(tmp_path, recorder):
    """GIVEN the shim running as an FC custom runtime (FC_FUNCTION_NAME set by FC)
    WHEN FC's runtime POSTs /invoke without our token THEN it runs."""
    with Server(tmp_path, {"FC_FUNCTION_NAME": "assistwatch"}, recorder) as running:
        reply = httpx.post(f"{running.url}/invoke", content=b"{}", headers=FC_HEADERS)

    assert reply.status_code == 200
    assert len(recorder.calls) == 1


def test_the_real_entry_answers_bad_input_through_the_http_trigger_with_400(tmp_path):
    """GIVEN the shim on lib.edges.entry.handle WHEN the HTTP trigger gets a body that is no trigger
    THEN the reply is the entry's own 400 report."""
    environ = {"ASSISTWATCH_SERVE_TOKEN": TOKEN, "ASSISTWATCH_STATE_URL": f"file://{tmp_path}/s"}
    with Server(tmp_path, environ, None) as running:
        reply = httpx.post(f"{running.url}/", content=b'{"hello": 1}', headers=AUTH)

    assert reply.status_code == 400
    assert reply.json()["ok"] is False
    assert "not a trigger" in reply.json()["errors"][0]


def test_the_module_target_loads_in_functions_framework(monkeypatch):
    """GIVEN `make serve`'s command line (target fc, source lib/edges/serve.py) WHEN it loads
    THEN functions-framework finds the target, and without a token it refuses requests."""
    import lib.edges.serve

    monkeypatch.delenv("ASSISTWATCH_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("FC_FUNCTION_NAME", raising=False)
    app = create_app("fc", lib.edges.serve.__file__)  # type: ignore[no-untyped-call]

    reply = app.test_client().post("/invoke", data=b"{}")

    assert reply.status_code == 503


def test_context_repr_never_shows_the_sts_secret_or_token():
    """GIVEN credentials from x-fc-* headers WHEN the context is printed THEN no secret shows."""
    credentials = FcCredentials("STS.local", STS_SECRET, STS_TOKEN)

    assert STS_SECRET not in repr(credentials)
    assert STS_TOKEN not in repr(credentials)
    assert "STS.local" in repr(credentials)
