"""The state contract every backend implements (DESIGN "State protocol").

Claim before sending, confirm after. A claim is keyed by (fingerprint, firing number,
receiver), is created atomically (exactly one concurrent creator wins), carries the alert it
is about, an owner token and a lease longer than the function's timeout. A claim that is not
confirmed — the send failed, was deferred by a rate limit, or its run died — is *pending*
once its lease has ended: every run scans pending claims first, takes them over (a compare-
and-swap on owner and lease) and delivers them. That outbox is how "deferred, never dropped"
is kept.

Besides claims the store keeps small versioned records (watermarks, a robot's minute budget,
silences, watches, open alerts): read returns the value and a version; write succeeds only
if the version is still the one read, so concurrent instances never overwrite each other.

Times are epoch seconds (float) handed in by the caller, so tests drive a fake clock.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from lib.core.claims import ClaimKey

__all__ = ["Claim", "ClaimOutcome", "Record", "StateStore", "record_stem"]


class ClaimOutcome(enum.Enum):
    """The result of trying to claim a key."""

    WON = "won"  # created now: this run must send, then confirm
    HELD = "held"  # exists and is not confirmed: another run is on it, or it waits in the outbox
    DONE = "done"  # exists and was confirmed: already told


@dataclass
class Claim:
    """A claim as stored."""

    key: ClaimKey
    owner: str
    lease_until: float
    payload: dict[str, Any]  # the serialized Alert (re-rendered on redelivery)
    created_at: float
    attempts: int = 0
    last_error: str | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class Record:
    """A small shared record and the version it was read at (None: it does not exist)."""

    value: dict[str, Any] = field(default_factory=dict)
    version: str | None = None


class StateStore(Protocol):
    """Claims, the pending outbox, leases and versioned records. Raises StateError on outage."""

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        """Atomically create the claim; report who has it if it already exists."""
        ...

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        """Mark the claim delivered; False if ``owner`` no longer holds it (taken over)."""
        ...

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        """The send failed or was deferred: end the lease now so the next run retries it."""
        ...

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        """Unconfirmed claims whose lease has ended, oldest first."""
        ...

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        """Compare-and-swap a pending claim to a new owner; False if someone else won."""
        ...

    def read(self, name: str) -> Record:
        """Read a shared record (an empty Record with version None if absent)."""
        ...

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        """Write if the stored version is still ``expected_version``; False on conflict."""
        ...

    def prune(self, now: float) -> int:
        """Delete what expired (6 weeks + 1 day after its last write); return how many.

        Backends with native expiry (Table Store TTL, an OSS lifecycle rule) may return 0.
        Unconfirmed claims are never pruned: they are the outbox.
        """
        ...


_SAFE_NAME_CHAR = re.compile(r"[A-Za-z0-9_-]")


def record_stem(name: str, *, max_length: int, hash_chars: int | None = None) -> str:
    """An injective, slash-free key part for a record name, for files and object keys.

    Unsafe characters are percent-encoded; a stem longer than ``max_length`` keeps 80
    characters and ends in the name's SHA-256 (``hash_chars`` of it; None: all). Each backend
    keeps its own figures: they name records already stored.
    """
    stem = "".join(
        ch if _SAFE_NAME_CHAR.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in name
    )
    if len(stem) > max_length:
        stem = f"{stem[:80]}~{hashlib.sha256(name.encode()).hexdigest()[:hash_chars]}"
    return f"r-{stem}"
