"""Claim before sending, confirm after: the delivery half of the state protocol.

Every (alert firing, receiver) pair is claimed in the store before anything is sent; only the
run that wins a claim sends it. A send that fails, is rate limited or is deferred releases
its claims, which leaves them in the store's pending outbox; every run delivers that outbox
first. Claims carry the alert, not the rendered text: a redelivery renders again, so what
waited can be merged with what is new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from lib.alerts import Alert
from lib.errors import (
    DeliveryError,
    ReceiverConfigError,
    ReceiverRateLimited,
)
from lib.notify.base import Message, Receiver
from lib.routing import group
from lib.state.base import ClaimOutcome, StateStore

__all__ = ["DeliveryTally", "Outbox"]


@dataclass
class DeliveryTally:
    """What the outbox did in one run, for the run report."""

    claimed: int = 0  # alert×receiver claims this run won
    suppressed: int = 0  # already told, or another run is telling it right now
    messages_sent: int = 0
    alerts_sent: int = 0  # alert×receiver pairs confirmed delivered
    deferred: int = 0  # left in the outbox for a later run
    redelivered: int = 0  # outbox entries from earlier runs delivered now
    errors: list[str] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)


class Outbox:
    """Claims, sends and confirms; delivers what earlier runs left pending."""

    def __init__(
        self,
        store: StateStore,
        receivers: Mapping[str, Receiver],
        *,
        owner: str,
        lease_seconds: float,
        clock: Callable[[], float],
        log: Any,
    ) -> None:
        self._store = store
        self._receivers = receivers
        self._owner = owner
        self._lease = lease_seconds
        self._clock = clock
        self._log = log

    def claim(
        self, alerts: Mapping[str, list[Alert]], tally: DeliveryTally
    ) -> dict[str, list[Alert]]:
        """Claim each (alert, receiver); return the alerts this run must send, per receiver."""
        won: dict[str, list[Alert]] = {}
        for receiver, items in alerts.items():
            for alert in items:
                key = alert.claim_key(receiver)
                payload = alert.model_dump(mode="json")
                outcome = self._store.claim(key, payload, self._owner, self._lease, self._clock())
                if outcome is ClaimOutcome.WON:
                    won.setdefault(receiver, []).append(alert)
                    tally.claimed += 1
                else:
                    tally.suppressed += 1
        return won

    def flush_pending(self, tally: DeliveryTally) -> None:
        """Take over and deliver claims earlier runs left unconfirmed."""
        taken: dict[str, list[Alert]] = {}
        for claim in self._store.pending(self._clock()):
            receiver = claim.key.receiver
            if receiver not in self._receivers:
                tally.errors.append(
                    f"outbox holds a message for receiver {receiver!r}, which is no longer configured"
                )
                continue
            if not self._store.take_over(claim, self._owner, self._lease, self._clock()):
                continue  # another run took it first
            try:
                taken.setdefault(receiver, []).append(Alert.model_validate(claim.payload))
            except ValidationError:
                tally.errors.append(
                    f"outbox entry {claim.key.id} holds no readable alert; left as is"
                )
        before = tally.alerts_sent
        self.deliver(taken, tally)
        tally.redelivered += tally.alerts_sent - before

    def deliver(self, won: Mapping[str, list[Alert]], tally: DeliveryTally) -> None:
        """Send what this run holds claims for; confirm what went out, release the rest."""
        for receiver_name, alerts in won.items():
            receiver = self._receivers[receiver_name]
            waiting = [alert for note in group(receiver_name, alerts) for alert in note.alerts]
            for notification in group(receiver_name, alerts):
                if not waiting:
                    break
                for message in receiver.render(notification):
                    covered = _covered(message, notification.alerts)
                    try:
                        receiver.send(message)
                    except DeliveryError as error:
                        self._give_back(receiver_name, waiting, error, tally)
                        waiting = []
                        break
                    self._confirm(receiver_name, covered, tally)
                    tally.messages_sent += 1
                    tally.sent.append(message)
                    done = {alert.key for alert in covered}
                    waiting = [alert for alert in waiting if alert.key not in done]
            if waiting:  # a renderer that left alerts out: keep them, say so
                self._give_back(
                    receiver_name,
                    waiting,
                    DeliveryError(receiver_name, "some alerts were in no rendered message"),
                    tally,
                )

    def _confirm(self, receiver: str, alerts: Iterable[Alert], tally: DeliveryTally) -> None:
        for alert in alerts:
            key = alert.claim_key(receiver)
            if self._store.confirm(key, self._owner, self._clock()):
                tally.alerts_sent += 1
            else:
                # Our lease ran out and another run took the claim over: it will confirm.
                self._log.warning(
                    "claim taken over before confirm", receiver=receiver, alert=alert.key
                )

    def _give_back(
        self, receiver: str, alerts: list[Alert], error: DeliveryError, tally: DeliveryTally
    ) -> None:
        """Release every claim not yet sent: the outbox keeps them for the next run."""
        for alert in alerts:
            key = alert.claim_key(receiver)
            self._store.release(key, self._owner, str(error), self._clock())
        tally.deferred += len(alerts)
        kind = (
            "rate limited"
            if isinstance(error, ReceiverRateLimited)
            else "misconfigured"
            if isinstance(error, ReceiverConfigError)
            else "unreachable"
        )
        tally.errors.append(f"{error} ({kind}; {len(alerts)} alert(s) kept for the next run)")
        self._log.error(
            "delivery failed", receiver=receiver, reason=str(error), kept=len(alerts), kind=kind
        )


def _covered(message: Message, alerts: tuple[Alert, ...]) -> list[Alert]:
    """The alerts a message tells: its ``covers`` list, or the whole notification."""
    if not message.covers:
        return list(alerts)
    wanted = set(message.covers)
    return [alert for alert in alerts if alert.key in wanted]
