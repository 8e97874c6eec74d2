"""FC's view of assistwatch: bytes and a context in, a JSON report (or an HTTP reply) out.

Bad input and bad configuration are answered with one clear log line and a failed report,
never raised (FC and EventBridge would retry them pointlessly). Transient faults (API
throttling that outlived our retries, a store outage) are raised so FC retries the event;
the templates give async invocations a failure destination so nothing disappears.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from lib.app import App, Invocation, RunReport, build_app
from lib.core.triggers import parse_event
from lib.support.errors import AssistwatchError, BadInput
from lib.support.log import bind_request, configure, get_logger, register_secret
from lib.support.scrubber import scrub
from lib.support.settings import Settings, load_settings

SERVE_TOKEN_ENV = "ASSISTWATCH_SERVE_TOKEN"  # noqa: S105 - a variable name

__all__ = ["handle", "invocation_from_context", "reset"]

_lock = threading.Lock()
_cache: dict[str, Any] = {}  # "key" → the environment the app was built from, "app" → App


def reset() -> None:
    """Forget the cached app (tests; a changed environment rebuilds it anyway)."""
    with _lock:
        _cache.clear()


def _app_for(settings: Settings, environ: Mapping[str, str]) -> App:
    key = json.dumps(sorted((k, v) for k, v in environ.items() if k.startswith("ASSISTWATCH_")))
    with _lock:
        if _cache.get("key") != key:
            _cache["app"] = build_app(settings, environ=environ)
            _cache["key"] = key
        app: App = _cache["app"]
        return app


def invocation_from_context(context: Any, environ: Mapping[str, str]) -> Invocation:
    """Read what FC hands this invocation; credentials are never cached across invocations."""
    from lib.support.credentials import credentials_from_context, credentials_from_env

    credentials = credentials_from_context(context) or credentials_from_env(environ)
    if credentials is not None:
        register_secret(credentials.access_key_secret.get_secret_value())
        if credentials.security_token is not None:
            register_secret(credentials.security_token.get_secret_value())
    function = getattr(context, "function", None)
    timeout = getattr(function, "timeout", None)
    region = getattr(context, "region", None) or environ.get("FC_REGION") or None
    return Invocation(
        request_id=getattr(context, "request_id", None),
        credentials=credentials,
        region=region if isinstance(region, str) else None,
        timeout_seconds=float(timeout)
        if isinstance(timeout, int | float) and timeout > 0
        else 600.0,
        account_id=_account_id(getattr(context, "account_id", None)),
        function_name=_text(getattr(function, "name", None)),
        # python3.12: function.qualifier; python3.10: service.qualifier (FC's context docs)
        qualifier=_text(getattr(function, "qualifier", None))
        or _text(getattr(getattr(context, "service", None), "qualifier", None)),
    )


def handle(
    event: bytes | str | dict[str, Any] | list[Any],
    context: Any,
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> str | dict[str, Any]:
    """Run one FC invocation and return its report (JSON text, or an HTTP reply)."""
    env = os.environ if environ is None else environ
    configure(stream)
    log = get_logger()
    request_id = getattr(context, "request_id", None)
    bind_request(request_id)
    status = 200
    http = False
    try:
        envelope = _http_envelope(event)
        if envelope is not None:
            event, http = envelope, True
        settings = load_settings(env) if envelope is not None else None
        if settings is not None and settings.actions_on:
            _register_setting_secrets(settings, env)
            answer = _actions_gate(envelope or {}, settings, context, env)
            if answer is not None:
                return answer
        parsed = parse_event(event)
        http = parsed.http
        settings = settings or load_settings(env)
        _register_setting_secrets(settings, env)
        app = _app_for(settings, env)
        invocation = invocation_from_context(context, env)
        report = app.run(parsed.trigger, invocation)
    except AssistwatchError as error:
        if error.retryable and not http:
            log.error("run failed, FC will retry", error=str(error), kind=type(error).__name__)
            raise
        log.error("run refused", error=str(error), kind=type(error).__name__)
        report = RunReport(ok=False, request_id=request_id, errors=[str(error)])
        status = 400 if isinstance(error, BadInput) else 503 if error.retryable else 500
        http = http or (isinstance(error, BadInput) and error.http)
    body = scrub(report.model_dump_json())  # the run report is an outward string
    if http:
        status = status if status != 200 or report.ok else 500
        return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": body}
    return body


def _http_envelope(event: Any) -> dict[str, Any] | None:
    """The HTTP trigger's envelope when ``event`` is one (parsed once), else None."""
    data = event
    if isinstance(event, bytes | str):
        text = event.decode("utf-8", "replace") if isinstance(event, bytes) else event
        if '"rawPath"' not in text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
    if isinstance(data, dict) and "rawPath" in data and "requestContext" in data:
        return data
    return None


def _app_for_pages(settings: Settings, env: Mapping[str, str], context: Any) -> App:
    """The app, its store able to sign with this invocation's credentials (OSS, Table Store)."""
    app = _app_for(settings, env)
    if app.current_credentials is not None:
        app.current_credentials.set(invocation_from_context(context, env).credentials)
    return app


def _actions_gate(
    envelope: dict[str, Any], settings: Settings, context: Any, env: Mapping[str, str]
) -> dict[str, Any] | None:
    """With actions on (the trigger open at FC's level): link requests are answered here,
    signed; on FC every other HTTP request must carry the serve token. None: run as usual."""
    from lib.edges.links import (
        OPS_PATH,
        bearer_ok,
        is_link_request,
        serve_link,
        serve_ops,
        signer_for,
    )

    signer = signer_for(settings)
    assert signer is not None  # actions_on
    if is_link_request(envelope):
        app = _app_for_pages(settings, env, context)
        return serve_link(envelope, settings, signer, app.store, app.clock().timestamp())
    # On FC only FC's gate stood before us, and it is open: check the serve token here
    # (``make serve`` checked it already, and keeps it out of the envelope).
    if env.get("FC_FUNCTION_NAME") and not bearer_ok(envelope, env.get(SERVE_TOKEN_ENV, "")):
        return {
            "statusCode": 401,
            "headers": {"content-type": "application/json", "www-authenticate": "Bearer"},
            "body": json.dumps({"error": f"authentication required ({SERVE_TOKEN_ENV})"}),
        }
    if envelope.get("rawPath") == OPS_PATH:
        app = _app_for_pages(settings, env, context)
        return serve_ops(settings, signer, app.store, app.clock().timestamp())
    return None


def _register_setting_secrets(settings: Settings, env: Mapping[str, str]) -> None:
    """Every secret setting (robot URLs and secrets, the links' key) and the serve token are
    masked in every log line, message and page."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        reveal = getattr(value, "get_secret_value", None)  # a SecretStr
        if callable(reveal):
            register_secret(reveal(), lasting=True)
    register_secret(env.get(SERVE_TOKEN_ENV), lasting=True)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _account_id(value: object) -> str | None:
    """The FC context's ``account_id`` (documented for the python runtimes), if it is one."""
    return value if isinstance(value, str) and value.isdigit() else None
