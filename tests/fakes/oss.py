"""``OssFake``: a loopback OSS that verifies V4 signatures and keeps buckets in memory.

::

    with OssFake(region="cn-hangzhou") as fake:
        fake.add_key("LTAI-test", "test-secret")
        fake.add_bucket("assistwatch-state")
        store = OssStore("assistwatch-state", "aw", region="cn-hangzhou", endpoint=fake.url, ...)

It serves the operations the OSS state backend uses — PutObject (``x-oss-forbid-overwrite``:
409 ``FileAlreadyExists``, ignored on a versioned bucket as on the real service), GetObject,
HeadObject, DeleteObject, ListObjectsV2 (prefix, max-keys, continuation-token,
``encoding-type=url``) and GetBucketVersioning — path-style (what the SDK sends to an IP
endpoint) or virtual-host style. Every request's ``OSS4-HMAC-SHA256`` Authorization is checked
by :func:`v4_signature`, written here from the documented algorithm (tested against the SDK's
published vectors and its signer); failures answer 403 in the real XML error shape
(``SignatureDoesNotMatch``, ``InvalidAccessKeyId``, ``InvalidSecurityToken``,
``RequestTimeTooSkewed``). Faults for the next requests: a 5xx answer, a response dropped
after the write committed, a slow answer, a request held until the test releases it. Thread-safe; imports nothing from ``lib``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote
from xml.sax.saxutils import escape

import crcmod  # the SDK's own dependency; used only to answer x-oss-hash-crc64ecma

from tests.fakes.server import LoopbackServer, QuietHandler

__all__ = ["OssFake", "StoredObject", "canonical_request", "v4_signature"]

ALGORITHM = "OSS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60  # OSS refuses requests signed more than 15 minutes away
_UNRESERVED = re.compile(rb"[A-Za-z0-9\-_.~]")
_CREDENTIAL = re.compile(
    r"^OSS4-HMAC-SHA256 Credential=(?P<ak>[^/,]+)/(?P<date>\d{8})/(?P<region>[^/,]+)/"
    r"(?P<product>[^/,]+)/aliyun_v4_request"
    r"(?:,AdditionalHeaders=(?P<additional>[^,]*))?,Signature=(?P<signature>[0-9a-f]{64})$"
)
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


# ---- the V4 algorithm, from the OSS documentation -----------------------------------------


def _uri_encode(text: str, *, keep_slash: bool) -> str:
    out = []
    for byte in text.encode():
        char = bytes([byte])
        if _UNRESERVED.fullmatch(char) or (keep_slash and char == b"/"):
            out.append(char.decode())
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def canonical_request(
    *,
    method: str,
    bucket: str | None,
    key: str | None,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    additional_headers: Iterable[str] = (),
) -> str:
    """The V4 canonical request.

    ``query`` holds decoded (name, value) pairs; ``headers`` any case. Signed headers are every
    ``x-oss-*`` header, ``content-type``, ``content-md5`` and the additional ones named.
    """
    uri = "/" + (f"{bucket}/" if bucket else "") + (key or "")
    encoded = sorted(
        (_uri_encode(k, keep_slash=False), _uri_encode(v, keep_slash=False)) for k, v in query
    )
    canonical_query = "&".join(f"{k}={v}" if v else k for k, v in encoded)
    additional = sorted({h.lower() for h in additional_headers})
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    signed = sorted(
        (k, v)
        for k, v in lowered.items()
        if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in additional
    )
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in signed)
    payload = lowered.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join(
        [
            method.upper(),
            _uri_encode(uri, keep_slash=True),
            canonical_query,
            canonical_headers,
            ";".join(additional),
            payload,
        ]
    )


def v4_signature(
    *,
    secret: str,
    region: str,
    product: str,
    timestamp: str,
    canonical: str,
) -> str:
    """Hex HMAC-SHA256 signature of ``canonical`` for the date in ``timestamp`` (YYYYMMDDTHHMMSSZ)."""
    day = timestamp[:8]
    scope = f"{day}/{region}/{product}/aliyun_v4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = hmac.new(f"aliyun_v4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# ---- state ---------------------------------------------------------------------------------


@dataclass
class StoredObject:
    """One object as stored."""

    data: bytes
    last_modified: float
    etag: str
    content_type: str = "application/octet-stream"


@dataclass
class _Bucket:
    name: str
    versioning: str | None = None  # None (never enabled), "Enabled" or "Suspended"
    objects: dict[str, StoredObject] = field(default_factory=dict)


@dataclass
class _Fault:
    kind: str  # "status" | "drop" | "slow" | "hold"
    method: str | None  # only requests with this HTTP method, or any
    status: int = 503
    seconds: float = 0.0
    arrived: threading.Event | None = None
    release: threading.Event | None = None
    path_contains: str = ""  # only requests whose path holds this (URL-encoded) text


@dataclass
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False  # the work is done, but the connection closes before any answer


class OssError(Exception):
    """An OSS error answer (status, Code, Message, extra XML fields)."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class OssFake(LoopbackServer):
    """Context manager serving an in-memory OSS on 127.0.0.1.

    Args:
        region: the region the endpoint belongs to; signatures must be scoped to it.
        clock: epoch seconds for objects' Last-Modified (default ``time.time``); the signing
            time is checked against the real clock, since the SDK signs with it.
    """

    def __init__(self, *, region: str = "cn-hangzhou", clock: Callable[[], float] | None = None):
        super().__init__(bind=True)
        self.region = region
        self.clock = clock or time.time
        self._keys: dict[str, tuple[str, str | None]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []  # (operation, bucket, key or query)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def url(self) -> str:
        return self.root_url

    # ---- set-up and inspection --------------------------------------------------------------

    def add_key(
        self, access_key_id: str, secret: str, *, security_token: str | None = None
    ) -> None:
        """Accept this AccessKey (with this STS token, if given)."""
        with self._lock:
            self._keys[access_key_id] = (secret, security_token)

    def remove_key(self, access_key_id: str) -> None:
        """Stop accepting an AccessKey (an expired STS key pair)."""
        with self._lock:
            self._keys.pop(access_key_id, None)

    def add_bucket(self, name: str, *, versioning: str | None = None) -> None:
        """Create a bucket; ``versioning`` "Enabled" or "Suspended" as GetBucketVersioning says."""
        with self._lock:
            self._buckets[name] = _Bucket(name, versioning)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """The object keys under ``prefix``, sorted."""
        with self._lock:
            return sorted(k for k in self._buckets[bucket].objects if k.startswith(prefix))

    def get(self, bucket: str, key: str) -> bytes | None:
        """An object's bytes, or None."""
        with self._lock:
            found = self._buckets[bucket].objects.get(key)
            return None if found is None else found.data

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write an object directly (to set up damaged or aged state)."""
        with self._lock:
            self._store(self._buckets[bucket], key, data, "application/octet-stream")

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object directly (as a lifecycle rule would)."""
        with self._lock:
            self._buckets[bucket].objects.pop(key, None)

    def operations(self) -> list[str]:
        """The operation names served so far, in order."""
        with self._lock:
            return [op for op, _, _ in self.calls]

    # ---- faults -----------------------------------------------------------------------------

    def fail_next(self, status: int = 503, times: int = 1, *, method: str | None = None) -> None:
        """Answer the next ``times`` (matching) requests with a 5xx XML error, doing nothing."""
        with self._lock:
            self._faults.extend(_Fault("status", method, status=status) for _ in range(times))

    def drop_next_response(
        self, times: int = 1, *, method: str | None = "PUT", path_contains: str = ""
    ) -> None:
        """Do the next ``times`` matching requests, then close the connection without answering."""
        with self._lock:
            self._faults.extend(
                _Fault("drop", method, path_contains=path_contains) for _ in range(times)
            )

    def slow_next(self, seconds: float, times: int = 1, *, method: str | None = None) -> None:
        """Wait ``seconds`` before handling the next ``times`` matching requests."""
        with self._lock:
            self._faults.extend(_Fault("slow", method, seconds=seconds) for _ in range(times))

    def hold_next(
        self, *, method: str | None = "PUT", path_contains: str = ""
    ) -> tuple[threading.Event, threading.Event]:
        """Hold the next matching request until released: (arrived, release) events.

        Lets a test run other requests while one is in flight, without sleeping.
        """
        arrived, release = threading.Event(), threading.Event()
        with self._lock:
            self._faults.append(
                _Fault(
                    "hold", method, arrived=arrived, release=release, path_contains=path_contains
                )
            )
        return arrived, release

    def clear_faults(self) -> None:
        """Forget every fault not yet met."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, raw_path: str) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.method in (None, method) and fault.path_contains in raw_path:
                    return self._faults.pop(i)
        return None

    # ---- serving ----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> _Answer:
        """Decide the answer to one request."""
        request_id = uuid.uuid4().hex[:24].upper()
        fault = self._take_fault(method, raw_path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "hold" and fault.arrived and fault.release:
            fault.arrived.set()
            fault.release.wait(60.0)  # only so a broken test cannot hang the server
            fault = None
        try:
            if fault is not None and fault.kind == "status":
                raise OssError(
                    fault.status, "InternalError", "Please contact the server administrator."
                )
            bucket_name, key, query = _parse_target(raw_path, headers.get("Host", ""))
            self._authenticate(method, bucket_name, key, query, headers)
            answer = self._dispatch(method, bucket_name, key, dict(query), headers, body)
        except OssError as err:
            answer = _error_answer(err, request_id, headers.get("Host", ""), method)
        answer.headers.setdefault("x-oss-request-id", request_id)
        answer.headers.setdefault("Date", formatdate(usegmt=True))
        answer.headers.setdefault("Server", "AliyunOSS")
        if fault is not None and fault.kind == "drop":
            answer.drop = True
        return answer

    def _authenticate(
        self,
        method: str,
        bucket: str | None,
        key: str | None,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        authorization = lowered.get("authorization", "")
        match = _CREDENTIAL.match(authorization)
        if match is None:
            raise OssError(403, "AccessDenied", "Authorization header is invalid.")
        access_key_id = match["ak"]
        with self._lock:
            known = self._keys.get(access_key_id)
        if known is None:
            raise OssError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                OSSAccessKeyId=access_key_id,
            )
        secret, token = known
        if token is not None and lowered.get("x-oss-security-token") != token:
            raise OssError(
                403, "InvalidSecurityToken", "The security token you provided is invalid."
            )
        timestamp = lowered.get("x-oss-date", "")
        try:
            signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise OssError(403, "AccessDenied", "x-oss-date is missing or malformed.") from None
        if abs(signed_at.timestamp() - time.time()) > MAX_SKEW_SECONDS:
            raise OssError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        if (
            match["date"] != timestamp[:8]
            or match["region"] != self.region
            or match["product"] != "oss"
        ):
            raise OssError(403, "SignatureDoesNotMatch", "Invalid signing scope in the credential.")
        additional = [h for h in (match["additional"] or "").split(";") if h]
        canonical = canonical_request(
            method=method,
            bucket=bucket,
            key=key,
            query=query,
            headers=headers,
            additional_headers=additional,
        )
        expected = v4_signature(
            secret=secret,
            region=self.region,
            product="oss",
            timestamp=timestamp,
            canonical=canonical,
        )
        if not hmac.compare_digest(expected, match["signature"]):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                OSSAccessKeyId=access_key_id,
                SignatureProvided=match["signature"],
                CanonicalRequest=canonical,
                EC="0002-00000040",
            )

    def _bucket(self, name: str | None) -> _Bucket:
        found = self._buckets.get(name or "")
        if found is None:
            raise OssError(
                404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=name or ""
            )
        return found

    def _dispatch(  # noqa: PLR0917 - the parts of one HTTP request
        self,
        method: str,
        bucket_name: str | None,
        key: str | None,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Answer:
        with self._lock:
            bucket = self._bucket(bucket_name)
            if key is None:
                if method == "GET" and "versioning" in query:
                    self.calls.append(("GetBucketVersioning", bucket.name, ""))
                    return self._versioning(bucket)
                if method == "GET" and query.get("list-type") == "2":
                    self.calls.append(("ListObjectsV2", bucket.name, query.get("prefix", "")))
                    return self._list(bucket, query)
                raise OssError(
                    400, "NotImplemented", "This bucket operation is not served by the fake."
                )
            if method == "PUT":
                self.calls.append(("PutObject", bucket.name, key))
                return self._put(bucket, key, headers, body)
            if method in ("GET", "HEAD"):
                self.calls.append(
                    ("GetObject" if method == "GET" else "HeadObject", bucket.name, key)
                )
                found = bucket.objects.get(key)
                if found is None:
                    raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key)
                return _Answer(
                    200,
                    {
                        "Content-Type": found.content_type,
                        "ETag": found.etag,
                        "Last-Modified": formatdate(found.last_modified, usegmt=True),
                        "x-oss-hash-crc64ecma": str(_crc64(found.data)),
                        "x-oss-object-type": "Normal",
                    },
                    found.data,
                )
            if method == "DELETE":
                self.calls.append(("DeleteObject", bucket.name, key))
                bucket.objects.pop(key, None)
                return _Answer(204)
        raise OssError(
            405, "MethodNotAllowed", "The specified method is not allowed against this resource."
        )

    def _put(self, bucket: _Bucket, key: str, headers: Mapping[str, str], body: bytes) -> _Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        forbid = lowered.get("x-oss-forbid-overwrite", "false").lower()
        if forbid not in ("true", "false"):
            raise OssError(400, "InvalidArgument", "x-oss-forbid-overwrite must be true or false.")
        md5 = lowered.get("content-md5")
        if md5 and base64.b64encode(hashlib.md5(body).digest()).decode() != md5:
            raise OssError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        # On a bucket whose versioning is (or was) enabled, OSS ignores forbid-overwrite.
        if forbid == "true" and bucket.versioning is None and key in bucket.objects:
            raise OssError(
                409,
                "FileAlreadyExists",
                "The object you specified already exists and can not be overwritten.",
                EC="0026-00000201",
            )
        stored = self._store(
            bucket, key, body, lowered.get("content-type", "application/octet-stream")
        )
        return _Answer(200, {"ETag": stored.etag, "x-oss-hash-crc64ecma": str(_crc64(body))})

    def _store(self, bucket: _Bucket, key: str, data: bytes, content_type: str) -> StoredObject:
        stored = StoredObject(
            data=data,
            last_modified=self.clock(),
            etag=f'"{hashlib.md5(data).hexdigest().upper()}"',
            content_type=content_type,
        )
        bucket.objects[key] = stored
        return stored

    def _versioning(self, bucket: _Bucket) -> _Answer:
        status = f"<Status>{bucket.versioning}</Status>" if bucket.versioning else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<VersioningConfiguration>{status}</VersioningConfiguration>"
        )
        return _Answer(200, {"Content-Type": "application/xml"}, body.encode())

    def _list(self, bucket: _Bucket, query: dict[str, str]) -> _Answer:
        prefix = query.get("prefix", "")
        try:
            max_keys = int(query.get("max-keys", "100"))
        except ValueError:
            raise OssError(400, "InvalidArgument", "max-keys is not a number.") from None
        if not 1 <= max_keys <= 1000:
            raise OssError(400, "InvalidArgument", "max-keys must be between 1 and 1000.")
        after = query.get("start-after", "")
        token = query.get("continuation-token")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise OssError(
                    400, "InvalidArgument", "The continuation token is not valid."
                ) from None
        names = sorted(k for k in bucket.objects if k.startswith(prefix) and k > after)
        page, more = names[:max_keys], len(names) > max_keys
        url = query.get("encoding-type") == "url"

        def enc(text: str) -> str:
            return escape(_uri_encode(text, keep_slash=True) if url else text)

        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>',
            f"<Name>{escape(bucket.name)}</Name><Prefix>{enc(prefix)}</Prefix>",
            f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if more else 'false'}</IsTruncated>",
            f"<KeyCount>{len(page)}</KeyCount>",
        ]
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if more:
            next_token = base64.urlsafe_b64encode(page[-1].encode()).decode()
            parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
        for name in page:
            obj = bucket.objects[name]
            modified = datetime.fromtimestamp(obj.last_modified, tz=timezone.utc)
            parts.append(
                f"<Contents><Key>{enc(name)}</Key>"
                f"<LastModified>{modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
                f"<ETag>{escape(obj.etag)}</ETag><Type>Normal</Type><Size>{len(obj.data)}</Size>"
                "<StorageClass>Standard</StorageClass></Contents>"
            )
        parts.append("</ListBucketResult>")
        return _Answer(200, {"Content-Type": "application/xml"}, "".join(parts).encode())


def _parse_target(raw_path: str, host: str) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """(bucket, key, decoded query pairs) from a path-style or virtual-host request."""
    path, _, raw_query = raw_path.partition("?")
    query = []
    for pair in raw_query.split("&") if raw_query else []:
        name, _, value = pair.partition("=")
        query.append((unquote(name), unquote(value)))
    hostname = host.split(":", maxsplit=1)[0]
    if hostname and not re.fullmatch(r"[\d.]+|localhost", hostname) and "." in hostname:
        bucket: str | None = hostname.split(".")[0]  # virtual-host style: bucket.endpoint
        rest = path[1:]
    else:
        bucket, _, rest = path[1:].partition("/")
        bucket = bucket or None
    key = unquote(rest) if rest else None
    return bucket, key, query


def _error_answer(err: OssError, request_id: str, host: str, method: str) -> _Answer:
    fields = {"Code": err.code, "Message": err.message, "RequestId": request_id, "HostId": host}
    fields.update(err.extra)
    fields.setdefault("EC", "0000-00000000")
    xml = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{xml}</Error>'.encode()
    headers = {"Content-Type": "application/xml", "x-oss-ec": fields["EC"]}
    if method == "HEAD":
        # HEAD answers carry no body: OSS puts the error document in x-oss-err instead.
        headers["x-oss-err"] = base64.b64encode(body).decode()
        return _Answer(err.status, headers)
    return _Answer(err.status, headers, body)


def _handler_for(fake: OssFake) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the SDK's connection pool is exercised
        server_version = "AliyunOSS"
        sys_version = ""
        wbufsize = 64 * 1024  # flushed after each request by the server

        def _serve(self) -> None:
            body = self._read_body()
            headers = dict(self.headers.items())
            answer = fake.handle(self.command, self.path, headers, body)
            if answer.drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if self.command == "HEAD":
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_PUT = do_HEAD = do_DELETE = _serve

    return Handler
