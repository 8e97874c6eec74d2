"""The ``file://`` state backend: claims, the outbox and versioned records in a directory.

Safe for several processes (and threads) on one machine, and on a NAS mount. Layout under
``DIRECTORY/NAMESPACE/``::

    claims/<id[:2]>/<id>.json   every claim, confirmed or not (sharded so no directory grows huge)
    outbox/<id>                 an empty marker for each claim not yet confirmed: pending() reads
                                only these, never the whole history
    records/r-<name>.json       versioned records (value, version token, write time)
    expiry/<day>/<entry>        an index: one empty marker per write, bucketed by the UTC day of
                                the write, so prune() visits only whole old days
    tmp/                        files being written; published by link/replace, never read
    lock                        the fcntl lock that makes read-modify-write atomic

How each operation stays atomic:

- ``claim`` writes the claim into ``tmp/`` and publishes it with ``os.link``, which fails if
  the name exists: exactly one creator wins and nobody ever sees a half-written claim.
- ``confirm``, ``release``, ``take_over``, ``write`` and ``prune`` read, check and replace
  under one exclusive lock (``flock`` on ``lock`` plus a per-process thread lock, because on
  NFS ``flock`` falls back to POSIX locks, which do not exclude threads of one process).
- Every file is fsynced before it is published, so a crash leaves the old file or the new
  one, never an empty one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lib.core.claims import ClaimKey
from lib.state.base import Claim, ClaimOutcome, Record, record_stem
from lib.support.errors import ConfigError, StateError

__all__ = ["EXPIRY_SECONDS", "FileStore"]

DAY = 86_400.0
EXPIRY_SECONDS = (6 * 7 + 1) * DAY  # DESIGN: state expires 6 weeks + 1 day after its last write
_TMP_MAX_AGE = DAY  # a temp file or bare outbox marker this old was left by a crash
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_MAX_STEM = 120  # keeps record file names well under the 255-byte limit

# flock excludes open file descriptions, but NFS emulates it with per-process POSIX locks:
# this per-path thread lock keeps threads of one process apart on every filesystem.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


def _record_stem(name: str) -> str:
    return record_stem(name, max_length=_MAX_STEM, hash_chars=32)


def _day(now: float) -> int:
    return int(now // DAY)


class FileStore:
    """A StateStore on a local (or NAS-mounted) directory.

    Args:
        directory: where state lives; created if missing.
        namespace: keeps two deployments sharing a directory apart (a subdirectory).
        clock: epoch seconds for record writes (``write`` takes no time); default ``time.time``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        namespace: str = "default",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not _NAMESPACE.fullmatch(namespace):
            raise ConfigError(
                f"state namespace {namespace!r} is not valid: use 1-64 letters, digits, '_', "
                "'-' or '.', not starting with '.' or '-'"
            )
        self._root = Path(directory) / namespace
        self._clock = clock or time.time
        self._claims = self._root / "claims"
        self._outbox = self._root / "outbox"
        self._records = self._root / "records"
        self._expiry = self._root / "expiry"
        self._tmp = self._root / "tmp"
        self._lock_path = self._root / "lock"
        try:
            for sub in (self._claims, self._outbox, self._records, self._expiry, self._tmp):
                sub.mkdir(parents=True, exist_ok=True)
            self._lock_path.touch(exist_ok=True)
            probe = self._write_tmp(b"")
            probe.unlink()
        except OSError as exc:
            raise StateError(
                f"state directory {self._root} is not usable: {exc.strerror or exc} "
                "(check that it exists or can be created and is writable)"
            ) from exc

    @property
    def root(self) -> Path:
        """The namespace directory all files live under."""
        return self._root

    def __repr__(self) -> str:
        return f"FileStore({self._root})"

    # ---- claims ---------------------------------------------------------------------------

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        """Atomically create the claim (``os.link`` fails if it exists); else say who has it."""
        claim = Claim(
            key=key,
            owner=owner,
            lease_until=now + lease_seconds,
            payload=payload,
            created_at=now,
            attempts=1,
        )
        path = self._claim_path(key)
        with self._io(f"claim {key.id}"):
            # The outbox marker goes first: a crash right after publishing the claim must
            # still leave it pending. A stray marker (we lost, or died before linking) is
            # harmless: pending() skips markers whose claim is missing or confirmed.
            self._touch(self._outbox / key.id)
            path.parent.mkdir(exist_ok=True)
            tmp = self._write_tmp(_dump_claim(claim, now))
            try:
                # A claim pruned between our link and our read must not look corrupt: retry.
                for _ in range(3):
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        existing = self._read_claim(path)
                        if existing is None:
                            continue
                        if existing.confirmed:
                            self._drop_stray_marker(key.id)
                            return ClaimOutcome.DONE
                        return ClaimOutcome.HELD
                    # Again after linking: a claimer that saw the pruned predecessor as
                    # confirmed may have dropped the marker we made before.
                    self._touch(self._outbox / key.id)
                    self._mark_expiry(now, f"c-{key.id}")
                    return ClaimOutcome.WON
            finally:
                tmp.unlink()
        raise StateError(f"claim {key.id} kept vanishing while being read; try again")

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        """Mark the claim delivered; False if ``owner`` no longer holds it."""
        path = self._claim_path(key)
        with self._locked(f"confirm {key.id}"):
            current = self._read_claim(path)
            if current is None or current.owner != owner:
                return False
            if not current.confirmed:
                current.confirmed = True
                self._replace(path, _dump_claim(current, now))
                self._mark_expiry(now, f"c-{key.id}")
            self._drop_marker(key.id)
            return True

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        """End the owner's lease now and note why, so the next pending() scan retries it."""
        path = self._claim_path(key)
        with self._locked(f"release {key.id}"):
            current = self._read_claim(path)
            if current is None or current.confirmed or current.owner != owner:
                return False
            current.lease_until = now
            current.last_error = error
            self._touch(self._outbox / key.id)
            self._replace(path, _dump_claim(current, now))
            self._mark_expiry(now, f"c-{key.id}")
            return True

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        """Unconfirmed claims whose lease has ended, oldest first (reads the outbox only)."""
        found: list[Claim] = []
        with self._io("list the outbox"):
            names = os.listdir(self._outbox)
        for name in names:
            claim = self._read_claim(self._claims / name[:2] / f"{name}.json")
            if claim is not None and claim.confirmed:
                self._drop_stray_marker(name)  # left by a claimer that lost to a confirmed claim
            if claim is None or claim.confirmed or claim.lease_until > now:
                continue  # None: being created right now, or its creator died before linking
            if receiver is not None and claim.key.receiver != receiver:
                continue
            found.append(claim)
        found.sort(key=lambda c: (c.created_at, c.key.id))
        return found

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        """Give a pending claim to ``owner`` if it is still as read (same owner and lease)."""
        path = self._claim_path(claim.key)
        with self._locked(f"take over {claim.key.id}"):
            current = self._read_claim(path)
            if (
                current is None
                or current.confirmed
                or current.owner != claim.owner
                or current.lease_until != claim.lease_until
                or current.lease_until > now
            ):
                return False
            current.owner = owner
            current.lease_until = now + lease_seconds
            current.attempts += 1
            self._replace(path, _dump_claim(current, now))
            self._mark_expiry(now, f"c-{claim.key.id}")
            return True

    # ---- records --------------------------------------------------------------------------

    def read(self, name: str) -> Record:
        """Read a record; ``Record()`` (version None) if it does not exist."""
        data = self._read_json(self._records / f"{_record_stem(name)}.json")
        if data is None:
            return Record()
        try:
            value, version = data["value"], data["version"]
        except (KeyError, TypeError):
            raise _corrupt(self._records / f"{_record_stem(name)}.json", "fields missing") from None
        return Record(value=value, version=version)

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        """Write if the stored version is still ``expected_version``; False on conflict."""
        stem = _record_stem(name)
        path = self._records / f"{stem}.json"
        now = self._clock()
        # Each write gets a fresh random version, so a record deleted and re-created can
        # never match a version read before (no ABA).
        body = {"name": name, "version": uuid.uuid4().hex, "written_at": now, "value": value}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        with self._locked(f"write record {stem}"):
            if self.read(name).version != expected_version:
                return False
            self._replace(path, data)
            self._mark_expiry(now, stem)
            return True

    # ---- expiry ---------------------------------------------------------------------------

    def prune(self, now: float) -> int:
        """Delete confirmed claims and records last written ``EXPIRY_SECONDS`` or more ago.

        Every write drops an empty marker into ``expiry/<UTC day of the write>/``. Pruning
        lists that small directory (about 44 day buckets), and only for days that lie wholly
        beyond the expiry checks each marker's entry: deletes it if its own last write is old
        enough (a later write left a newer marker, which keeps it), then drops the bucket. So
        a run that finds nothing to prune costs one listdir, and the work is proportional to
        the writes of the expired days, never to the whole history. Unconfirmed claims are
        never deleted: the outbox defers, it does not drop. Returns the number deleted.
        """
        cutoff = now - EXPIRY_SECONDS
        deleted = 0
        with self._io("list the expiry index"):
            buckets = sorted(int(d) for d in os.listdir(self._expiry) if d.isdigit())
        for day in buckets:
            if (day + 1) * DAY > cutoff:
                break  # this bucket may hold writes that are not expired yet
            bucket = self._expiry / str(day)
            with self._io(f"list {bucket}"):
                markers = os.listdir(bucket)
            for marker in markers:
                with self._locked(f"prune {marker}"):
                    deleted += self._prune_entry(marker, cutoff)
                    with contextlib.suppress(FileNotFoundError):
                        (bucket / marker).unlink()
            with contextlib.suppress(OSError):  # not empty: a late writer, next prune gets it
                bucket.rmdir()
        self._prune_leftovers(now)
        return deleted

    def _prune_entry(self, marker: str, cutoff: float) -> int:
        if marker.startswith("c-"):
            key_id = marker[2:]
            path = self._claims / key_id[:2] / f"{key_id}.json"
            data = self._read_json(path)
            if data is None or not data.get("confirmed") or data.get("updated_at", 0) > cutoff:
                return 0
        elif marker.startswith("r-"):
            path = self._records / f"{marker}.json"
            data = self._read_json(path)
            if data is None or data.get("written_at", 0) > cutoff:
                return 0
        else:
            return 0
        with self._io(f"delete {path}"):
            path.unlink()
        return 1

    def _prune_leftovers(self, now: float) -> None:
        # Temp files, and outbox markers without a claim, are left only by writers that died
        # mid-way; they carry the real clock's mtime, so a day's grace spares live writers.
        old = min(now, time.time()) - _TMP_MAX_AGE
        with contextlib.suppress(OSError):
            for entry in os.scandir(self._tmp):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < old:
                        os.unlink(entry.path)
        with contextlib.suppress(OSError):
            for entry in os.scandir(self._outbox):
                claim = self._claims / entry.name[:2] / f"{entry.name}.json"
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < old and not claim.exists():
                        os.unlink(entry.path)

    # ---- files ----------------------------------------------------------------------------

    def _claim_path(self, key: ClaimKey) -> Path:
        return self._claims / key.id[:2] / f"{key.id}.json"

    def _read_claim(self, path: Path) -> Claim | None:
        data = self._read_json(path)
        if data is None:
            return None
        try:
            return Claim(
                key=ClaimKey.from_fields(data),
                owner=str(data["owner"]),
                lease_until=float(data["lease_until"]),
                payload=dict(data["payload"]),
                created_at=float(data["created_at"]),
                attempts=int(data["attempts"]),
                last_error=data["last_error"],
                confirmed=bool(data["confirmed"]),
            )
        except (KeyError, TypeError, ValueError):
            raise _corrupt(path, "fields missing or of the wrong type") from None

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        """The JSON object in ``path``; None if the file does not exist."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state file {path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
        except ValueError:
            raise _corrupt(path, "not valid JSON (truncated?)") from None
        if not isinstance(data, dict):
            raise _corrupt(path, "not a JSON object")
        return data

    def _write_tmp(self, data: bytes) -> Path:
        tmp = self._tmp / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)  # publish only complete files: a crash must never leave an empty one
        finally:
            os.close(fd)
        return tmp

    def _replace(self, path: Path, data: bytes) -> None:
        with self._io(f"write {path}"):
            path.parent.mkdir(exist_ok=True)
            os.replace(self._write_tmp(data), path)

    def _drop_marker(self, key_id: str) -> None:
        with contextlib.suppress(OSError):
            (self._outbox / key_id).unlink()

    def _drop_stray_marker(self, key_id: str) -> None:
        """Drop an outbox marker whose claim is confirmed (confirmed claims never reopen).

        Under the lock, so prune cannot delete the confirmed claim and a new claim of the
        same key take its place between our check and the unlink.
        """
        with self._locked(f"tidy the outbox marker {key_id}"):
            claim = self._read_json(self._claims / key_id[:2] / f"{key_id}.json")
            if claim is not None and claim.get("confirmed"):
                self._drop_marker(key_id)

    def _touch(self, path: Path) -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

    def _mark_expiry(self, now: float, entry: str) -> None:
        bucket = self._expiry / str(_day(now))
        with self._io(f"index {entry}"):
            for _ in range(3):  # prune may remove an old bucket between mkdir and create
                bucket.mkdir(exist_ok=True)
                try:
                    self._touch(bucket / entry)
                    return
                except FileNotFoundError:
                    continue

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Turn filesystem faults into StateError naming the operation (never a traceback)."""
        try:
            yield
        except StateError:
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise StateError(
                f"file state store could not {what}: {exc.strerror or exc}{where}"
            ) from exc

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """Hold the namespace lock (threads and processes) for one read-modify-write."""
        with self._io(what), _thread_lock(self._lock_path):
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock


def _dump_claim(claim: Claim, now: float) -> bytes:
    body = {
        **claim.key.as_fields(),
        "owner": claim.owner,
        "lease_until": claim.lease_until,
        "payload": claim.payload,
        "created_at": claim.created_at,
        "updated_at": now,
        "attempts": claim.attempts,
        "last_error": claim.last_error,
        "confirmed": claim.confirmed,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _corrupt(path: Path, why: str) -> StateError:
    # Never quote the content: a claim holds the alert, which may hold command output.
    return StateError(
        f"state file {path} is corrupt ({why}); restore it from a backup or delete it "
        "(a deleted claim may be sent once more)"
    )
