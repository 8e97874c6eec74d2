"""The ``oss://BUCKET/PREFIX`` state backend: claims, the outbox and records as OSS objects.

Uses the official ``alibabacloud-oss-v2`` SDK (1.1 up to 2, V4 signing; install the extra
``pip install 'assistwatch[oss]'``). Layout under ``PREFIX/NAMESPACE/``::

    claims/<id>/g<N>     generation N of a claim (10 digits); the highest one is the claim
    outbox/<id>          an empty marker per unconfirmed claim: pending() lists only these
    records/<name>/v<N>  generation N of a record (name percent-encoded, long ones hashed)

Why generations. OSS has no compare-and-swap, only a create-only PUT (``x-oss-forbid-overwrite:
true`` answers 409 ``FileAlreadyExists`` if the object exists). So state is never rewritten:
every change creates the next generation, and creating ``g<N+1>`` succeeds for exactly one
writer that read ``g<N>``. claim creates ``g1``; confirm, release and take_over create the
next generation after checking the current one (owner, lease); a record write at version
``N.<nonce>`` creates ``v<N+1>``. Appendable objects were the other choice; their position
check is a CAS too, but an append can't replace the payload and the object grows without
bound. Each body carries a random ``nonce``, the version it was built on (``prev``) and the
versions of the 32 generations below it, newest first (``history``), so:

- the SDK retries a PUT whose answer was lost; the retry's 409 is ours when the stored
  nonce is ours (an owner token alone is not enough: one run may claim a key twice);
- generations older than the one just replaced are deleted on the way (so a claim retried
  every minute for weeks stays a few objects). So a created generation is not yet a win:
  if later generations exist by the time the writer lists them, its write counts only if
  the current head's ``history`` names it at that generation. That tells apart a write that
  landed first and was built on (its generation may already be tidied away: a writer
  descheduled on a loaded machine) from one that re-created a generation already tidied
  away (it had read an old head): the first is a win, the second a conflict. Reporting
  the first as a conflict made the caller re-read and apply its change twice.

Exactly-once and the duplicate window. One claim is won by exactly one run; a send is
repeated only when its run died (or outlived the lease) between sending and confirming: its
claim becomes pending and is sent once more. That is at most one duplicate per lease that
ends that way, the same as every backend. The OSS-specific window: a ``g<N+1>`` PUT that
OSS committed but whose every retry failed surfaces as StateError (not sent), and the claim
comes back through the outbox once its lease ends.

Expiry: add a lifecycle rule to the bucket that deletes objects under ``PREFIX/`` 43 days
(6 weeks + 1 day) after their last modification (console: Bucket > Data management >
Lifecycle; or PutBucketLifecycle with ``<Prefix>PREFIX/</Prefix><Expiration><Days>43</Days>``).
Every change writes a new object, so a rewrite resets the expiry; the outbox marker is
rewritten by release and take_over, and the app retries pending claims every run, so an
undelivered claim is only lost if nothing ran for 43 days. ``prune()`` removes only outbox
markers whose claim was never created (a run died in between) and leaves expiry to the rule.

Buckets with versioning Enabled or Suspended ignore forbid-overwrite: they are refused
(ConfigError), checked once per store with GetBucketVersioning. RAM permissions needed on
``acs:oss:*:*:BUCKET/PREFIX/*`` and the bucket: ``oss:PutObject``, ``oss:GetObject``,
``oss:DeleteObject``, ``oss:ListObjects``, ``oss:GetBucketVersioning``.

Endpoint: default ``https://oss-REGION.aliyuncs.com``; FC in the bucket's region can use the
internal ``https://oss-REGION-internal.aliyuncs.com`` (``ASSISTWATCH_OSS_ENDPOINT``).
Credentials are read through ``credentials()`` for every request, so STS keys rotated by FC
are used without rebuilding the store.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from lib.core.claims import ClaimKey
from lib.state.base import Claim, ClaimOutcome, Record, record_stem
from lib.state.tidy import tidy
from lib.support.credentials import Credentials
from lib.support.errors import AssistwatchError, ConfigError, StateError
from lib.support.urls import require_secure_url

__all__ = ["EXPIRY_DAYS", "OssStore", "default_endpoint", "open_oss_store"]

_SETTING = "ASSISTWATCH_STATE_URL"
EXPIRY_DAYS = 43  # DESIGN: 6 weeks + 1 day after the last write; the lifecycle rule's age
_DAY = 86_400.0
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z0-9-]{2,40}")
_MAX_STEM = 200
_GEN_DIGITS = 10
_READ_TRIES = 5  # a head pruned between listing and reading is looked up again
_HISTORY = 32  # versions below it each generation records, to check a write after the fact
_LIST_PAGE = 1000
_RAM_ACTIONS = {
    "PutObject": "oss:PutObject",
    "GetObject": "oss:GetObject",
    "DeleteObject": "oss:DeleteObject",
    "ListObjectsV2": "oss:ListObjects",
    "GetBucketVersioning": "oss:GetBucketVersioning",
}


def default_endpoint(region: str) -> str:
    """The public OSS endpoint of ``region``."""
    return f"https://oss-{region}.aliyuncs.com"


def open_oss_store(
    rest: str,
    environ: Mapping[str, str],
    *,
    namespace: str = "default",
    credentials: Callable[[], Credentials] | None = None,
    endpoint: str | None = None,
    region: str | None = None,
) -> OssStore:
    """Open ``oss://BUCKET/PREFIX`` (``rest`` is what follows ``oss://``).

    The region defaults to the function's own (``FC_REGION``); the credentials, when the
    caller passes none, to the ``ALIBABA_CLOUD_*`` variables, read at every request.

    Raises:
        ConfigError: no bucket, no region, a malformed part, or the SDK is not installed.
    """
    bucket, _, prefix = rest.partition("/")
    region = region or environ.get("FC_REGION")
    if not bucket:
        raise ConfigError(f"{_SETTING}: oss:// needs a bucket, e.g. oss://my-bucket/assistwatch")
    if not region:
        raise ConfigError(
            f"{_SETTING}: oss:// needs the bucket's region (FC_REGION is not set here)"
        )
    # Fail at start-up, not on the first claim; the SDK itself (0.13 s) loads on first use.
    if importlib.util.find_spec("alibabacloud_oss_v2") is None:
        raise ConfigError(f"{_SETTING}: oss:// needs the OSS SDK: pip install 'assistwatch[oss]'")
    if credentials is None:
        from lib.support.credentials import resolve_credentials

        def from_environment() -> Credentials:
            return resolve_credentials(None, environ)

        credentials = from_environment
    return OssStore(
        bucket,
        prefix,
        region=region,
        endpoint=endpoint,
        credentials=credentials,
        namespace=namespace,
    )


class _Answered(Exception):
    """OSS answered with an error code the caller expects (NoSuchKey, FileAlreadyExists)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class _Head:
    """The current generation of a claim or record and its body."""

    gen: int
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return f"{self.gen}.{self.data.get('nonce', '')}"


