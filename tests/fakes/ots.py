"""A loopback fake of the Table Store (OTS) data API, driven through the official SDK.

It speaks the real wire protocol: ``POST /<ApiName>`` with a protobuf body (decoded with the
SDK's own generated ``table_store_pb2`` / ``table_store_filter_pb2`` modules, schema only),
rows in the PlainBuffer encoding (read by a small reader here, written with the SDK's
``PlainBufferBuilder``), ``x-ots-*`` headers signed with HMAC-SHA1 (``x-ots-signature``),
and answers signed back in ``Authorization: OTS id:signature`` as the SDK checks them.

What it enforces like the service:

- authentication: unknown instance or AccessKey id, MD5 mismatch, clock skew, a wrong
  signature (wrong secret) or STS token → HTTP 403 ``OTSAuthFailed`` in the real error
  shape (a protobuf ``Error``), unsigned;
- tables: CreateTable / DescribeTable, ``OTSObjectNotExist`` / ``OTSObjectAlreadyExist``,
  the primary key schema, TTL (each cell expires by its own write time, on an injectable
  clock) and max_versions = 1;
- rows: PutRow, GetRow, UpdateRow (put, delete, delete_all), DeleteRow, GetRange (paged),
  row existence expectations and column conditions (single and composite, pass_if_missing)
  → HTTP 403 ``OTSConditionCheckFail`` "Condition check failed.";
- faults: the next N requests answered 5xx (``OTSServerBusy`` 503 by default), a response
  dropped after the write committed, slowness, or a request that arrives late: applied only
  after the client gave up on it and sent its next request of that API (never answered).

Thread-safe: one lock around every operation; the HTTP server is threaded, so spawned
processes can race through it over loopback.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import tablestore.protobuf.table_store_filter_pb2 as filter_pb2
import tablestore.protobuf.table_store_pb2 as pb2
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder

from tests.fakes.server import LoopbackServer, QuietHandler

__all__ = [
    "CONDITION_FAILED",
    "INF_MAX",
    "INF_MIN",
    "FakeTableStore",
    "request_signature",
    "response_signature",
]

CONDITION_FAILED = "OTSConditionCheckFail"
HEADER = 0x75
TAG_ROW_PK, TAG_ROW_DATA, TAG_CELL, TAG_CELL_NAME, TAG_CELL_VALUE = 1, 2, 3, 4, 5
TAG_CELL_TYPE, TAG_CELL_TIMESTAMP, TAG_DELETE_ROW_MARKER, TAG_ROW_CHECKSUM = 6, 7, 8, 9
TAG_CELL_CHECKSUM = 10
VT_INTEGER, VT_DOUBLE, VT_BOOLEAN, VT_STRING, VT_BLOB = 0, 1, 2, 3, 7
VT_INF_MIN, VT_INF_MAX, VT_AUTO_INCREMENT = 9, 10, 11
DELETE_ALL_VERSION, DELETE_ONE_VERSION, INCREMENT = 1, 3, 4
MAX_CLOCK_SKEW = 15 * 60


class _Bound:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


INF_MIN = _Bound("INF_MIN")
INF_MAX = _Bound("INF_MAX")


class OtsFault(Exception):
    """An error answer: HTTP status, OTS error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


# ---- signatures ----------------------------------------------------------------------------


def _canonical_headers(headers: dict[str, str], *, skip: Iterable[str] = ()) -> str:
    skipped = set(skip)
    items = sorted(
        f"{k.lower()}:{v.strip()}"
        for k, v in headers.items()
        if k.lower().startswith("x-ots-") and k.lower() not in skipped
    )
    return "\n".join(items)


def request_signature(secret: str, uri: str, headers: dict[str, str]) -> str:
    """``x-ots-signature``: base64 HMAC-SHA1 over uri, POST, the query and the x-ots headers."""
    text = f"{uri}\nPOST\n\n{_canonical_headers(headers, skip=('x-ots-signature',))}\n"
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def response_signature(secret: str, uri: str, headers: dict[str, str]) -> str:
    """The answer's signature the SDK checks: HMAC-SHA1 over the x-ots headers and the uri."""
    text = f"{_canonical_headers(headers)}\n{uri}"
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# ---- PlainBuffer ---------------------------------------------------------------------------


