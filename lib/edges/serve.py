"""A local Function Compute on functions-framework: HTTP requests in, FC invocations out.

``make serve`` runs ``functions-framework --target fc --source lib/edges/serve.py``. Two shapes:

- ``POST /invoke``: an event invocation as FC's custom runtime sends it — the event bytes
  are the body, the context comes from ``x-fc-*`` headers (request id, STS credentials,
  region, timeout). The reply is the run report, with ``x-fc-status: 200``, or ``404``
  (FC's "function error") when the run raised a retryable error.
- anything else: an HTTP trigger call, wrapped in FC 3.0's v1 envelope (``rawPath``,
  ``body``, ``requestContext``, …) and answered with the ``{statusCode, headers, body}``
  the entry returns.

So the same code also runs as an FC custom runtime. Authentication: inside FC
(``FC_FUNCTION_NAME`` is set by the platform) requests reach us only through FC, whose
HTTP trigger checks the signature (``authType: function``). Anywhere else every request
needs ``Authorization: Bearer $ASSISTWATCH_SERVE_TOKEN``; with no token configured every
request is refused (fail closed: a poll sends real alerts with real credentials).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

if TYPE_CHECKING:
    import flask

__all__ = [
    "SERVE_TOKEN_ENV",
    "FcContext",
    "FcCredentials",
    "FcFunction",
    "context_from_headers",
    "fc",
    "http_envelope",
    "make_target",
]

SERVE_TOKEN_ENV = "ASSISTWATCH_SERVE_TOKEN"  # noqa: S105 - a variable name
MIN_TOKEN_LENGTH = 16
INVOKE_PATH = "/invoke"
Reply = tuple[bytes, int, dict[str, str]]
Entry = Callable[[Any, Any], "str | dict[str, Any]"]
# Headers that carry secrets: never copied into the HTTP trigger envelope (the event is
# logged on bad input and may be saved for replay).
_PRIVATE_HEADERS = {
    "authorization",
    "x-fc-access-key-id",
    "x-fc-access-key-secret",
    "x-fc-security-token",
}


@dataclass(frozen=True)
class FcCredentials:
    """The STS credentials FC hands an invocation; the repr shows the AccessKey id only."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FcFunction:
    """The part of ``context.function`` the entry reads."""

    name: str = "assistwatch"
    timeout: int = 600
    memory_size: int | None = None


@dataclass(frozen=True)
class FcContext:
    """An FC python-runtime context, built from the custom-runtime headers."""

    request_id: str
    credentials: FcCredentials | None = None
    function: FcFunction = field(default_factory=FcFunction)
    region: str | None = None
    account_id: str | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def context_from_headers(headers: Mapping[str, str]) -> FcContext:
    """The context FC's custom runtime describes in ``x-fc-*`` headers (case-insensitive)."""
    lower = {key.lower(): value for key, value in headers.items()}
    key_id = lower.get("x-fc-access-key-id") or ""
    secret = lower.get("x-fc-access-key-secret") or ""
    credentials = (
        FcCredentials(key_id, secret, lower.get("x-fc-security-token") or None)
        if key_id and secret
        else None
    )
    return FcContext(
        request_id=lower.get("x-fc-request-id") or f"local-{uuid.uuid4()}",
        credentials=credentials,
        function=FcFunction(
            name=lower.get("x-fc-function-name") or "assistwatch",
            timeout=_int(lower.get("x-fc-function-timeout")) or 600,
            memory_size=_int(lower.get("x-fc-function-memory")),
        ),
        region=lower.get("x-fc-region") or None,
        account_id=lower.get("x-fc-account-id") or None,
    )


def http_envelope(request: flask.Request, request_id: str) -> dict[str, Any]:
    """FC 3.0's HTTP trigger event (payload format v1) for ``request``."""
    raw = request.get_data(cache=True)
    try:
        body, encoded = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode("ascii"), True
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        if key.lower() in _PRIVATE_HEADERS:
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = datetime.now(timezone.utc)
    return {
        "version": "v1",
        "rawPath": quote(request.path),
        "body": body,
        "isBase64Encoded": encoded,
        "headers": headers,
        "queryParameters": {key: ",".join(request.args.getlist(key)) for key in request.args},
        "requestContext": {
            "accountId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "",
                "userAgent": request.headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeEpoch": str(int(now.timestamp() * 1000)),
        },
    }


def _json_reply(status: int, value: Any, extra: Mapping[str, str] | None = None) -> Reply:
    headers = {"content-type": "application/json"}
    headers.update(extra or {})
    return json.dumps(value, ensure_ascii=False).encode(), status, headers