class OssStore:
    """A StateStore in an OSS bucket.

    Args:
        bucket: the bucket name (versioning must never have been enabled on it).
        prefix: where under the bucket state lives ("" for the bucket's root).
        region: the bucket's region, e.g. ``cn-hangzhou`` (signatures are scoped to it).
        endpoint: override (https, or http for loopback); default the region's public one.
        credentials: called for every request; FC's STS keys rotate under a cached store.
        namespace: keeps two deployments sharing a prefix apart.
        clock: epoch seconds for record writes (``write`` takes no time); default ``time.time``.
        timeout: connect and read timeout per request, seconds (SDK default 10 / 20).
        max_attempts: attempts per request, the SDK retrying 5xx and network faults.
        retry_base_delay: the SDK's backoff base, seconds (tests make it tiny).

    Raises:
        ConfigError: a malformed bucket, region, namespace or endpoint.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        region: str,
        endpoint: str | None = None,
        credentials: Callable[[], Credentials],
        namespace: str = "default",
        clock: Callable[[], float] | None = None,
        timeout: float | None = None,
        max_attempts: int = 3,
        retry_base_delay: float | None = None,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError(
                "OSS bucket name is not valid: 3-63 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if not _REGION.fullmatch(region):
            raise ConfigError(f"OSS region {region!r} is not valid, e.g. cn-hangzhou")
        if not _NAMESPACE.fullmatch(namespace):
            raise ConfigError(
                f"state namespace {namespace!r} is not valid: use 1-64 letters, digits, '_', "
                "'-' or '.', not starting with '.' or '-'"
            )
        url = endpoint or default_endpoint(region)
        if "://" not in url:
            url = f"https://{url}"
        try:
            self._endpoint = require_secure_url(url, what="the OSS endpoint").rstrip("/")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._bucket = bucket
        self._region = region
        clean = "/".join(part for part in prefix.split("/") if part)
        self._root = f"{clean}/{namespace}/" if clean else f"{namespace}/"
        self._credentials = credentials
        self._clock = clock or time.time
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._retry_base_delay = retry_base_delay
        self._client: Any = None
        self._key_id = ""  # the AccessKey id of the last request, for error messages
        self._checked = False
        self._check_lock = threading.Lock()
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OssStore(bucket={self._bucket!r}, root={self._root!r}, endpoint={self._endpoint!r})"
        )

    @property
    def root(self) -> str:
        """The key prefix every object of this store lives under (``PREFIX/NAMESPACE/``)."""
        return self._root

    # ---- claims ---------------------------------------------------------------------------

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        """Create the claim (generation 1) unless it exists; say who has it if it does."""
        self._ready()
        prefix = self._claim_prefix(key.id)
        body = {
            **key.as_fields(),
            "owner": owner,
            "lease_until": now + lease_seconds,
            "payload": payload,
            "created_at": now,
            "updated_at": now,
            "attempts": 1,
            "last_error": None,
            "confirmed": False,
        }
        for _ in range(3):
            head = self._head(prefix)
            if head is None:
                # The marker goes first: a run dying right after creating the claim must
                # still leave it in the outbox. A marker left by a loser is tidied by pending().
                self._put_marker(key.id)
                if self._advance(prefix, None, body):
                    return ClaimOutcome.WON
                head = self._head(prefix)
                if head is None:
                    continue  # deleted between our create and our read: try again
            if head.data.get("confirmed"):
                return ClaimOutcome.DONE
            return ClaimOutcome.HELD
        raise StateError(f"OSS claim {key.id} in bucket {self._bucket} kept vanishing; try again")

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        """Mark the claim delivered; False if ``owner`` no longer holds it."""
        self._ready()
        prefix = self._claim_prefix(key.id)
        head = self._head(prefix)
        if head is None or head.data.get("owner") != owner:
            return False
        if not head.data.get("confirmed"):
            body = {**head.data, "confirmed": True, "updated_at": now}
            if not self._advance(prefix, head, body):
                return False
        self._drop_marker(key.id)
        return True

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        """End the owner's lease now and note why, so the next pending() scan retries it."""
        self._ready()
        prefix = self._claim_prefix(key.id)
        head = self._head(prefix)
        if head is None or head.data.get("confirmed") or head.data.get("owner") != owner:
            return False
        body = {**head.data, "lease_until": now, "last_error": error, "updated_at": now}
        if not self._advance(prefix, head, body):
            return False
        self._put_marker(key.id)  # rewritten so the lifecycle rule counts from now
        return True

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        """Unconfirmed claims whose lease has ended, oldest first (lists the outbox only)."""
        self._ready()
        found: list[Claim] = []
        for name, _ in self._list(f"{self._root}outbox/"):
            key_id = name.rsplit("/", 1)[-1]
            head = self._head(self._claim_prefix(key_id))
            if head is None:
                continue  # being created right now, or its creator died first (see prune)
            claim = self._claim_from(head)
            if claim.confirmed:
                self._drop_marker(key_id)  # left by a run that lost to a confirmed claim
                continue
            if claim.lease_until > now:
                continue
            if receiver is not None and claim.key.receiver != receiver:
                continue
            found.append(claim)
        found.sort(key=lambda c: (c.created_at, c.key.id))
        return found

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        """Give a pending claim to ``owner`` if it is still as read (same owner and lease)."""
        self._ready()
        prefix = self._claim_prefix(claim.key.id)
        head = self._head(prefix)
        if head is None:
            return False
        current = head.data
        if (
            current.get("confirmed")
            or current.get("owner") != claim.owner
            or current.get("lease_until") != claim.lease_until
            or float(current.get("lease_until", 0.0)) > now
        ):
            return False
        body = {
            **current,
            "owner": owner,
            "lease_until": now + lease_seconds,
            "attempts": int(current.get("attempts", 1)) + 1,
            "updated_at": now,
        }
        if not self._advance(prefix, head, body):
            return False
        self._put_marker(claim.key.id)
        return True

    # ---- records --------------------------------------------------------------------------

    def read(self, name: str) -> Record:
        """Read a record; ``Record()`` (version None) if it does not exist."""
        self._ready()
        head = self._head(self._record_prefix(name))
        if head is None:
            return Record()
        value = head.data.get("value")
        if not isinstance(value, dict):
            self._corrupt(f"{self._record_prefix(name)}v{head.gen:0{_GEN_DIGITS}d}", "no value")
        return Record(value=value, version=head.version)

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        """Write if the stored version is still ``expected_version``; False on conflict."""
        self._ready()
        prefix = self._record_prefix(name)
        head = self._head(prefix)
        if (head.version if head else None) != expected_version:
            return False
        body = {"name": name, "written_at": self._clock(), "value": value}
        return self._advance(prefix, head, body)

    # ---- expiry ---------------------------------------------------------------------------

    def prune(self, now: float) -> int:
        """Drop outbox markers left by runs that died before creating their claim.

        Expiry itself is the bucket's lifecycle rule (see the module docstring): every
        change is a new object, so the rule's age is the age of the last write. Markers
        get a day's grace, counted on the real clock too, so a claim being created now is
        never touched. Returns the number of markers deleted.
        """
        self._ready()
        cutoff = min(now, time.time()) - _DAY
        deleted = 0
        for name, modified in self._list(f"{self._root}outbox/"):
            if modified is None or modified.timestamp() > cutoff:
                continue
            key_id = name.rsplit("/", 1)[-1]
            if self._head(self._claim_prefix(key_id)) is None:
                self._delete(name)
                deleted += 1
        return deleted

    # ---- generations ----------------------------------------------------------------------

    def _claim_prefix(self, key_id: str) -> str:
        return f"{self._root}claims/{key_id}/g"

    def _record_prefix(self, name: str) -> str:
        return f"{self._root}records/{_record_stem(name)}/v"

    def _generations(self, prefix: str) -> list[int]:
        gens = []
        for name, _ in self._list(prefix):
            suffix = name[len(prefix) :]
            if len(suffix) == _GEN_DIGITS and suffix.isdigit():
                gens.append(int(suffix))
        return sorted(gens)

    def _head(self, prefix: str) -> _Head | None:
        """The highest generation under ``prefix`` and its body; None if there is none."""
        for _ in range(_READ_TRIES):
            gens = self._generations(prefix)
            if not gens:
                return None
            data = self._get_json(f"{prefix}{gens[-1]:0{_GEN_DIGITS}d}")
            if data is not None:
                return _Head(gens[-1], data)
        raise StateError(f"OSS objects under {prefix} in bucket {self._bucket} kept vanishing")

    def _advance(self, prefix: str, head: _Head | None, body: dict[str, Any]) -> bool:
        """Create the generation after ``head``; True if this call's write is in the chain."""
        base = head.gen if head else 0
        nonce = uuid.uuid4().hex
        history = [head.version, *_history(head.data)][:_HISTORY] if head else []
        data = {**body, "nonce": nonce, "prev": head.version if head else None, "history": history}
        target = f"{prefix}{base + 1:0{_GEN_DIGITS}d}"
        created = self._create(target, data, nonce)
        if created is False:
            return False
        gens = self._generations(prefix)
        # Later generations exist (or the object that refused our retried PUT is gone): ours
        # counts only if it is in the chain the current head records. Ours may have landed
        # first and been built on, or re-created a generation already tidied away.
        checked = created is None or not gens or gens[-1] != base + 1
        if checked and not self._in_chain(prefix, base + 1, f"{base + 1}.{nonce}"):
            return False
        for old in gens:
            if old < base:  # keep the one we replaced: a reader may be fetching it right now
                self._delete(f"{prefix}{old:0{_GEN_DIGITS}d}", quiet=True)
        return True

    def _in_chain(self, prefix: str, gen: int, version: str) -> bool:
        """Whether generation ``gen`` of the chain under ``prefix`` is ``version``.

        Read from the head's ``history`` (the versions below it, newest first), so it holds
        however many generations went by and were tidied away since; a head written before
        histories existed falls back to the successor's ``prev``.
        """
        head = self._head(prefix)
        if head is None or head.gen < gen:
            raise StateError(
                f"OSS objects under {prefix} in bucket {self._bucket} vanished during a write"
            )
        if head.gen == gen:
            return head.version == version
        back = head.gen - gen
        chain = _history(head.data)
        if back <= len(chain):
            return chain[back - 1] == version
        successor = self._get_json(f"{prefix}{gen + 1:0{_GEN_DIGITS}d}")
        if successor is not None:
            return successor.get("prev") == version
        why = (
            f"more than {_HISTORY} writes went by"
            if len(chain) >= _HISTORY
            # A head whose history is short: writes by a release before histories (a
            # rolling update), which record no history to check by.
            else f"{back} writes went by, some by an earlier release that records no history,"
        )
        raise StateError(
            f"OSS write under {prefix} in bucket {self._bucket}: {why} before it could be "
            "checked, so whether it landed is unknown; try again"
        )

    def _create(self, key: str, data: dict[str, Any], nonce: str) -> bool | None:
        """Create-only PUT: True if the object holds our write (a retried PUT included),
        False if someone else's, None if the object that refused us is already gone."""
        import alibabacloud_oss_v2 as oss

        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        request = oss.PutObjectRequest(
            bucket=self._bucket,
            key=key,
            body=raw,
            forbid_overwrite=True,
            content_type="application/json",
        )
        try:
            self._call("PutObject", key, lambda c: c.put_object(request), ("FileAlreadyExists",))
        except _Answered:
            # The SDK retries a PUT whose answer was lost; its 409 then names our own write.
            stored = self._get_json(key)
            if stored is None:
                return None  # tidied away since: only the head's history can tell
            return stored.get("nonce") == nonce
        return True

    # ---- objects --------------------------------------------------------------------------

    def _put_marker(self, key_id: str) -> None:
        import alibabacloud_oss_v2 as oss

        key = f"{self._root}outbox/{key_id}"
        request = oss.PutObjectRequest(bucket=self._bucket, key=key, body=b"")
        self._call("PutObject", key, lambda c: c.put_object(request))

    def _drop_marker(self, key_id: str) -> None:
        # Tidying only (issue #12): a marker left behind is dropped by a later pending().
        key = f"{self._root}outbox/{key_id}"
        tidy(f"tidy the outbox marker {key_id}", lambda: self._delete(key), None)

    def _delete(self, key: str, *, quiet: bool = False) -> None:
        import alibabacloud_oss_v2 as oss

        request = oss.DeleteObjectRequest(bucket=self._bucket, key=key)
        try:
            self._call("DeleteObject", key, lambda c: c.delete_object(request))
        except StateError:
            if not quiet:
                raise  # tidying old generations may fail: the next change retries it

    def _get_json(self, key: str) -> dict[str, Any] | None:
        """The JSON object stored at ``key``; None if there is no such object."""
        import alibabacloud_oss_v2 as oss

        request = oss.GetObjectRequest(bucket=self._bucket, key=key)

        def fetch(client: Any) -> bytes:
            result = client.get_object(request)
            with result.body as body:
                return bytes(body.read())

        try:
            raw = self._call("GetObject", key, fetch, ("NoSuchKey",))
        except _Answered:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            self._corrupt(key, "not valid JSON")
        if not isinstance(data, dict):
            self._corrupt(key, "not a JSON object")
        return data

    def _list(self, prefix: str) -> Iterator[tuple[str, datetime | None]]:
        """(key, last modified) of every object under ``prefix``, page by page."""
        import alibabacloud_oss_v2 as oss

        token: str | None = None
        while True:
            request = oss.ListObjectsV2Request(
                bucket=self._bucket, prefix=prefix, max_keys=_LIST_PAGE, continuation_token=token
            )
            result = self._call("ListObjectsV2", prefix, functools.partial(_list_page, request))
            for item in result.contents or []:
                yield str(item.key), item.last_modified
            token = result.next_continuation_token
            if not result.is_truncated or not token:
                return

    def _claim_from(self, head: _Head) -> Claim:
        data = head.data
        try:
            return Claim(
                key=ClaimKey.from_fields(data),
                owner=str(data["owner"]),
                lease_until=float(data["lease_until"]),
                payload=dict(data["payload"]),
                created_at=float(data["created_at"]),
                attempts=int(data["attempts"]),
                last_error=data.get("last_error"),
                confirmed=bool(data["confirmed"]),
            )
        except (KeyError, TypeError, ValueError):
            self._corrupt(
                f"generation {head.gen} of a claim", "fields missing or of the wrong type"
            )

    def _corrupt(self, what: str, why: str) -> NoReturn:
        # Never quote the content: a claim holds the alert, which may hold command output.
        raise StateError(
            f"OSS state object {what} in bucket {self._bucket} is corrupt ({why}); delete it "
            "(a deleted claim may be sent once more)"
        )

    # ---- the SDK --------------------------------------------------------------------------

    def _ready(self) -> None:
        """Refuse a bucket with versioning Enabled or Suspended (checked once per store)."""
        if self._checked:
            return
        import alibabacloud_oss_v2 as oss

        request = oss.GetBucketVersioningRequest(bucket=self._bucket)
        with self._check_lock:
            if self._checked:
                return
            result = self._call(
                "GetBucketVersioning", "", lambda c: c.get_bucket_versioning(request)
            )
            status = result.version_status
            if status in ("Enabled", "Suspended"):
                raise ConfigError(
                    f"OSS bucket {self._bucket} has versioning {status}: OSS ignores "
                    "x-oss-forbid-overwrite on such buckets, so two runs could both win one "
                    "claim. Use a bucket whose versioning was never enabled (it cannot be "
                    "switched off once on) for ASSISTWATCH_STATE_URL"
                )
            self._checked = True

    def _sdk_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import alibabacloud_oss_v2 as oss
                except ImportError:  # pragma: no cover - the extra is installed in dev
                    raise ConfigError(
                        "oss:// state needs the OSS SDK: pip install 'assistwatch[oss]'"
                    ) from None
                cfg = oss.config.load_default()
                cfg.region = self._region
                cfg.endpoint = self._endpoint
                cfg.credentials_provider = oss.credentials.CredentialsProviderFunc(
                    self._sdk_credentials
                )
                cfg.retryer = oss.retry.StandardRetryer(
                    max_attempts=self._max_attempts, base_delay=self._retry_base_delay
                )
                if self._timeout is not None:
                    cfg.connect_timeout = self._timeout
                    cfg.readwrite_timeout = self._timeout
                self._client = oss.Client(cfg)
            return self._client

    def _sdk_credentials(self) -> Any:
        """The credentials of this very request, in the SDK's type (FC rotates them)."""
        import alibabacloud_oss_v2 as oss

        current = self._credentials()
        self._key_id = current.access_key_id
        token = current.security_token.get_secret_value() if current.security_token else None
        return oss.credentials.Credentials(
            current.access_key_id, current.access_key_secret.get_secret_value(), token
        )

    def _call(
        self,
        operation: str,
        target: str,
        do: Callable[[Any], Any],
        expected: tuple[str, ...] = (),
    ) -> Any:
        """Run one SDK call; map its failures to StateError (``expected`` codes: _Answered)."""
        import alibabacloud_oss_v2 as oss

        client = self._sdk_client()
        self._key_id = self._credentials().access_key_id  # a ConfigError surfaces here, once
        try:
            return do(client)
        except oss.exceptions.OperationError as exc:
            inner = exc.unwrap()
            if isinstance(inner, oss.exceptions.ServiceError) and inner.code in expected:
                raise _Answered(str(inner.code)) from None
            self._fail(operation, target, inner)

    def _fail(self, operation: str, target: str, inner: BaseException) -> NoReturn:
        import alibabacloud_oss_v2 as oss

        where = f"OSS {operation} on bucket {self._bucket}"
        if isinstance(inner, oss.exceptions.CredentialsFetchError):
            cause = inner.kwargs.get("error")
            if isinstance(cause, AssistwatchError):
                raise cause from None
            raise StateError(f"{where} failed: could not read the credentials") from None
        if not isinstance(inner, oss.exceptions.ServiceError):
            kind = type(_innermost(inner)).__name__
            raise StateError(
                f"{where} failed: could not reach {self._endpoint} ({kind}) after "
                f"{self._max_attempts} attempts"
            ) from None
        code, status = str(inner.code or ""), int(inner.status_code or 0)
        request_id = f" (RequestId {inner.request_id})" if inner.request_id else ""
        key = self._key_id or "?"
        hints = {
            "InvalidAccessKeyId": f"AccessKey id {key} is unknown to OSS (deleted, disabled, "
            "or an STS key that expired)",
            "SignatureDoesNotMatch": f"the AccessKey secret does not match AccessKey id {key}",
            "InvalidSecurityToken": "the STS security token is invalid for AccessKey id "
            f"{key} (expired, or from another key)",
            "SecurityTokenExpired": f"the STS security token of AccessKey id {key} expired",
            "RequestTimeTooSkewed": "this machine's clock is more than 15 minutes off",
            "AccessDenied": f"the RAM identity of AccessKey id {key} lacks "
            f"{_RAM_ACTIONS.get(operation, 'permission')} on {self._bucket}/{self._root}* "
            "(grant it in the function role's policy)",
            "NoSuchBucket": f"bucket {self._bucket} does not exist in region {self._region} "
            f"(endpoint {self._endpoint})",
        }
        hint = hints.get(code)
        if hint is not None:
            raise StateError(f"{where} refused: {hint}; HTTP {status} {code}{request_id}") from None
        tries = f" after {self._max_attempts} attempts" if status >= 500 else ""
        raise StateError(
            f"{where} failed{tries}: HTTP {status} {code or 'no error code'}{request_id}"
            f"{' for ' + target if target else ''}"
        ) from None


def _history(data: dict[str, Any]) -> list[str]:
    """The versions below a generation, newest first ([] for bodies written before 2026-12)."""
    chain = data.get("history")
    return [str(v) for v in chain] if isinstance(chain, list) else []


def _list_page(request: Any, client: Any) -> Any:
    return client.list_objects_v2(request)


def _innermost(exc: BaseException) -> BaseException:
    seen = 0
    while seen < 5:
        unwrap = getattr(exc, "unwrap", None)
        nxt = unwrap() if callable(unwrap) else (exc.__cause__ or exc.__context__)
        if not isinstance(nxt, BaseException):
            return exc
        exc, seen = nxt, seen + 1
    return exc


def _record_stem(name: str) -> str:
    return record_stem(name, max_length=_MAX_STEM)