@dataclass
class _Cell:
    name: str
    value: Any = None
    op: int | None = None  # None = put
    timestamp: int | None = None


@dataclass
class _DecodedRow:
    primary_key: list[tuple[str, Any]]
    cells: list[_Cell] = field(default_factory=list)
    delete_marker: bool = False


class _Reader:
    """A PlainBuffer reader covering what the SDK writes (cell types and timestamps too)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def int32(self) -> int:
        (value,) = struct.unpack_from("<i", self.data, self.pos)
        self.pos += 4
        return int(value)

    def int64(self) -> int:
        (value,) = struct.unpack_from("<q", self.data, self.pos)
        self.pos += 8
        return int(value)

    def raw(self, size: int) -> bytes:
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def variant(self) -> Any:  # noqa: PLR0911 - one return per value type
        kind = self.byte()
        if kind == VT_INTEGER:
            return self.int64()
        if kind == VT_DOUBLE:
            (value,) = struct.unpack_from("<d", self.data, self.pos)
            self.pos += 8
            return float(value)
        if kind == VT_BOOLEAN:
            return bool(self.byte())
        if kind == VT_STRING:
            return self.raw(self.int32()).decode("utf-8")
        if kind == VT_BLOB:
            return bytearray(self.raw(self.int32()))
        if kind == VT_INF_MIN:
            return INF_MIN
        if kind == VT_INF_MAX:
            return INF_MAX
        raise OtsFault(400, "OTSParameterInvalid", f"Unsupported value type {kind}.")

    def cell(self) -> _Cell:
        if self.byte() != TAG_CELL or self.byte() != TAG_CELL_NAME:
            raise OtsFault(400, "OTSParameterInvalid", "Invalid PlainBuffer cell.")
        cell = _Cell(self.raw(self.int32()).decode("utf-8"))
        while (tag := self.byte()) != TAG_CELL_CHECKSUM:
            if tag == TAG_CELL_VALUE:
                self.int32()  # length of type + value
                cell.value = self.variant()
            elif tag == TAG_CELL_TYPE:
                cell.op = self.byte()
            elif tag == TAG_CELL_TIMESTAMP:
                cell.timestamp = self.int64()
            else:
                raise OtsFault(400, "OTSParameterInvalid", f"Unexpected PlainBuffer tag {tag}.")
        self.byte()  # cell checksum
        return cell

    def row(self) -> _DecodedRow:
        if self.int32() != HEADER:
            raise OtsFault(400, "OTSParameterInvalid", "Invalid PlainBuffer header.")
        if self.byte() != TAG_ROW_PK:
            raise OtsFault(400, "OTSParameterInvalid", "Primary key is missing.")
        row = _DecodedRow([])
        while self.peek() == TAG_CELL:
            cell = self.cell()
            row.primary_key.append((cell.name, cell.value))
        if self.peek() == TAG_ROW_DATA:
            self.byte()
            while self.peek() == TAG_CELL:
                row.cells.append(self.cell())
        if self.peek() == TAG_DELETE_ROW_MARKER:
            self.byte()
            row.delete_marker = True
        if self.peek() == TAG_ROW_CHECKSUM:
            self.pos += 2
        return row


def _decode_row(data: bytes) -> _DecodedRow:
    try:
        return _Reader(data).row()
    except (IndexError, struct.error, UnicodeDecodeError):
        raise OtsFault(400, "OTSParameterInvalid", "Invalid PlainBuffer row.") from None


def _decode_value(data: bytes) -> Any:
    try:
        return _Reader(data).variant()
    except (IndexError, struct.error, UnicodeDecodeError):
        raise OtsFault(400, "OTSParameterInvalid", "Invalid column value.") from None


# ---- tables --------------------------------------------------------------------------------

_PK_TYPES = {pb2.INTEGER: int, pb2.STRING: str, pb2.BINARY: bytearray}


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is INF_MIN:
        return (0, b"")
    if value is INF_MAX:
        return (2, b"")
    if isinstance(value, str):
        return (1, value.encode())  # the service orders strings by their UTF-8 bytes
    if isinstance(value, bytearray):
        return (1, bytes(value))
    return (1, value)


@dataclass
class _Table:
    meta: Any  # pb2.TableMeta
    options: Any  # pb2.TableOptions
    created: float
    rows: dict[tuple[Any, ...], dict[str, tuple[Any, int]]] = field(default_factory=dict)

    @property
    def ttl(self) -> int:
        return int(self.options.time_to_live) if self.options.HasField("time_to_live") else -1

    def pk_tuple(
        self, primary_key: list[tuple[str, Any]], *, bounds: bool = False
    ) -> tuple[Any, ...]:
        schema = list(self.meta.primary_key)
        if [name for name, _ in primary_key] != [s.name for s in schema]:
            raise OtsFault(
                400,
                "OTSParameterInvalid",
                f"Validate PK name fail. Input: {','.join(n for n, _ in primary_key)}, "
                f"Meta: {','.join(s.name for s in schema)}.",
            )
        for (name, value), column in zip(primary_key, schema, strict=True):
            if bounds and value in (INF_MIN, INF_MAX):
                continue
            if not isinstance(value, _PK_TYPES.get(column.type, object)):
                raise OtsFault(400, "OTSParameterInvalid", f"Validate PK type fail: {name}.")
        return tuple(value for _, value in primary_key)

    def visible(self, pk: tuple[Any, ...], now_ms: int) -> dict[str, tuple[Any, int]] | None:
        cells = self.rows.get(pk)
        if cells is None:
            return None
        if self.ttl > 0:
            cutoff = now_ms - self.ttl * 1000
            cells = {name: cell for name, cell in cells.items() if cell[1] >= cutoff}
        return cells or None


def _compare(stored: Any, comparator: int, wanted: Any) -> bool:
    if type(stored) is not type(wanted):
        # Values of different types are never equal, and have no order.
        return bool(comparator == filter_pb2.CT_NOT_EQUAL)
    checks: dict[int, Callable[[Any, Any], bool]] = {
        filter_pb2.CT_EQUAL: lambda a, b: a == b,
        filter_pb2.CT_NOT_EQUAL: lambda a, b: a != b,
        filter_pb2.CT_GREATER_THAN: lambda a, b: a > b,
        filter_pb2.CT_GREATER_EQUAL: lambda a, b: a >= b,
        filter_pb2.CT_LESS_THAN: lambda a, b: a < b,
        filter_pb2.CT_LESS_EQUAL: lambda a, b: a <= b,
    }
    if comparator not in checks:
        raise OtsFault(400, "OTSParameterInvalid", f"Unsupported comparator {comparator}.")
    return bool(checks[comparator](stored, wanted))


def _column_condition_holds(raw: bytes, cells: dict[str, tuple[Any, int]] | None) -> bool:
    condition = filter_pb2.Filter()
    condition.ParseFromString(raw)
    if condition.type == filter_pb2.FT_SINGLE_COLUMN_VALUE:
        single = filter_pb2.SingleColumnValueFilter()
        single.ParseFromString(condition.filter)
        cell = (cells or {}).get(single.column_name)
        if cell is None:
            return not single.filter_if_missing
        return _compare(cell[0], single.comparator, _decode_value(single.column_value))
    if condition.type == filter_pb2.FT_COMPOSITE_COLUMN_VALUE:
        composite = filter_pb2.CompositeColumnValueFilter()
        composite.ParseFromString(condition.filter)
        results = [
            _column_condition_holds(sub.SerializeToString(), cells) for sub in composite.sub_filters
        ]
        if composite.combinator == filter_pb2.LO_NOT:
            if len(results) != 1:
                raise OtsFault(400, "OTSParameterInvalid", "NOT takes exactly one condition.")
            return not results[0]
        if composite.combinator == filter_pb2.LO_AND:
            return all(results)
        return any(results)
    raise OtsFault(400, "OTSParameterInvalid", "Unsupported column condition.")


def _check_condition(condition: Any, cells: dict[str, tuple[Any, int]] | None) -> None:
    exists = cells is not None
    expectation = condition.row_existence
    if (expectation == pb2.EXPECT_EXIST and not exists) or (
        expectation == pb2.EXPECT_NOT_EXIST and exists
    ):
        raise OtsFault(403, CONDITION_FAILED, "Condition check failed.")
    raw = condition.column_condition if condition.HasField("column_condition") else b""
    if raw and not _column_condition_holds(raw, cells):
        raise OtsFault(403, CONDITION_FAILED, "Condition check failed.")


def _encode_row(pk: list[tuple[str, Any]], cells: dict[str, tuple[Any, int]], wanted: Any) -> bytes:
    names = set(wanted) if wanted else None
    columns = [
        (name, value, ts)
        for name, (value, ts) in sorted(cells.items())
        if names is None or name in names
    ]
    return bytes(PlainBufferBuilder.serialize_for_put_row(pk, columns))


def _consumed(read: int = 0, write: int = 0) -> Any:
    consumed = pb2.ConsumedCapacity()
    consumed.capacity_unit.read = read
    consumed.capacity_unit.write = write
    return consumed


# ---- faults --------------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str  # "error" | "drop" | "slow" | "late"
    remaining: int
    apis: frozenset[str] | None
    status: int = 503
    code: str = "OTSServerBusy"
    message: str = "Server is busy."
    seconds: float = 0.0
    skip: int = 0  # matching requests let through before this fault applies

    def matches(self, api: str) -> bool:
        return self.remaining > 0 and (self.apis is None or api in self.apis)


@dataclass
class _Parked:
    """A late request: applied when the next request of its API arrives, before that one."""

    go: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


LATE_LIMIT = 60.0  # only so a broken test cannot hang the server; never reached when it works


# ---- the service ---------------------------------------------------------------------------


class FakeTableStore(LoopbackServer):
    """One Table Store instance on a loopback port.

    Args:
        instance: the instance name requests must carry.
        access_key_id, access_key_secret, security_token: the first known key (more with
            :meth:`add_key`); with a token, requests must carry it (STS).
        clock: the service's time (epoch seconds) for cell versions and TTL.
        page_size: the most rows one GetRange answers (the service caps by size; small
            pages exercise the client's paging).
    """

    def __init__(
        self,
        *,
        instance: str = "assistwatch",
        access_key_id: str = "LTAIfakeOts01",
        access_key_secret: str = "fake-ots-secret-d0n7-l0g-m3",
        security_token: str | None = None,
        clock: Callable[[], float] | None = None,
        page_size: int = 100,
    ) -> None:
        super().__init__()
        self.instance = instance
        self.clock = clock or time.time
        self.page_size = page_size
        self._keys: dict[str, tuple[str, str | None]] = {}
        self.add_key(access_key_id, access_key_secret, security_token)
        self.tables: dict[str, _Table] = {}
        self.calls: list[tuple[str, str]] = []  # (API, AccessKey id) of each authenticated call
        self._faults: list[_Fault] = []
        self._parked: dict[str, list[_Parked]] = {}
        self._lock = threading.Lock()

    # ---- setup ----------------------------------------------------------------------------

    def add_key(self, access_key_id: str, secret: str, security_token: str | None = None) -> None:
        """Accept another AccessKey (e.g. the next STS credentials)."""
        self._keys[access_key_id] = (secret, security_token)

    def create_table(
        self, name: str, *, ttl: int = -1, pk: Iterable[str] = ("namespace", "key")
    ) -> None:
        """Create a table directly (STRING primary key columns)."""
        meta = pb2.TableMeta(table_name=name)
        for column in pk:
            meta.primary_key.add(name=column, type=pb2.STRING)
        options = pb2.TableOptions(time_to_live=ttl, max_versions=1)
        with self._lock:
            self.tables[name] = _Table(meta, options, self.clock())

    def fail(
        self,
        times: int = 1,
        *,
        status: int = 503,
        code: str = "OTSServerBusy",
        message: str = "Server is busy.",
        apis: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with an error, without executing them."""
        self._add(_Fault("error", times, _apis(apis), status=status, code=code, message=message))

    def drop_after_commit(
        self, times: int = 1, *, apis: Iterable[str] | None = ("PutRow",)
    ) -> None:
        """Execute the next matching requests, then close the connection without answering."""
        self._add(_Fault("drop", times, _apis(apis)))

    def slow(self, seconds: float, times: int = 1, *, apis: Iterable[str] | None = None) -> None:
        """Wait ``seconds`` before executing the next matching requests."""
        self._add(_Fault("slow", times, _apis(apis), seconds=seconds))

    def arrive_late(
        self, times: int = 1, *, apis: Iterable[str] | None = ("PutRow",), skip: int = 0
    ) -> None:
        """Hold the next matching requests until the client sends its next one of that API.

        The held request is then applied first and never answered: a write delayed in the
        network or the service past the client's timeout that still lands, after the
        client's read-back and just before its retry. ``skip`` lets that many matching
        requests through first. The client must have a timeout shorter than the test.
        """
        self._add(_Fault("late", times, _apis(apis), skip=skip))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, api: str, kind: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.matches(api):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.remaining -= 1
                    return fault
        return None

    def _arrive_late(self, api: str, body: bytes) -> None:
        parked = _Parked()
        with self._lock:
            self._parked.setdefault(api, []).append(parked)
        parked.go.wait(LATE_LIMIT)
        try:
            self._execute(api, body)
        except OtsFault:
            pass  # refused: nobody is listening any more
        finally:
            parked.done.set()

    def _let_late_ones_land(self, api: str) -> None:
        with self._lock:
            waiting = self._parked.pop(api, [])
        for parked in waiting:
            parked.go.set()
            parked.done.wait(LATE_LIMIT)

    # ---- inspection -----------------------------------------------------------------------

    def rows(self, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The visible rows of a table: primary key tuple → {column: value}."""
        now_ms = int(self.clock() * 1000)
        with self._lock:
            t = self.tables[table]
            found = {}
            for pk in list(t.rows):
                cells = t.visible(pk, now_ms)
                if cells is not None:
                    found[pk] = {name: value for name, (value, _) in cells.items()}
            return found

    def call_count(self, api: str) -> int:
        return sum(1 for name, _ in self.calls if name == api)

    # ---- server ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.root_url

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = fake.handle(self.path, headers, body)
                if answer is None:  # a dropped answer: the write happened, the reply never comes
                    self.close_connection = True
                    return
                status, reply_headers, reply = answer
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    # ---- requests -------------------------------------------------------------------------

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Answer one request: (status, headers, body), or None to drop the connection."""
        api = path.rsplit("/", 1)[-1]
        try:
            key_id, secret = self._authenticate(path, headers, body)
        except OtsFault as fault:
            return self._reply(path, fault.status, _error(fault), None)
        with self._lock:
            self.calls.append((api, key_id))
        if self._take_fault(api, "late") is not None:
            self._arrive_late(api, body)
            return None
        self._let_late_ones_land(api)
        slow = self._take_fault(api, "slow")
        if slow is not None:
            time.sleep(slow.seconds)
        error = self._take_fault(api, "error")
        if error is not None:
            return self._reply(path, error.status, _error(error), (key_id, secret))
        try:
            status, reply = 200, self._execute(api, body)
        except OtsFault as fault:
            status, reply = fault.status, _error(fault)
        if self._take_fault(api, "drop") is not None:
            return None
        return self._reply(path, status, reply, (key_id, secret))

    def _authenticate(self, path: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
        def refuse(message: str) -> OtsFault:
            return OtsFault(403, "OTSAuthFailed", message)

        for name in ("x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-contentmd5"):
            if name not in headers:
                raise OtsFault(400, "OTSParameterInvalid", f"Missing header: {name}.")
        if headers.get("x-ots-instancename") != self.instance:
            raise refuse("The instance is not found.")
        key_id = headers["x-ots-accesskeyid"]
        if key_id not in self._keys:
            raise refuse("The AccessKeyID does not exist.")
        secret, token = self._keys[key_id]
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        if headers["x-ots-contentmd5"] != md5:
            raise refuse(
                "Mismatch between MD5 value of request body and x-ots-contentmd5 in header."
            )
        try:
            sent = dt.datetime.strptime(headers["x-ots-date"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=dt.timezone.utc
            )
        except ValueError:
            raise OtsFault(
                400, "OTSParameterInvalid", f"Invalid date format: {headers['x-ots-date']}."
            ) from None
        if abs(sent.timestamp() - time.time()) > MAX_CLOCK_SKEW:
            raise refuse(f"Mismatch between system time and x-ots-date: {headers['x-ots-date']}.")
        signature = headers.get("x-ots-signature")
        if signature is None:
            raise OtsFault(400, "OTSParameterInvalid", "Missing header: x-ots-signature.")
        if not hmac.compare_digest(signature, request_signature(secret, path, headers)):
            raise refuse("Signature mismatch.")
        if token is not None and not hmac.compare_digest(headers.get("x-ots-ststoken", ""), token):
            raise refuse("The security token you provided is invalid.")
        return key_id, secret

    def _reply(
        self, path: str, status: int, body: bytes, signer: tuple[str, str] | None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "x-ots-contentmd5": base64.b64encode(hashlib.md5(body).digest()).decode(),
            "x-ots-requestid": str(uuid.uuid4()),
            "x-ots-date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "x-ots-contenttype": "protocol buffer",
        }
        if signer is not None:  # auth failures are not signed: the service cannot know the key
            key_id, secret = signer
            headers["authorization"] = f"OTS {key_id}:{response_signature(secret, path, headers)}"
        return status, headers, body

    def _execute(self, api: str, body: bytes) -> bytes:
        handlers: dict[str, Callable[[bytes], bytes]] = {
            "CreateTable": self._create_table,
            "DescribeTable": self._describe_table,
            "PutRow": self._put_row,
            "GetRow": self._get_row,
            "UpdateRow": self._update_row,
            "DeleteRow": self._delete_row,
            "GetRange": self._get_range,
        }
        if api not in handlers:
            raise OtsFault(400, "OTSParameterInvalid", f"Unsupported operation: {api}.")
        with self._lock:
            return handlers[api](body)

    def _table(self, name: str) -> _Table:
        table = self.tables.get(name)
        if table is None:
            raise OtsFault(404, "OTSObjectNotExist", "Requested table does not exist.")
        return table

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _create_table(self, body: bytes) -> bytes:
        request = pb2.CreateTableRequest()
        request.ParseFromString(body)
        name = request.table_meta.table_name
        if name in self.tables:
            raise OtsFault(409, "OTSObjectAlreadyExist", "Requested table already exists.")
        options = pb2.TableOptions()
        options.CopyFrom(request.table_options)
        if options.HasField("time_to_live") and 0 < options.time_to_live < 86400:
            raise OtsFault(
                400, "OTSParameterInvalid", "TimeToLive must be at least 86400 seconds or -1."
            )
        meta = pb2.TableMeta()
        meta.CopyFrom(request.table_meta)
        self.tables[name] = _Table(meta, options, self.clock())
        return bytes(pb2.CreateTableResponse().SerializeToString())

    def _describe_table(self, body: bytes) -> bytes:
        request = pb2.DescribeTableRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        response = pb2.DescribeTableResponse()
        response.table_meta.CopyFrom(table.meta)
        response.table_options.CopyFrom(table.options)
        details = response.reserved_throughput_details
        details.capacity_unit.read = 0
        details.capacity_unit.write = 0
        details.last_increase_time = int(table.created)
        return bytes(response.SerializeToString())

    def _put_row(self, body: bytes) -> bytes:
        request = pb2.PutRowRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        row = _decode_row(request.row)
        pk = table.pk_tuple(row.primary_key)
        now_ms = self._now_ms()
        _check_condition(request.condition, table.visible(pk, now_ms))
        table.rows[pk] = {
            cell.name: (cell.value, cell.timestamp if cell.timestamp is not None else now_ms)
            for cell in row.cells
        }
        return bytes(pb2.PutRowResponse(consumed=_consumed(write=1)).SerializeToString())

    def _update_row(self, body: bytes) -> bytes:
        request = pb2.UpdateRowRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        row = _decode_row(request.row_change)
        pk = table.pk_tuple(row.primary_key)
        now_ms = self._now_ms()
        current = table.visible(pk, now_ms)
        _check_condition(request.condition, current)
        cells = dict(current or {})
        for cell in row.cells:
            if cell.op is None:
                cells[cell.name] = (
                    cell.value,
                    cell.timestamp if cell.timestamp is not None else now_ms,
                )
            elif cell.op == DELETE_ALL_VERSION:
                cells.pop(cell.name, None)
            elif cell.op == DELETE_ONE_VERSION:
                if cell.name in cells and cells[cell.name][1] == cell.timestamp:
                    del cells[cell.name]
            elif cell.op == INCREMENT:
                old = cells.get(cell.name, (0, now_ms))[0]
                if not isinstance(old, int) or not isinstance(cell.value, int):
                    raise OtsFault(400, "OTSParameterInvalid", "Increment needs integers.")
                cells[cell.name] = (old + cell.value, now_ms)
        if cells:
            table.rows[pk] = cells
        else:
            table.rows.pop(pk, None)  # a row without attribute columns is gone
        return bytes(pb2.UpdateRowResponse(consumed=_consumed(write=1)).SerializeToString())

    def _delete_row(self, body: bytes) -> bytes:
        request = pb2.DeleteRowRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        pk = table.pk_tuple(_decode_row(request.primary_key).primary_key)
        _check_condition(request.condition, table.visible(pk, self._now_ms()))
        table.rows.pop(pk, None)
        return bytes(pb2.DeleteRowResponse(consumed=_consumed(write=1)).SerializeToString())

    def _get_row(self, body: bytes) -> bytes:
        request = pb2.GetRowRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        primary_key = _decode_row(request.primary_key).primary_key
        cells = table.visible(table.pk_tuple(primary_key), self._now_ms())
        encoded = b"" if cells is None else _encode_row(primary_key, cells, request.columns_to_get)
        return bytes(
            pb2.GetRowResponse(consumed=_consumed(read=1), row=encoded).SerializeToString()
        )

    def _get_range(self, body: bytes) -> bytes:
        request = pb2.GetRangeRequest()
        request.ParseFromString(body)
        table = self._table(request.table_name)
        start_pk = _decode_row(request.inclusive_start_primary_key).primary_key
        end_pk = _decode_row(request.exclusive_end_primary_key).primary_key
        start = tuple(_sort_key(v) for v in table.pk_tuple(start_pk, bounds=True))
        end = tuple(_sort_key(v) for v in table.pk_tuple(end_pk, bounds=True))
        forward = request.direction == pb2.FORWARD
        now_ms = self._now_ms()
        keys = sorted(
            table.rows, key=lambda pk: tuple(_sort_key(v) for v in pk), reverse=not forward
        )
        if forward:
            chosen = [pk for pk in keys if start <= tuple(_sort_key(v) for v in pk) < end]
        else:
            chosen = [pk for pk in keys if end < tuple(_sort_key(v) for v in pk) <= start]
        limit = min(request.limit, self.page_size) if request.HasField("limit") else self.page_size
        names = [s.name for s in table.meta.primary_key]
        rows: list[bytes] = []
        next_start = b""
        for pk in chosen:
            cells = table.visible(pk, now_ms)
            if cells is None:
                continue
            if len(rows) == limit:
                next_start = bytes(
                    PlainBufferBuilder.serialize_primary_key(list(zip(names, pk, strict=True)))
                )
                break
            rows.append(
                _encode_row(list(zip(names, pk, strict=True)), cells, request.columns_to_get)
            )
        # One PlainBuffer header, then the rows one after another.
        encoded = rows[0] + b"".join(r[4:] for r in rows[1:]) if rows else b""
        response = pb2.GetRangeResponse(consumed=_consumed(read=max(1, len(rows))), rows=encoded)
        if next_start:
            response.next_start_primary_key = next_start
        return bytes(response.SerializeToString())


def _apis(apis: Iterable[str] | None) -> frozenset[str] | None:
    return None if apis is None else frozenset(apis)


def _error(fault: OtsFault | _Fault) -> bytes:
    return bytes(pb2.Error(code=fault.code, message=fault.message).SerializeToString())
