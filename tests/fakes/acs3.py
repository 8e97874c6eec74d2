"""An independent ACS3-HMAC-SHA256 verifier: the server side of Alibaba Cloud OpenAPI V3 signing.

Written from the signature documentation, not from our client, so that a wrong client
fails here the way it would fail against the cloud. The algorithm::

    CanonicalRequest = METHOD \\n URI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders
                       \\n HexSHA256(body)
    StringToSign     = "ACS3-HMAC-SHA256" \\n HexSHA256(CanonicalRequest)
    Signature        = Hex(HMAC-SHA256(secret, StringToSign))

The server rebuilds the canonical request from what it *received* (method, path, raw query,
the headers named in SignedHeaders, the hash of the body it read), so any tampering, a
body that does not match ``x-acs-content-sha256``, or a wrong secret changes the signature.
This module is pure: no sockets, no clock (``now`` is passed in), nothing from ``lib``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

__all__ = [
    "ALGORITHM",
    "MAX_SKEW",
    "Authorization",
    "KnownKey",
    "ReceivedRequest",
    "SignatureError",
    "canonical_headers",
    "canonical_query_string",
    "canonical_request",
    "hex_sha256",
    "parse_authorization",
    "sign",
    "string_to_sign",
    "verify",
]

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)  # the documented validity of x-acs-date
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Headers every V3 request must carry and sign (the docs' 公共请求头).
_REQUIRED = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce")


class SignatureError(Exception):
    """The request is rejected; ``status``/``code``/``message`` are what the gateway answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class KnownKey:
    """An AccessKey the server accepts; STS keys also carry the token issued with them."""

    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as the server received it. ``headers`` maps lower-case names to values."""

    method: str
    path: str
    query: str  # raw query string, without the "?"
    headers: Mapping[str, Sequence[str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True)
class Authorization:
    """The parsed ``Authorization`` header."""

    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def hex_sha256(data: bytes) -> str:
    """Lower-case hex SHA-256, as used for the payload and the canonical request."""
    return hashlib.sha256(data).hexdigest()


def _encode(value: str) -> str:
    # RFC 3986: everything but unreserved characters is percent-encoded ("~" stays).
    return quote(value, safe="~", encoding="utf-8")


def canonical_query_string(raw_query: str) -> str:
    """Decode the query as received, re-encode per RFC 3986, sort by name then value."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(headers: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header, values trimmed, repeated values joined by ","."""
    lines = []
    for name in sorted(signed):
        values = sorted(v.strip() for v in headers.get(name, ()))
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def canonical_request(
    request: ReceivedRequest, signed_headers: Sequence[str], hashed_payload: str
) -> str:
    """The canonical request the server signs, rebuilt from what it received."""
    uri = quote(unquote(request.path or "/"), safe="/~", encoding="utf-8") or "/"
    signed = sorted(signed_headers)
    return "\n".join(
        [
            request.method.upper(),
            uri,
            canonical_query_string(request.query),
            canonical_headers(request.headers, signed),
            ";".join(signed),
            hashed_payload,
        ]
    )


def string_to_sign(canonical: str) -> str:
    """``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request."""
    return f"{ALGORITHM}\n{hex_sha256(canonical.encode('utf-8'))}"


def sign(secret: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign, keyed by the AccessKey secret."""
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(value: str | None) -> Authorization:
    """Parse ``ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…``."""
    if not value:
        raise SignatureError(400, "IncompleteSignature", "The Authorization header is missing.")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(
            400, "IncompleteSignature", f"Unsupported signature algorithm {algorithm!r}."
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            fields[name] = val
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise SignatureError(
            400,
            "IncompleteSignature",
            f"The Authorization header lacks {', '.join(missing)}.",
        )
    signed = tuple(h for h in fields["SignedHeaders"].split(";") if h)
    return Authorization(algorithm, fields["Credential"], signed, fields["Signature"])


def _check_headers(request: ReceivedRequest, auth: Authorization) -> None:
    if any(h != h.lower() for h in auth.signed_headers):
        raise SignatureError(400, "IncompleteSignature", "SignedHeaders must be lower case.")
    signed = set(auth.signed_headers)
    for name in _REQUIRED:
        if request.header(name) is None:
            raise SignatureError(400, "IncompleteSignature", f"The header {name} is missing.")
    # The docs: host and every x-acs-* header present must take part in the signature.
    must_sign = {"host"} | {h for h in request.headers if h.startswith("x-acs-")}
    unsigned = sorted(must_sign - signed)
    if unsigned:
        raise SignatureError(
            400, "IncompleteSignature", f"Headers not signed: {';'.join(unsigned)}."
        )
    absent = sorted(h for h in signed if h not in request.headers)
    if absent:
        raise SignatureError(
            400, "IncompleteSignature", f"Signed headers not sent: {';'.join(absent)}."
        )


def _check_date(request: ReceivedRequest, now: datetime, max_skew: timedelta) -> None:
    raw = request.header("x-acs-date") or ""
    try:
        sent = datetime.strptime(raw, _DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ) from None
    if abs(now - sent) > max_skew:
        raise SignatureError(
            400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
        )


def _check_token(request: ReceivedRequest, key: KnownKey) -> None:
    token = request.header("x-acs-security-token")
    if key.security_token is None and token is None:
        return
    if key.security_token is not None and token is None:
        # An STS key used without its token looks like an unknown permanent key.
        raise SignatureError(
            404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        )
    if not hmac.compare_digest((token or "").encode(), (key.security_token or "").encode()):
        raise SignatureError(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )


def verify(
    request: ReceivedRequest,
    keys: Mapping[str, KnownKey] | Callable[[str], KnownKey | None],
    *,
    now: datetime,
    max_skew: timedelta = MAX_SKEW,
) -> Authorization:
    """Verify a V3-signed request; return its Authorization or raise :class:`SignatureError`.

    Checks, in the gateway's order: header present and well formed, required headers
    signed, access key known, security token, x-acs-date within ``max_skew``, signature.
    """
    auth = parse_authorization(request.header("authorization"))
    _check_headers(request, auth)
    key = keys(auth.access_key_id) if callable(keys) else keys.get(auth.access_key_id)
    if key is None:
        raise SignatureError(
            404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        )
    _check_token(request, key)
    _check_date(request, now, max_skew)
    # The hash of the body actually received, not the header's claim: a mismatch between
    # the two changes the canonical request and so the signature.
    canonical = canonical_request(request, auth.signed_headers, hex_sha256(request.body))
    to_sign = string_to_sign(canonical)
    expected = sign(key.secret, to_sign)
    if not hmac.compare_digest(expected, auth.signature.lower()):
        claimed = request.header("x-acs-content-sha256")
        why = (
            " x-acs-content-sha256 does not match the request body."
            if claimed is not None and claimed != hex_sha256(request.body)
            else ""
        )
        raise SignatureError(
            400,
            "SignatureDoesNotMatch",
            "Specified signature does not match our calculation."
            f"{why} server string to sign is:{to_sign}",
        )
    return auth