def _refusal(headers: Mapping[str, str], environ: Mapping[str, str]) -> Reply | None:
    """None when the request may run; else the 401/503 reply that says why not."""
    if environ.get("FC_FUNCTION_NAME"):
        return None  # on FC: only FC reaches us, after checking the trigger's signature
    token = environ.get(SERVE_TOKEN_ENV, "")
    if len(token) < MIN_TOKEN_LENGTH:
        return _json_reply(
            503,
            {
                "error": f"set {SERVE_TOKEN_ENV} (at least {MIN_TOKEN_LENGTH} characters) "
                "to accept requests; callers send it as 'Authorization: Bearer <token>'"
            },
        )
    offered = headers.get("authorization", "")
    scheme, _, credential = offered.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        credential.strip().encode(), token.encode()
    ):
        return None
    return _json_reply(
        401, {"error": "authentication required"}, {"www-authenticate": 'Bearer realm="fc"'}
    )


def _is_link(path: str, environ: Mapping[str, str]) -> bool:
    """With actions on, ``/act`` requests authenticate by their signature (lib.edges.links)."""
    return (
        path == "/act"
        and bool(environ.get("ASSISTWATCH_PUBLIC_URL"))
        and bool(environ.get("ASSISTWATCH_ACTIONS_SECRET"))
    )


def make_target(
    *,
    environ: Mapping[str, str] | None = None,
    entry: Entry | None = None,
    stdout: TextIO | None = None,
) -> Callable[[flask.Request], Reply]:
    """The functions-framework HTTP target; ``entry`` defaults to ``lib.edges.entry.handle``.

    ``environ`` is read at each request (the token can change without a restart).
    """

    def default_entry(event: Any, context: Any) -> str | dict[str, Any]:
        from lib.edges.entry import handle

        return handle(event, context, environ=environ)

    run = entry or default_entry

    def target(request: flask.Request) -> Reply:
        env = os.environ if environ is None else environ
        headers = {key.lower(): value for key, value in request.headers.items()}
        refused = (
            None if _is_link(request.path, env) or _fc_function(request) else _refusal(headers, env)
        )
        if refused is not None:
            return refused
        function = None if env.get("FC_FUNCTION_NAME") else _fc_function(request)
        if function is not None:  # fan-out's InvokeFunction, emulated (lib.edges.fcinvoke)
            return _invoke_function(
                run, request, headers, env, out=stdout or sys.stdout, function=function
            )
        context = context_from_headers(headers)
        if request.method == "POST" and request.path == INVOKE_PATH:
            return _invoke(run, request.get_data(), context, stdout or sys.stdout)
        return _http(run, http_envelope(request, context.request_id), context)

    return target


def _fc_function(request: flask.Request) -> str | None:
    from lib.edges.fcinvoke import function_of

    return function_of(request.method, request.path)


def _invoke_function(
    run: Entry,
    request: flask.Request,
    headers: Mapping[str, str],
    env: Mapping[str, str],
    *,
    out: TextIO,
    function: str,
) -> Reply:
    """InvokeFunction as FC 3.0 answers it, authenticated by the caller's ACS3 signature."""
    from lib.edges import fcinvoke

    body = request.get_data()
    why = fcinvoke.verify(
        path=request.path,
        query={key: request.args[key] for key in request.args},
        headers=headers,
        body=body,
        key_id=env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
        secret=env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
    )
    if why is not None:
        return fcinvoke.refusal(403, "InvalidSignature", why)

    def one(event: bytes, request_id: str) -> Reply:
        context = FcContext(
            request_id, function=FcFunction(name=function), region=env.get("FC_REGION")
        )
        return _invoke(run, event, context, out)

    return fcinvoke.invoke(one, body, headers)


def _invoke(run: Entry, event: bytes, context: FcContext, out: TextIO) -> Reply:
    """An event invocation, with the start/end lines FC's custom runtime contract asks for."""
    from lib.support.errors import AssistwatchError

    out.write(f"FC Invoke Start RequestId: {context.request_id}\n")
    out.flush()
    started = time.monotonic()
    try:
        answer = run(event, context)
    except AssistwatchError as error:  # retryable: FC retries the async event
        return _json_reply(
            500,
            {"errorMessage": str(error), "errorType": type(error).__name__},
            {"x-fc-status": "404"},
        )
    finally:
        elapsed = int((time.monotonic() - started) * 1000)
        out.write(f"FC Invoke End RequestId: {context.request_id}, Duration: {elapsed} ms\n")
        out.flush()
    body = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return body.encode(), 200, {"content-type": "application/json", "x-fc-status": "200"}


def _http(run: Entry, envelope: dict[str, Any], context: FcContext) -> Reply:
    from lib.support.errors import AssistwatchError

    try:
        answer = run(envelope, context)
    except AssistwatchError as error:
        return _json_reply(503 if error.retryable else 500, {"error": str(error)})
    if isinstance(answer, dict) and "statusCode" in answer:
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
        return data, int(answer["statusCode"]), headers
    body = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return body.encode(), 200, {"content-type": "application/json"}


fc = make_target()
