"""The local FC's InvokeFunction (``make serve``): what fan-out's coordinator calls, emulated.

``POST /2023-03-30/functions/{name}/invocations`` signed ACS3-HMAC-SHA256 with the AccessKey
the local FC runs with (``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``, as FC checks the caller's
signature); ``x-fc-invocation-type: Async`` runs the event in a background thread and answers
202 with an empty body and ``x-fc-request-id`` (as FC queues it), anything else runs it now
and answers with its result. A bad signature is FC's 403 ``InvalidSignature`` JSON error.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from lib.cloud.aliyun.signer import ALGORITHM, canonical_request
from lib.cloud.fc import INVOKE_PATH

__all__ = ["function_of", "verify"]

Reply = tuple[bytes, int, dict[str, str]]


def function_of(method: str, path: str) -> str | None:
    """The function name an InvokeFunction request names (None: not one)."""
    match = INVOKE_PATH.match(path) if method == "POST" else None
    return match.group(1) if match else None


def verify(
    *,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    secret: str,
) -> str | None:
    """Check an ACS3 signature made with (key_id, secret); None if good, else why not."""
    auth = headers.get("authorization", "")
    if not auth.startswith(f"{ALGORITHM} "):
        return "no ACS3-HMAC-SHA256 Authorization header"
    fields = dict(
        part.strip().split("=", 1) for part in auth[len(ALGORITHM) :].split(",") if "=" in part
    )
    if not key_id or not hmac.compare_digest(fields.get("Credential", ""), key_id):
        return "unknown AccessKey id"
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256") != payload_hash:
        return "x-acs-content-sha256 is not the body's"
    names = [name for name in fields.get("SignedHeaders", "").split(";") if name]
    if "host" not in names or any(name not in headers for name in names):
        return "a signed header is missing"
    text, _ = canonical_request(
        method="POST",
        path=path,
        query=query,
        headers={name: headers[name] for name in names},
        payload_hash=payload_hash,
    )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(text.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(fields.get("Signature", ""), expected):
        return "the signature does not match"
    return None


def invoke(
    run: Callable[[bytes, str], Reply],
    body: bytes,
    headers: Mapping[str, str],
) -> Reply:
    """Run the event now (Sync) or in a background thread (Async: 202 at once)."""
    request_id = f"local-{uuid.uuid4()}"
    if headers.get("x-fc-invocation-type", "Sync").lower() != "async":
        return run(body, request_id)
    thread = threading.Thread(target=run, args=(body, request_id), name="fc-async", daemon=True)
    thread.start()
    return b"", 202, {"x-fc-request-id": request_id}


def refusal(status: int, code: str, message: str) -> Reply:
    """FC's JSON error body."""
    import json

    body: dict[str, Any] = {"Code": code, "Message": message, "RequestId": uuid.uuid4().hex}
    return json.dumps(body).encode(), status, {"content-type": "application/json"}
