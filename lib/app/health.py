"""The watcher reports on itself: one rate-limited "assistwatch unhealthy" message.

Auth errors, sustained throttling (three runs in a row), a store outage and a misconfigured
receiver are things a person must fix, and a log line nobody reads does not get them fixed.
:class:`HealthReporter` turns a run's errors into one message to the fallback receiver, at
most once an hour unless the set of problems changes. Its memory (when it last told, how
many runs in a row were throttled) is a store record, kept in the instance as well so an
outage of the store itself can still be told, once per warm instance per interval.

The message goes through the fallback receiver's own ``render``, as a synthetic alert, so
it reads like any other message on every kind of receiver.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from lib.core.alerts import Alert
from lib.core.catalogue import Classification
from lib.core.findings import Finding
from lib.core.notification import Notification, scrubbed_message
from lib.notify.base import Receiver
from lib.state.base import StateStore
from lib.support.errors import (
    ApiAuthError,
    ApiTransientError,
    DeliveryError,
    ReceiverConfigError,
    ReceiverRateLimited,
    StateError,
)
from lib.support.redact import redact_text
from lib.support.scrubber import scrub

__all__ = ["RECORD", "HealthReporter", "problems_of"]

RECORD = "health/unhealthy"
SUSTAINED_RUNS = 3  # throttled this many runs in a row is "sustained"
_PROBLEM_TEXT_LIMIT = 300


def problems_of(errors: Sequence[BaseException]) -> tuple[dict[str, str], bool]:
    """(kind → one line, throttled) for the errors a person must act on. Pure.

    Kinds: ``auth``, ``state``, ``receiver:<name>``. Throttling is returned separately: it
    counts only when sustained.
    """
    problems: dict[str, str] = {}
    throttled = False
    for error in errors:
        text = redact_text(scrub(str(error)))[:_PROBLEM_TEXT_LIMIT]
        if isinstance(error, ApiAuthError):
            problems.setdefault("auth", f"credentials or RAM permissions rejected: {text}")
        elif isinstance(error, StateError):
            problems.setdefault("state", f"state store unavailable: {text}")
        elif isinstance(error, ReceiverConfigError):
            problems.setdefault(f"receiver:{error.receiver}", f"receiver misconfigured: {text}")
        elif isinstance(error, ReceiverRateLimited) or (
            isinstance(error, ApiTransientError) and "throttl" in error.code.lower()
        ):
            throttled = True
    return problems, throttled


class HealthReporter:
    """Tells the fallback receiver when the watcher itself needs a person."""

    def __init__(
        self,
        receiver: Receiver | None,
        *,
        store: StateStore | None = None,
        clock: Callable[[], float] | None = None,
        interval_seconds: float = 3600.0,
        log: Any = None,
    ) -> None:
        self._receiver = receiver
        self._store = store
        self._clock = clock or time.time
        self._interval = interval_seconds
        self._log = log
        self._memory: dict[str, Any] = {}  # the record as last known, for store outages

    def observe(self, errors: Sequence[BaseException]) -> bool:
        """Take a run's errors; send one unhealthy message if due. True if one was sent.

        Never raises: a broken fallback receiver must not break the run that reports it.
        """
        now = self._clock()
        problems, throttled = problems_of(errors)
        state, version, readable = self._read()
        runs = int(state.get("throttled_runs", 0)) + 1 if throttled else 0
        if runs >= SUSTAINED_RUNS:
            problems["throttling"] = (
                f"throttled in {runs} runs in a row: raise ASSISTWATCH_API_QPS headroom, "
                "shard the poll, or ask for a higher API quota"
            )
        kinds = sorted(problems)
        due = bool(problems) and (
            kinds != state.get("kinds") or now - float(state.get("last_sent", 0)) >= self._interval
        )
        sent = False
        if due and self._receiver is not None:
            sent = self._send(problems, now)
        updated = dict(state, throttled_runs=runs)
        if sent:
            updated.update(last_sent=now, kinds=kinds)
        if not problems and not throttled:
            updated = {"throttled_runs": 0, **({"kinds": []} if state.get("kinds") else {})}
        if updated != state:
            self._memory = updated
            if readable and self._store is not None:
                with contextlib.suppress(StateError):  # a lost race or outage only repeats
                    self._store.write(RECORD, updated, version)
        return sent

    def _read(self) -> tuple[dict[str, Any], str | None, bool]:
        if self._store is None:
            return dict(self._memory), None, False
        try:
            record = self._store.read(RECORD)
        except StateError:
            return dict(self._memory), None, False
        return dict(record.value), record.version, True

    def _send(self, problems: dict[str, str], now: float) -> bool:
        assert self._receiver is not None
        notification = _notification(self._receiver.name, problems, now)
        try:
            for message in self._receiver.render(notification):
                self._receiver.send(scrubbed_message(message))
        except DeliveryError as error:
            if self._log is not None:
                self._log.error("unhealthy report not delivered", reason=str(error))
            return False
        return True


def _notification(receiver: str, problems: dict[str, str], now: float) -> Notification:
    moment = datetime.fromtimestamp(now, timezone.utc)
    detail = "; ".join(problems[kind] for kind in sorted(problems))
    finding = Finding(
        account="self",
        provider="eflo",  # no console link: this is about the watcher, not an instance
        region="-",
        kind="command",
        invoke_id="assistwatch",
        instance_id="assistwatch",
        status="Unhealthy",
        error_code="AssistwatchUnhealthy",
        error_info=detail,
        name="assistwatch",
        finished_at=moment,
        classification=Classification(
            code="AssistwatchUnhealthy",
            category="watcher",
            severity="critical",
            explanation_zh="assistwatch 自身运行异常，失败可能无法及时通知。",
            explanation_en="assistwatch itself is failing; failures may go untold.",
            hint_zh="按 ErrorInfo 修复（AccessKey/RAM 授权、状态存储、机器人配置），再运行 assistwatch check。",
            hint_en="Fix what ErrorInfo names (keys/RAM grant, state store, robot settings), "
            "then run assistwatch check.",
        ),
    )
    alert = Alert(
        fingerprint="assistwatch-unhealthy",
        firing=int(now // 3600),
        group="assistwatch unhealthy",
        reason="the watcher reports on itself",
        starts_at=moment,
        finding=finding,
    )
    return Notification(receiver=receiver, group="assistwatch unhealthy", alerts=(alert,))
