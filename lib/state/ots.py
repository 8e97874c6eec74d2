"""The ``ots://INSTANCE/TABLE`` state backend: claims, the outbox and records in Table Store.

Built on the official ``tablestore`` SDK (``pip install 'assistwatch[ots]'``), versions
``>=5.4.1,<7``: FC's python3.10 runtime ships 5.4.1, so only calls that exist there are used
(``OTSClient(endpoint, key_id, secret, instance, sts_token=…)``, ``get_row``, ``put_row``,
``update_row``, ``delete_row``, ``get_range``, ``describe_table``, ``create_table``) and requests
are signed the way both sign them (``x-ots-signature``, HMAC-SHA1).

The table (the ROS template creates the same one; :meth:`OtsStore.create_table_if_missing`
creates it for the CLI and the tests)::

    primary key   namespace STRING, key STRING   (exactly these two, in this order)
    options       time_to_live = 3,715,200 s (43 days = 6 weeks + 1 day), max_versions = 1

One row per claim, per outbox marker and per record, all under the deployment's
``namespace``, so deployments sharing a table never see each other's rows:

    key = "claim/<ClaimKey.id>"    fingerprint, firing, receiver, status, owner, lease_until,
                                   payload (JSON), created_at, written_at, attempts,
                                   last_error (absent when none), confirmed (0/1)
    key = "outbox/<ClaimKey.id>"   owner, written_at: one marker per claim not yet
                                   confirmed; pending() reads only this key range
                                   (GetRange), never the whole history
    key = "record/<name>"          value (JSON), version, written_at ("record#<sha256>"
                                   for names too long for a primary key column)

How each operation stays atomic:

- ``claim`` writes the outbox marker first (a crash after the claim must leave it pending),
  then PutRow with ``EXPECT_NOT_EXIST``: exactly one creator wins; ``OTSConditionCheckFail``
  means another run has it. A write whose answer is lost (network, 5xx) may have committed:
  the row is read back and the owner token decides. It may also land *later* (delayed past
  the client's timeout, after the read-back found nothing): so a retry refused with
  ``OTSConditionCheckFail`` after a lost answer reads the row again, and a row holding this
  call's own write (owner and created_at; a record's fresh version; a take-over's owner,
  lease and attempts) is a win, not a conflict.
- ``confirm``, ``release``, ``take_over`` and the record ``write`` are compare-and-swaps:
  UpdateRow/PutRow with ``EXPECT_EXIST`` plus column conditions (owner, lease_until,
  attempts, confirmed; a record's version) combined in a ``CompositeColumnCondition``.

Expiry is the table's TTL, so :meth:`OtsStore.prune` deletes nothing. Table Store expires
each *cell* by its own write time, not the row: a write that put only some columns would
leave the others to expire on the old schedule. So every write here rewrites *every*
column of its row (PutRow, or UpdateRow putting all columns), and a rewrite restarts the
whole row's 43 days. The app rewrites open alerts and watches before half that; unconfirmed
claims are rewritten by every take-over and, if nothing touched them for half the TTL, by
``prune`` (it reads only the outbox range), so the outbox never expires.

Credentials are read for every call (FC hands new STS credentials with each invocation);
the SDK client is rebuilt only when they change. Every SDK or network failure becomes a
:class:`~lib.support.errors.StateError` naming the instance and table, never the key or token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lib.core.claims import ClaimKey
from lib.state.base import Claim, ClaimOutcome, Record
from lib.state.tidy import tidy
from lib.support.credentials import Credentials
from lib.support.errors import ConfigError, StateError
from lib.support.urls import require_secure_url

__all__ = [
    "DAY",
    "TTL_SECONDS",
    "OtsStore",
    "default_endpoint",
    "open_ots_store",
]

DAY = 86_400.0
TTL_SECONDS = int((6 * 7 + 1) * DAY)  # DESIGN: state expires 6 weeks + 1 day after its last write
REFRESH_AFTER = TTL_SECONDS / 2  # prune rewrites an untouched outbox claim after this long
PRIMARY_KEY = (("namespace", "STRING"), ("key", "STRING"))
CAS_TRIES = 5  # re-read-and-retry rounds before a compare-and-swap gives up
READ_TRIES = 3  # a read whose answer was lost is asked again this often
_STRAY_MARKER_AGE = DAY  # a marker with no claim this old was left by a claimer that died
_MAX_PK_BYTES = 900  # a primary key column holds at most 1 KB
_SDK_LOGGER = "assistwatch.tablestore-sdk"
_SETTING = "ASSISTWATCH_STATE_URL"
_INSTANCE = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,31}")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_CONDITION_FAILED = "OTSConditionCheckFail"
_MISSING_TABLE = "OTSObjectNotExist"
_AUTH_CODES = ("OTSAuthFailed", "OTSNoPermissionAccess")
_RAM_ACTIONS = "ots:GetRow, ots:PutRow, ots:UpdateRow, ots:DeleteRow and ots:GetRange"

ClientFactory = Callable[[str, Credentials, str], Any]
"""Builds an SDK client from (endpoint, credentials, instance); default: ``tablestore.OTSClient``."""


def default_endpoint(instance: str, region: str, *, vpc: bool = False) -> str:
    """The instance's regional endpoint: public, or (``vpc``) reachable from a bound VPC.

    Formats from the Table Store endpoint docs: ``https://INSTANCE.REGION.ots.aliyuncs.com``
    and ``https://INSTANCE.REGION.vpc.tablestore.aliyuncs.com``.

    Raises:
        ConfigError: the region is not a region id.
    """
    if not _REGION.fullmatch(region):
        raise ConfigError(f"{region!r} is not a region id (like cn-hangzhou)")
    domain = "vpc.tablestore.aliyuncs.com" if vpc else "ots.aliyuncs.com"
    return f"https://{instance}.{region}.{domain}"


def open_ots_store(
    location: str,
    environ: Mapping[str, str],
    *,
    namespace: str = "default",
    credentials: Callable[[], Credentials] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
) -> OtsStore:
    """Open ``ots://INSTANCE/TABLE`` (``location`` is what follows ``ots://``).

    The endpoint is ``endpoint`` if given, else the public endpoint of ``region`` (default
    the function's own region, ``FC_REGION``).

    Raises:
        ConfigError: the location is not INSTANCE/TABLE, no credentials or region were
            given, or the ``tablestore`` SDK is not installed. Messages never echo the URL.
    """
    instance, _, table = location.strip().strip("/").partition("/")
    if not instance or not table or "/" in table or "?" in table or "@" in instance:
        raise ConfigError(
            f"{_SETTING}: ots:// needs ots://INSTANCE/TABLE, e.g. ots://assistwatch/state"
        )
    if credentials is None:
        raise ConfigError(
            f"{_SETTING}: ots:// needs Alibaba Cloud credentials (the function's role)"
        )
    if endpoint is None:
        region = region or environ.get("FC_REGION")
        if not region:
            raise ConfigError(
                "ots:// needs ASSISTWATCH_OTS_ENDPOINT or a region (FC_REGION) for the default "
                "endpoint https://INSTANCE.REGION.ots.aliyuncs.com"
            )
        endpoint = default_endpoint(instance, region)
    return OtsStore(
        instance, table, endpoint=endpoint, credentials=credentials, namespace=namespace
    )


class _AmbiguousError(StateError):
    """A StateError for a request whose answer was lost: a write may have been applied."""


class _NoAnswerError(_AmbiguousError):
    """No answer at all (timeout, reset): a read can simply be asked again."""


class _Lost(Exception):
    """A conditional write was refused: the row is not as the condition expected."""


class _Unsure(Exception):
    """A write's answer was lost (network fault, 5xx): it may or may not have committed."""

    def __init__(self, error: StateError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Row:
    key: str
    columns: dict[str, Any]


class OtsStore:
    """A StateStore in one Table Store table.

    Args:
        instance: the Table Store instance name.
        table: the table (schema in the module docstring).
        endpoint: the instance endpoint URL (see :func:`default_endpoint`); https, or plain
            http to a loopback host (tests, the demo).
        credentials: called before every request for the current AccessKey / STS token.
        namespace: keeps deployments sharing the table apart (the first primary key column).
        client_factory: builds the SDK client; default ``tablestore.OTSClient``.
        clock: epoch seconds for record writes (``write`` takes no time); default ``time.time``.
        timeout: seconds to wait for Table Store on each request.

    Raises:
        ConfigError: a malformed name or endpoint, or the ``tablestore`` SDK is missing.
    """

    def __init__(
        self,
        instance: str,
        table: str,
        *,
        endpoint: str,
        credentials: Callable[[], Credentials],
        namespace: str = "default",
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not _INSTANCE.fullmatch(instance):
            raise ConfigError(
                f"Table Store instance name {instance!r} is not valid: 2-32 letters, digits "
                "or '-', starting with a letter"
            )
        if not _TABLE.fullmatch(table):
            raise ConfigError(
                f"Table Store table name {table!r} is not valid: letters, digits or '_', "
                "not starting with a digit"
            )
        if not _NAMESPACE.fullmatch(namespace):
            raise ConfigError(
                f"state namespace {namespace!r} is not valid: use 1-64 letters, digits, '_', "
                "'-' or '.', not starting with '.' or '-'"
            )
        try:
            self._endpoint = require_secure_url(endpoint.strip(), what="the Table Store endpoint")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if client_factory is None:
            client_factory = _sdk_client_factory(timeout)
        self._instance = instance
        self._table = table
        self._namespace = namespace
        self._credentials = credentials
        self._factory = client_factory
        self._clock = clock or time.time
        self._client_lock = threading.Lock()
        self._client_fingerprint: str | None = None
        self._client: Any = None

    def __repr__(self) -> str:
        return f"OtsStore({self._instance}/{self._table}, namespace={self._namespace})"

    # ---- claims ---------------------------------------------------------------------------

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        """Create the claim (PutRow, EXPECT_NOT_EXIST); else say who has it."""
        existing = self._get(_claim_key(key))
        if existing is not None:  # the steady state (already told): one read, no write
            return _outcome(existing)
        now = float(now)
        columns = {
            **key.as_fields(),
            "owner": owner,
            "lease_until": now + float(lease_seconds),
            "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            "created_at": now,
            "written_at": now,
            "attempts": 1,
            "confirmed": 0,
        }
        # The marker first: a crash right after the claim must still leave it pending.
        self._put_marker(key, owner, now)

        def ours(row: _Row) -> bool:
            return _same(row.columns, columns, ("owner", "created_at"))

        last: StateError | None = None
        for _ in range(CAS_TRIES):
            try:
                self._put(_claim_key(key), columns, expect="EXPECT_NOT_EXIST")
                return ClaimOutcome.WON
            except _Lost:
                break
            except _Unsure as unsure:  # it may have committed: the stored owner decides
                last = unsure.error
                stored = self._get(_claim_key(key))
                if stored is None:
                    continue  # not yet: try again (a late original may still land)
                if ours(stored):
                    return ClaimOutcome.WON
                break
        else:
            raise _gave_up(self._where(f"claim {key.id}"), last)
        stored = self._get(_claim_key(key))
        if stored is None:
            raise StateError(f"{self._where(f'claim {key.id}')}: the claim vanished; try again")
        if last is not None and ours(stored):
            # An earlier attempt's answer was lost and it landed late, just before the retry
            # that it then refused: the claim is ours.
            return ClaimOutcome.WON
        outcome = _outcome(stored)
        if outcome is ClaimOutcome.DONE:
            self._drop_marker(key.id, marker_owner=owner)
        return outcome

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        """Mark the claim delivered; False if ``owner`` no longer holds it."""
        return self._change(
            key,
            lambda c: c.get("owner") == owner,
            lambda c: {**c, "confirmed": 1, "written_at": float(now)},
            done=lambda c: c.get("owner") == owner and c.get("confirmed") == 1,
            after=lambda: self._drop_marker(key.id),
            what=f"confirm {key.id}",
        )

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        """End the owner's lease now and note why, so the next pending() scan retries it."""
        changed = {"lease_until": float(now), "last_error": error, "written_at": float(now)}
        return self._change(
            key,
            lambda c: c.get("owner") == owner and c.get("confirmed") == 0,
            lambda c: {**c, **changed},
            done=lambda c: all(c.get(k) == v for k, v in changed.items()),
            after=lambda: self._put_marker(key, owner, float(now)),
            what=f"release {key.id}",
        )

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        """Unconfirmed claims whose lease has ended, oldest first (reads the outbox range)."""
        found: list[Claim] = []
        for claim, _ in self._outbox(now):
            if claim.lease_until > now:
                continue
            if receiver is not None and claim.key.receiver != receiver:
                continue
            found.append(claim)
        found.sort(key=lambda c: (c.created_at, c.key.id))
        return found

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        """Give a pending claim to ``owner`` if it is still as read (owner, lease, attempts)."""
        if claim.confirmed or claim.lease_until > now:
            return False
        columns = _claim_columns(claim)
        columns.update(
            owner=owner,
            lease_until=float(now) + float(lease_seconds),
            attempts=claim.attempts + 1,
            written_at=float(now),
        )
        taken = ("owner", "lease_until", "attempts")  # attempts + 1 tells ours from the snapshot
        unsure = False
        for _ in range(CAS_TRIES):
            try:
                self._update_all(_claim_key(claim.key), columns, _snapshot_condition(claim))
                return True
            except _Lost:
                # Refused. After an attempt whose answer was lost, that one may have landed
                # late, just before this retry: ours if the row is what we wrote.
                if not unsure:
                    return False
                stored = self._get(_claim_key(claim.key))
                return stored is not None and _same(stored.columns, columns, taken)
            except _Unsure:
                unsure = True
                stored = self._get(_claim_key(claim.key))
                if stored is None or not _same(stored.columns, _claim_columns(claim), _CAS_COLUMNS):
                    # Gone, or changed: by our write (its answer was lost) or by someone else's.
                    return stored is not None and _same(stored.columns, columns, taken)
        raise StateError(f"{self._where(f'take over {claim.key.id}')}: Table Store kept failing")

    # ---- records --------------------------------------------------------------------------

    def read(self, name: str) -> Record:
        """Read a record; ``Record()`` (version None) if it does not exist."""
        row = self._get(_record_key(name))
        if row is None:
            return Record()
        try:
            value = json.loads(row.columns["value"])
            version = str(row.columns["version"])
        except (KeyError, TypeError, ValueError):
            raise StateError(
                f"{self._where(f'read record {name!r}')}: the row is corrupt (value or "
                "version missing); delete it"
            ) from None
        if not isinstance(value, dict):
            raise StateError(f"{self._where(f'read record {name!r}')}: the value is not an object")
        return Record(value=value, version=version)

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        """Write if the stored version is still ``expected_version``; False on conflict."""
        # A fresh random version per write: a record deleted (expired) and re-created can
        # never match a version read before (no ABA).
        version = uuid.uuid4().hex
        columns = {
            "value": json.dumps(value, ensure_ascii=False, separators=(",", ":")),
            "version": version,
            "written_at": float(self._clock()),
        }
        row_key = _record_key(name)
        last: StateError | None = None
        for _ in range(CAS_TRIES):
            try:
                if expected_version is None:
                    self._put(row_key, columns, expect="EXPECT_NOT_EXIST")
                else:
                    self._put(
                        row_key,
                        columns,
                        expect="EXPECT_EXIST",
                        condition=_equal_all({"version": expected_version}),
                    )
                return True
            except _Lost:
                if last is None:
                    return False
                # Refused, after an attempt whose answer was lost: that one may have landed
                # late, just before this retry. Ours if the row holds our fresh version.
                stored = self._get(row_key)
                return stored is not None and stored.columns.get("version") == version
            except _Unsure as unsure:
                last = unsure.error
                stored = self._get(row_key)
                current = None if stored is None else stored.columns.get("version")
                if current == version:
                    return True  # our write committed; its answer was lost
                if current != expected_version:
                    return False
        raise _gave_up(self._where(f"write record {name!r}"), last)

    # ---- expiry ---------------------------------------------------------------------------

    def prune(self, now: float) -> int:
        """Nothing to delete (the table's TTL expires rows); keep the outbox from expiring.

        Reads only the outbox range, and rewrites each unconfirmed claim not written for
        half the TTL (unchanged, so a concurrent take-over still matches it). Returns 0.
        """
        for claim, written_at in self._outbox(now):
            if now - written_at < REFRESH_AFTER:
                continue
            columns = {**_claim_columns(claim), "written_at": float(now)}
            try:
                self._update_all(_claim_key(claim.key), columns, _snapshot_condition(claim))
            except (_Lost, _Unsure):
                continue  # changed meanwhile (so rewritten anyway), or the next prune does it
            self._put_marker(claim.key, claim.owner, float(now))
        return 0

    # ---- table ----------------------------------------------------------------------------

    def create_table_if_missing(self) -> bool:
        """Create the table (schema and TTL as documented) unless it exists; True if created.

        Raises:
            ConfigError: the table exists with another primary key.
            StateError: Table Store could not be asked, or refused.
        """
        from tablestore import CapacityUnit, ReservedThroughput, TableMeta, TableOptions

        client = self._sdk()
        try:
            described = self._call(client.describe_table, self._table, what="describe the table")
        except StateError as exc:
            if _MISSING_TABLE not in str(exc):
                raise
        else:
            schema = tuple(tuple(pk[:2]) for pk in described.table_meta.schema_of_primary_key)
            if schema != PRIMARY_KEY:
                raise ConfigError(
                    f"Table Store table {self._table} exists with primary key {list(schema)}; "
                    f"assistwatch needs {list(PRIMARY_KEY)}: use another table"
                )
            return False
        meta = TableMeta(self._table, list(PRIMARY_KEY))
        options = TableOptions(time_to_live=TTL_SECONDS, max_version=1)
        throughput = ReservedThroughput(CapacityUnit(0, 0))
        try:
            self._call(client.create_table, meta, options, throughput, what="create the table")
        except StateError as exc:
            if "OTSObjectAlreadyExist" in str(exc):
                return False  # another run created it meanwhile
            raise
        return True

    # ---- rows -----------------------------------------------------------------------------

    def _outbox(self, now: float) -> Iterator[tuple[Claim, float]]:
        """Unconfirmed claims and their last write time, tidying stray markers on the way."""
        for marker in self._range("outbox/", "outbox0"):
            key_id = marker.key.removeprefix("outbox/")
            row = self._get(f"claim/{key_id}")
            marker_owner = marker.columns.get("owner")
            if row is None:
                # Being created right now, or its claimer died between marker and claim.
                if float(marker.columns.get("written_at", now)) < now - _STRAY_MARKER_AGE:
                    self._drop_marker(key_id, marker_owner=marker_owner)
                continue
            if row.columns.get("confirmed") == 1:
                # Left by a claimer that lost to a run which then confirmed.
                self._drop_marker(key_id, marker_owner=marker_owner)
                continue
            yield self._to_claim(row), float(row.columns.get("written_at", 0.0))

    def _to_claim(self, row: _Row) -> Claim:
        c = row.columns
        try:
            return Claim(
                key=ClaimKey.from_fields(c),
                owner=str(c["owner"]),
                lease_until=float(c["lease_until"]),
                payload=dict(json.loads(c["payload"])),
                created_at=float(c["created_at"]),
                attempts=int(c["attempts"]),
                last_error=None if c.get("last_error") is None else str(c["last_error"]),
                confirmed=c["confirmed"] == 1,
            )
        except (KeyError, TypeError, ValueError):
            # Never quote the row: a claim holds the alert, which may hold command output.
            raise StateError(
                f"{self._where(f'read {row.key}')}: the row is corrupt (columns missing or "
                "of the wrong type); delete it (a deleted claim may be sent once more)"
            ) from None

    def _change(
        self,
        key: ClaimKey,
        allowed: Callable[[dict[str, Any]], bool],
        change: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        done: Callable[[dict[str, Any]], bool],
        after: Callable[[], None],
        what: str,
    ) -> bool:
        """Read the claim, check it, rewrite every column if it is still as read."""
        last: StateError | None = None
        committed = False
        for _ in range(CAS_TRIES):
            row = self._get(_claim_key(key))
            if row is None:
                return False
            if committed and done(row.columns):
                after()
                return True
            if not allowed(row.columns):
                return False
            try:
                self._update_all(row.key, change(row.columns), _equal_all(_cas(row.columns)))
            except _Lost:
                continue  # changed between our read and write: read again
            except _Unsure as unsure:
                last, committed = unsure.error, True  # the next read tells
                continue
            after()
            return True
        raise _gave_up(self._where(what), last)

    def _put_marker(self, key: ClaimKey, owner: str, now: float) -> None:
        last: StateError | None = None
        for _ in range(CAS_TRIES):
            try:
                self._put(f"outbox/{key.id}", {"owner": owner, "written_at": now}, expect="IGNORE")
                return
            except _Unsure as unsure:  # an unconditional put: repeating it is harmless
                last = unsure.error
        raise _gave_up(self._where(f"write the outbox marker {key.id}"), last)

    def _drop_marker(self, key_id: str, *, marker_owner: Any = None) -> None:
        """Delete an outbox marker; with ``marker_owner``, only if it still is that writer's.

        Tidying only (issue #12): a marker left by a fault is dropped by a later pending()
        scan, so a fault here is a warning, never a failed run.
        """
        tidy(
            f"tidy the outbox marker {key_id}",
            lambda: self._delete_marker(key_id, marker_owner),
            None,
        )

    def _delete_marker(self, key_id: str, marker_owner: Any) -> None:
        from tablestore import Condition, Row

        condition = (
            Condition("IGNORE")
            if marker_owner is None
            else Condition("IGNORE", _equal_all({"owner": marker_owner}))
        )
        try:
            self._call(
                self._sdk().delete_row,
                self._table,
                Row(self._pk(f"outbox/{key_id}")),
                condition,
                what=f"tidy the outbox marker {key_id}",
            )
        except StateError as exc:
            if _CONDITION_FAILED not in str(exc):
                raise  # a condition miss means a newer claimer owns the marker: keep it

    def _read(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        """A read: asked again when its answer is lost (reads change nothing)."""
        for attempt in range(READ_TRIES):
            try:
                return self._call(fn, *args, what=what)
            except _NoAnswerError:
                if attempt == READ_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, row_key: str) -> _Row | None:
        _consumed, row, _token = self._read(
            self._sdk().get_row, self._table, self._pk(row_key), None, what=f"read {row_key}"
        )
        if row is None or not row.attribute_columns:
            return None
        return _Row(row_key, {col[0]: col[1] for col in row.attribute_columns})

    def _range(self, start: str, end: str) -> Iterator[_Row]:
        start_pk: Any = self._pk(start)
        end_pk = self._pk(end)
        while start_pk:
            result = self._read(
                self._sdk().get_range,
                self._table,
                "FORWARD",
                start_pk,
                end_pk,
                None,
                100,
                what=f"list {start}",
            )
            _consumed, next_start, rows = result[0], result[1], result[2]
            for row in rows:
                key = dict(row.primary_key)["key"]
                yield _Row(str(key), {col[0]: col[1] for col in row.attribute_columns})
            start_pk = next_start

    def _put(
        self,
        row_key: str,
        columns: dict[str, Any],
        *,
        expect: str,
        condition: Any = None,
    ) -> None:
        from tablestore import Condition, Row

        attributes = [(name, value) for name, value in columns.items() if value is not None]
        self._write(
            "put_row",
            Row(self._pk(row_key), attributes),
            Condition(expect, condition),
            what=f"write {row_key}",
        )

    def _update_all(self, row_key: str, columns: dict[str, Any], condition: Any) -> None:
        """UpdateRow that puts every column (and deletes the absent optional ones)."""
        from tablestore import Condition, Row

        puts = [(name, value) for name, value in columns.items() if value is not None]
        deletes = [name for name in _OPTIONAL_CLAIM_COLUMNS if columns.get(name) is None]
        change: dict[str, list[Any]] = {"put": puts}
        if deletes:
            change["delete_all"] = deletes
        self._write(
            "update_row",
            Row(self._pk(row_key), change),
            Condition("EXPECT_EXIST", condition),
            what=f"update {row_key}",
        )

    def _write(self, method: str, row: Any, condition: Any, *, what: str) -> None:
        """A conditional write: _Lost if refused, _Unsure if its answer was lost."""
        client = self._sdk()
        try:
            self._call(getattr(client, method), self._table, row, condition, what=what)
        except StateError as exc:
            if _CONDITION_FAILED in str(exc):
                raise _Lost from None
            if isinstance(exc, _AmbiguousError):
                raise _Unsure(exc) from None
            raise

    def _pk(self, row_key: str) -> list[tuple[str, str]]:
        return [("namespace", self._namespace), ("key", row_key)]

    # ---- the SDK --------------------------------------------------------------------------

    def _sdk(self) -> Any:
        """The SDK client for the current credentials (rebuilt only when they change)."""
        creds = self._credentials()
        token = creds.security_token.get_secret_value() if creds.security_token else ""
        fingerprint = hashlib.sha256(
            "\x1f".join(
                (creds.access_key_id, creds.access_key_secret.get_secret_value(), token)
            ).encode()
        ).hexdigest()
        with self._client_lock:
            if fingerprint != self._client_fingerprint:
                self._client = self._factory(self._endpoint, creds, self._instance)
                self._client_fingerprint = fingerprint
            return self._client

    def _call(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        """Call the SDK; every failure becomes a StateError (``ambiguous`` for lost answers)."""
        from http.client import HTTPException

        from tablestore import OTSClientError, OTSServiceError
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args)
        except OTSServiceError as exc:
            raise self._service_error(exc, what) from None
        except OTSClientError as exc:
            # The SDK rejected the answer (bad signature, MD5, clock skew): it was sent.
            status = exc.get_http_status()
            raise _AmbiguousError(
                f"{self._where(what)}: the Table Store SDK refused the answer"
                f"{f' (HTTP {status})' if status else ''}: {exc.get_error_message()}"
            ) from None
        except (HTTPError, HTTPException, OSError) as exc:
            # Timeouts, resets, refused connections: the request may have reached the service.
            raise _NoAnswerError(
                f"{self._where(what)}: Table Store at {self._host()} did not answer "
                f"({type(exc).__name__}); check the endpoint and the network"
            ) from None

    def _service_error(self, exc: Any, what: str) -> StateError:
        code = str(exc.get_error_code())
        status = exc.get_http_status()
        message = str(exc.get_error_message())
        request = f", RequestId {exc.get_request_id()}" if exc.get_request_id() else ""
        detail = f"HTTP {status} {code}: {message}{request}"
        if code in _AUTH_CODES:
            hint = (
                "check the AccessKey id and secret (or the STS token and its expiry), that "
                f"the instance {self._instance} exists at this endpoint, and that the RAM "
                f"policy allows {_RAM_ACTIONS} on table {self._table}"
            )
            return StateError(
                f"{self._where(what)}: Table Store refused the request ({detail}); {hint}"
            )
        if code == _MISSING_TABLE:
            return StateError(
                f"{self._where(what)}: {detail}; create the table (the deployment template "
                "does, or `create_table_if_missing`)"
            )
        if code != _CONDITION_FAILED and (not status or int(status) >= 500 or code in _RETRYABLE):
            # Throttling and 5xx: a write may still have been applied.
            return _AmbiguousError(f"{self._where(what)}: {detail}")
        return StateError(f"{self._where(what)}: {detail}")

    def _where(self, what: str) -> str:
        return f"Table Store {self._instance}/{self._table} (namespace {self._namespace}): {what}"

    def _host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self._endpoint).netloc


_RETRYABLE = frozenset(
    {
        "OTSRowOperationConflict",
        "OTSNotEnoughCapacityUnit",
        "OTSTableNotReady",
        "OTSPartitionUnavailable",
        "OTSServerBusy",
        "OTSOperationThrottled",
        "OTSTimeout",
        "OTSInternalServerError",
        "OTSServerUnavailable",
    }
)
_CAS_COLUMNS = ("owner", "lease_until", "attempts", "confirmed")
_OPTIONAL_CLAIM_COLUMNS = ("last_error",)


def _claim_key(key: ClaimKey) -> str:
    return f"claim/{key.id}"


def _record_key(name: str) -> str:
    if len(name.encode()) <= _MAX_PK_BYTES:
        return f"record/{name}"
    return f"record#{hashlib.sha256(name.encode()).hexdigest()}"


def _outcome(row: _Row) -> ClaimOutcome:
    return ClaimOutcome.DONE if row.columns.get("confirmed") == 1 else ClaimOutcome.HELD


def _claim_columns(claim: Claim) -> dict[str, Any]:
    return {
        **claim.key.as_fields(),
        "owner": claim.owner,
        "lease_until": float(claim.lease_until),
        "payload": json.dumps(claim.payload, ensure_ascii=False, separators=(",", ":")),
        "created_at": float(claim.created_at),
        "attempts": int(claim.attempts),
        "last_error": claim.last_error,
        "confirmed": 1 if claim.confirmed else 0,
    }


def _cas(columns: dict[str, Any]) -> dict[str, Any]:
    return {name: columns.get(name) for name in _CAS_COLUMNS}


def _snapshot_condition(claim: Claim) -> Any:
    return _equal_all(_cas(_claim_columns(claim)))


def _same(a: dict[str, Any], b: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(a.get(name) == b.get(name) for name in names)


def _equal_all(values: dict[str, Any]) -> Any:
    """A column condition: every named column exists and equals its value."""
    from tablestore import (
        ComparatorType,
        CompositeColumnCondition,
        LogicalOperator,
        SingleColumnCondition,
    )

    singles = [
        SingleColumnCondition(name, value, ComparatorType.EQUAL, pass_if_missing=False)
        for name, value in values.items()
    ]
    if len(singles) == 1:
        return singles[0]
    combined = CompositeColumnCondition(LogicalOperator.AND)
    for single in singles:
        combined.add_sub_condition(single)
    return combined


def _gave_up(where: str, last: StateError | None) -> StateError:
    reason = f" (last: {last})" if last is not None else ""
    return StateError(f"{where}: Table Store kept failing or the row kept changing{reason}")


def _sdk_client_factory(timeout: float) -> ClientFactory:
    try:
        import tablestore
    except ImportError:
        raise ConfigError(
            "ASSISTWATCH_STATE_URL is ots:// but the Table Store SDK is not installed: "
            "pip install 'assistwatch[ots]'"
        ) from None
    # Quiet and never at DEBUG: the SDK's debug lines print request headers, STS token
    # included; its error lines duplicate the StateErrors we raise.
    logging.getLogger(_SDK_LOGGER).setLevel(logging.CRITICAL)
    retry = _retry_policy(tablestore)

    def build(endpoint: str, creds: Credentials, instance: str) -> Any:
        token = creds.security_token.get_secret_value() if creds.security_token else None
        return tablestore.OTSClient(
            endpoint,
            creds.access_key_id,
            creds.access_key_secret.get_secret_value(),
            instance,
            sts_token=token,
            socket_timeout=timeout,
            retry_policy=retry,
            logger_name=_SDK_LOGGER,
        )

    return build


def _retry_policy(tablestore: Any) -> Any:
    """A few quick SDK retries: throttling for every call, 5xx for reads only.

    A write that got a 5xx may have been applied; the store resolves that itself by reading
    the row back, so the SDK must not blindly repeat it (a repeated PutRow could overwrite).
    """
    from tablestore.retry import RetryPolicy

    reads = {"GetRow", "GetRange", "DescribeTable", "BatchGetRow", "ListTable"}
    throttled = {"OTSServerBusy", "OTSNotEnoughCapacityUnit", "OTSOperationThrottled"}
    not_ready = {"OTSTableNotReady", "OTSPartitionUnavailable", "OTSRowOperationConflict"}

    class _Policy(RetryPolicy):  # type: ignore[misc]
        max_retries = 3

        def should_retry(self, retry_times: int, exception: Any, api_name: str) -> bool:
            if retry_times >= self.max_retries:
                return False
            code = getattr(exception, "code", "")
            if code in not_ready:
                return True
            if code in throttled:
                # Refused before any change: safe to repeat, even a write.
                return True
            status = getattr(exception, "http_status", 0) or 0
            return api_name in reads and int(status) >= 500

        def get_retry_delay(self, retry_times: int, exception: Any, api_name: str) -> float:
            return float(min(0.05 * (2**retry_times), 0.5))

    del tablestore
    return _Policy()
