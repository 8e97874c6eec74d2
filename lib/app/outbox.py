"""Claim before sending, confirm after: the delivery half of the state protocol.

Every (alert firing, receiver) pair is claimed in the store before anything is sent; only the
run that wins a claim sends it. A send that fails, is rate limited or is deferred releases
its claims, which leaves them in the store's pending outbox; every run delivers that outbox
first. Claims carry the alert, not the rendered text: a redelivery renders again, so what
waited can be merged with what is new.

Receivers that declare ``limits`` (a DingTalk robot's 20 a minute) get a shared
:class:`~lib.state.budget.Budget` in the store: a slot is taken before each message; when the
budget cannot take every group, the groups are merged into one digest; what still does not
fit stays in the outbox. A robot that says "too fast" (130101) is paused for every run.

A send whose answer was lost (:class:`~lib.support.errors.ReceiverUnsure`: a read timeout, 504…)
may have arrived, and robots have no idempotency key. Its claims are released with the
reason prefixed :data:`UNSURE`; the next run resends them once, in messages of their own
marked as a possible repeat (可能重复). If that resend is unsure too they are confirmed —
not sent a third time — and the run says so. Provable failures (refused, 5xx, 130101) keep
the mark and are retried as usual. docs/reliability.md, "Late answers".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lib.core.alerts import Alert
from lib.core.budget import Limit
from lib.core.notification import Message, scrubbed_message
from lib.core.overrides import Overrides
from lib.core.routing import RoutingTable, TagLookup, digest, digest_overrides, plan
from lib.notify.base import Customizable, Receiver
from lib.state.base import Claim, ClaimOutcome, StateStore
from lib.state.budget import Budget
from lib.support.errors import (
    AssistwatchError,
    DeliveryError,
    ReceiverConfigError,
    ReceiverRateLimited,
    ReceiverUnsure,
)

if TYPE_CHECKING:
    from lib.core.muting import Waiting

__all__ = ["UNSURE", "DeliveryTally", "Outbox"]

# Prefix of a released claim's reason when its send may have arrived: resend it once, marked.
UNSURE = "unsure: "


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
    notes: list[str] = field(default_factory=list)  # deferrals by budget: normal, not errors
    failures: list[DeliveryError] = field(default_factory=list)  # for the health report
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
        table: RoutingTable | None = None,
        budgets: Mapping[str, Budget] | None = None,
        tags: Callable[[list[Alert]], TagLookup | None] | None = None,
        muted: Callable[[list[Alert]], list[Alert]] | None = None,
        acked: Callable[[list[Alert]], list[Alert]] | None = None,
        windows: Callable[[dict[str, list[Alert]]], Waiting] | None = None,
    ) -> None:
        self._store = store
        self._receivers = receivers
        self._owner = owner
        self._lease = lease_seconds
        self._clock = clock
        self._log = log
        self._table = table
        self._tags = tags  # alerts → their instance tags, when routes match on tags
        self._muted = muted  # alerts → those a silence mutes now
        self._acked = acked  # alerts → the reminders of firings someone acknowledged
        self._windows = windows  # waiting alerts → held by a maintenance window, or skipped
        # Claims left in the outbox this run because a window holds them: claim id → claim.
        self._left: dict[str, Claim] = {}
        if budgets is None:
            budgets = {
                name: Budget(store, name, limits, clock=clock)
                for name, receiver in receivers.items()
                if (limits := _limits(receiver))
            }
        self._budgets = dict(budgets)
        # (receiver, Alert.key) taken from the outbox whose last send may have arrived.
        self._repeats: set[tuple[str, str]] = set()

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
        full: set[str] = set()  # receivers with no budget now: leave their entries alone
        pending = self._store.pending(self._clock())
        held, skip = self._held_by_windows(pending, tally)
        skipped: dict[str, int] = {}
        for claim in pending:
            receiver = claim.key.receiver
            if receiver not in self._receivers:
                tally.errors.append(
                    f"outbox holds a message for receiver {receiver!r}, which is no longer configured"
                )
                continue
            if claim.key.id in held:  # untouched: the window's end tells it (lib.app.muting)
                self._left[claim.key.id] = claim
                continue
            if claim.key.id in skip:  # a reminder its route's window mutes: never sent, so
                # dropped whatever the budget (deferred, it would go out after the window)
                now = self._clock()
                if self._store.take_over(claim, self._owner, self._lease, now):
                    self._store.confirm(claim.key, self._owner, self._clock())
                    skipped[receiver] = skipped.get(receiver, 0) + 1
                continue
            if receiver in full:
                tally.deferred += 1
                continue
            budget = self._budgets.get(receiver)
            if receiver not in taken and budget is not None and budget.available() < 1:
                full.add(receiver)
                tally.deferred += 1
                tally.notes.append(_full_note(receiver, budget))
                continue
            if not self._store.take_over(claim, self._owner, self._lease, self._clock()):
                continue  # another run took it first
            try:
                alert = Alert.model_validate(claim.payload)
            except ValidationError:
                tally.errors.append(
                    f"outbox entry {claim.key.id} holds no readable alert; left as is"
                )
                continue
            taken.setdefault(receiver, []).append(alert)
            if (claim.last_error or "").startswith(UNSURE):
                self._repeats.add((receiver, alert.key))
        for receiver, count in skipped.items():
            tally.notes.append(
                f"{count} waiting reminder(s) for {receiver} dropped: a maintenance window "
                "mutes its route"
            )
        for receiver, alerts in taken.items():
            taken[receiver] = self._still_worth_sending(receiver, alerts, tally)
        before = tally.alerts_sent
        self.deliver(taken, tally)
        tally.redelivered += tally.alerts_sent - before

    def _still_worth_sending(
        self, receiver: str, alerts: list[Alert], tally: DeliveryTally
    ) -> list[Alert]:
        """Drop what waited in vain: older reminders, reminders of a resolved firing, and
        what a silence added since mutes. Dropped claims are confirmed (done), never sent."""
        from lib.core.reminders import superseded

        send, stale = superseded(alerts)
        muted = _fail_open(self._muted, send, tally, "silences unreadable, waiting alerts")
        send = _without(send, muted)
        acked = _fail_open(self._acked, send, tally, "acknowledgements unreadable, reminders")
        send = _without(send, acked)
        for alert in (*stale, *muted, *acked):
            self._store.confirm(alert.claim_key(receiver), self._owner, self._clock())
        if stale:
            tally.notes.append(
                f"{len(stale)} waiting reminder(s) for {receiver} dropped: a newer reminder or "
                "the resolve tells the same"
            )
        if muted:
            tally.notes.append(f"{len(muted)} waiting alert(s) for {receiver} silenced")
        if acked:
            tally.notes.append(
                f"{len(acked)} waiting reminder(s) for {receiver} dropped: acknowledged"
            )
        return send

    def _held_by_windows(
        self, pending: list[Claim], tally: DeliveryTally
    ) -> tuple[set[str], set[str]]:
        """Claim ids of waiting alerts a maintenance window holds, and of muted reminders.

        Decided as a new alert is (lib.core.muting.waiting). When the windows cannot be
        read, everything waits: the outbox keeps it, and nothing goes out inside a window.
        """
        if self._windows is None:
            return set(), set()
        waiting: dict[str, list[Alert]] = {}
        ids: dict[str, str] = {}  # Muted key (receiver|alert key) → claim id
        for claim in pending:
            receiver = claim.key.receiver
            if receiver not in self._receivers:
                continue
            try:
                alert = Alert.model_validate(claim.payload)
            except ValidationError:
                continue  # said by flush_pending
            waiting.setdefault(receiver, []).append(alert)
            ids[f"{receiver}|{alert.key}"] = claim.key.id
        if not waiting:
            return set(), set()
        try:
            verdict = self._windows(waiting)
        except AssistwatchError as error:
            tally.errors.append(
                f"maintenance windows unreadable; {len(ids)} waiting alert(s) kept in the "
                f"outbox: {error}"
            )
            return set(ids.values()), set()
        held, skip = verdict.keys()
        return {ids[key] for key in held if key in ids}, {ids[key] for key in skip if key in ids}

    def adopt(self, alerts: Mapping[str, list[Alert]]) -> dict[str, list[Alert]]:
        """Take over the claims a window held this run whose window has ended: to deliver now.

        A claim this run did not leave waiting (another run has it, it was told) is skipped.
        """
        won: dict[str, list[Alert]] = {}
        for receiver, alert, claim in self._take_back(alerts):
            won.setdefault(receiver, []).append(alert)
            if (claim.last_error or "").startswith(UNSURE):
                self._repeats.add((receiver, alert.key))
        return won

    def discard(self, alerts: Mapping[str, list[Alert]]) -> int:
        """Confirm, unsent, claims a window held that are not to be told any more (resolved
        inside their window, or silenced since); how many."""
        return sum(
            self._store.confirm(claim.key, self._owner, self._clock())
            for _, _, claim in self._take_back(alerts)
        )

    def _take_back(self, alerts: Mapping[str, list[Alert]]) -> Iterator[tuple[str, Alert, Claim]]:
        """The held claims of ``alerts`` this run left waiting and now takes over."""
        for receiver, items in alerts.items():
            for alert in items:
                claim = self._left.pop(alert.claim_key(receiver).id, None)
                if claim is not None and self._store.take_over(
                    claim, self._owner, self._lease, self._clock()
                ):
                    yield receiver, alert, claim

    def deliver(self, won: Mapping[str, list[Alert]], tally: DeliveryTally) -> None:
        """Send what this run holds claims for; confirm what went out, release the rest.

        Possible repeats (their last send's answer was lost) go first — they are the older
        news — in messages of their own, marked.
        """
        for receiver_name, alerts in won.items():
            fresh = [a for a in alerts if (receiver_name, a.key) not in self._repeats]
            repeats = [a for a in alerts if (receiver_name, a.key) in self._repeats]
            if repeats and not self._deliver_to(receiver_name, repeats, tally, repeat=True):
                # The receiver failed this run: what is fresh waits for the next one.
                self._give_back(receiver_name, fresh, None, tally, quiet=True)
            elif fresh:
                self._deliver_to(receiver_name, fresh, tally)

    def _deliver_to(
        self, receiver_name: str, alerts: list[Alert], tally: DeliveryTally, *, repeat: bool = False
    ) -> bool:
        """Plan, render and send ``alerts``; False when the receiver stopped taking them."""
        base = self._receivers[receiver_name]
        tags = self._tags(alerts) if self._tags is not None else None
        planned = plan(receiver_name, alerts, self._table, tags=tags)
        budget = self._budgets.get(receiver_name)
        if budget is not None and len(planned) > 1 and budget.available() < len(planned):
            # Fewer slots than groups: one digest naming every alert beats a backlog.
            planned = [(digest_overrides(planned), digest(receiver_name, planned))]
        if repeat:
            planned = [(o, n.model_copy(update={"possible_repeat": True})) for o, n in planned]
        # Released again, these keep their mark: the one resend they are owed is still owed.
        marked = {alert.key for alert in alerts} if repeat else set()
        waiting = [alert for _, note in planned for alert in note.alerts]
        for overrides, notification in planned:
            receiver = _customized(base, overrides)
            for message in receiver.render(notification):
                if budget is not None and not budget.acquire():
                    tally.notes.append(_full_note(receiver_name, budget))
                    self._give_back(receiver_name, waiting, None, tally, marked)
                    return False
                covered = _covered(message, notification.alerts)
                try:
                    receiver.send(scrubbed_message(message))  # a message is an outward string
                except ReceiverUnsure as error:
                    self._unsure(receiver_name, covered, error, tally, repeat=repeat)
                    done = {alert.key for alert in covered}
                    rest = [alert for alert in waiting if alert.key not in done]
                    self._give_back(receiver_name, rest, None, tally, marked, quiet=True)
                    return False
                except DeliveryError as error:
                    if isinstance(error, ReceiverRateLimited) and budget is not None:
                        budget.pause(error.pause_seconds)
                    self._give_back(receiver_name, waiting, error, tally, marked)
                    return False
                except AssistwatchError:  # a store outage inside a send: FC retries the run
                    raise
                except Exception as error:  # a library refusing what we built
                    # (httpx.InvalidURL, an IDNA error …): after the claims, so give them back
                    # and say so in one line; raised, the claims would wait out their lease.
                    unexpected = ReceiverConfigError(
                        receiver_name, f"{type(error).__name__} while sending: {str(error)[:120]}"
                    )
                    self._give_back(receiver_name, waiting, unexpected, tally, marked)
                    return False
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
                marked,
            )
            return False
        return True

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

    def _unsure(
        self,
        receiver: str,
        alerts: list[Alert],
        error: ReceiverUnsure,
        tally: DeliveryTally,
        *,
        repeat: bool,
    ) -> None:
        """A message whose answer was lost: resend it once later, or — already the resend —
        confirm it and say it may or may not have arrived."""
        tally.failures.append(error)
        if repeat:
            for alert in alerts:
                self._store.confirm(alert.claim_key(receiver), self._owner, self._clock())
            what = (
                f"answer lost again; {len(alerts)} alert(s) not sent a third time: "
                "they may or may not have arrived"
            )
        else:
            reason = f"{UNSURE}{error}"
            for alert in alerts:
                self._store.release(alert.claim_key(receiver), self._owner, reason, self._clock())
            tally.deferred += len(alerts)
            what = (
                f"answer lost; {len(alerts)} alert(s) sent once more on a later run, "
                "marked as a possible repeat"
            )
        tally.errors.append(f"{error} ({what})")
        self._log.error(
            "delivery unsure", receiver=receiver, reason=str(error), alerts=len(alerts), then=what
        )

    def _give_back(
        self,
        receiver: str,
        alerts: list[Alert],
        error: DeliveryError | None,
        tally: DeliveryTally,
        marked: set[str] | frozenset[str] = frozenset(),
        *,
        quiet: bool = False,
    ) -> None:
        """Release every claim not yet sent: the outbox keeps them for the next run.

        ``error`` None: deferred by the budget (or behind an unsure send, ``quiet``), which
        is not an error of its own. ``marked``: alerts still owed their one marked resend.
        """
        reason = str(error) if error is not None else "over the receiver's budget"
        if quiet:
            reason = "held back: an earlier send to this receiver failed this run"
        for alert in alerts:
            key = alert.claim_key(receiver)
            why = f"{UNSURE}{reason}" if alert.key in marked else reason
            self._store.release(key, self._owner, why, self._clock())
        tally.deferred += len(alerts)
        if error is None:
            if quiet and alerts:
                tally.notes.append(f"{len(alerts)} alert(s) for {receiver} wait for the next run")
            return
        tally.failures.append(error)
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


def _fail_open(
    check: Callable[[list[Alert]], list[Alert]] | None,
    alerts: list[Alert],
    tally: DeliveryTally,
    what: str,
) -> list[Alert]:
    """Those of ``alerts`` ``check`` names; none when it cannot tell (an alert sent beats
    one held back), said in the report."""
    if check is None or not alerts:
        return []
    try:
        return check(alerts)
    except AssistwatchError as error:
        tally.errors.append(f"{what} sent anyway: {error}")
        return []


def _without(alerts: list[Alert], gone: list[Alert]) -> list[Alert]:
    keys = {alert.key for alert in gone}
    return [alert for alert in alerts if alert.key not in keys]


def _limits(receiver: Receiver) -> tuple[Limit, ...]:
    limits = getattr(receiver, "limits", ())
    return tuple(limits) if isinstance(limits, tuple | list) else ()


def _customized(receiver: Receiver, overrides: Overrides) -> Receiver:
    if overrides and isinstance(receiver, Customizable):
        customized: Receiver = receiver.customized(overrides)
        return customized
    return receiver


def _full_note(receiver: str, budget: Budget) -> str:
    until = budget.paused_until()
    if until > 0:
        return f"receiver {receiver} is paused (told to slow down); its alerts wait in the outbox"
    limits = ", ".join(f"{limit.count} per {limit.window:g} s" for limit in budget.limits)
    return f"receiver {receiver} is at its budget ({limits}); the rest wait in the outbox"


def _covered(message: Message, alerts: tuple[Alert, ...]) -> list[Alert]:
    """The alerts a message tells: its ``covers`` list, or the whole notification."""
    if not message.covers:
        return list(alerts)
    wanted = set(message.covers)
    return [alert for alert in alerts if alert.key in wanted]
