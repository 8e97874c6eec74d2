"""Inhibition for a pass: hold what an open source alert explains; tell it once the source ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.alerts import Alert
    from lib.core.inhibition import Held

__all__ = ["hold_inhibited"]


def _record(account: str, region: str) -> str:
    return f"inhibited/{account}/{region}"


def hold_inhibited(
    app: Context, state: Pass, alerts: list[Alert], *, release: bool = True
) -> list[Alert]:
    """The alerts to claim now: those an open source inhibits are held in the store instead,
    and (with ``release``) held ones whose source ended, in a scope this pass looked at, come back.
    """
    from lib.core.inhibition import DEFAULT_INHIBIT_RULES, inhibit

    rules = DEFAULT_INHIBIT_RULES
    if app.table is not None and app.table.inhibit_rules is not None:
        rules = app.table.inhibit_rules
    # A copy: other scopes' threads may add open alerts meanwhile (a checkpoint on a fork).
    told, held = inhibit(alerts, list(state.open_alerts.copy().values()), rules)
    by_scope: dict[tuple[str, str], list[Held]] = {}
    for entry in held:
        by_scope.setdefault((entry.alert.finding.account, entry.alert.finding.region), []).append(
            entry
        )
    for (account, region), entries in by_scope.items():
        state.report.inhibited += len(entries)
        _change(state, _record(account, region), add=entries, drop=())
    if held:
        state.report.notes.append(
            f"inhibited: {len(held)} alert(s) held while the alert that explains them is open "
            "(told if they outlive it)"
        )
    if not release:
        return told
    released, dropped = _released(app, state, alerts)
    # A resolve of a firing still held (or dropped now) is not told: nobody heard it start.
    told = [a for a in told if a.status != "resolved" or (a.fingerprint, a.firing) not in dropped]
    return told + released


def _released(
    app: Context, state: Pass, alerts: list[Alert]
) -> tuple[list[Alert], set[tuple[str, int]]]:
    """Held alerts whose source is no longer open (once per scope per pass), and the
    (fingerprint, firing) of every held firing seen, whose resolves are not to be told."""
    from lib.core.inhibition import release

    out: list[Alert] = []
    held_firings: set[tuple[str, int]] = set()
    for scope in sorted(state.checked_scopes - state.released_scopes):
        state.released_scopes.add(scope)
        name = _record(*scope)
        entries = _load(app, state, name)
        if not entries:
            continue
        held_firings |= {(e.alert.fingerprint, e.alert.firing) for e in entries.values()}
        back, kept = release(list(entries.values()), set(state.open_alerts), alerts)
        kept_keys = {entry.alert.key for entry in kept}
        gone = [key for key in entries if key not in kept_keys]
        if back:
            out += [
                alert.model_copy(update={"reason": f"{alert.reason} (held; its source ended)"})
                for alert in back
            ]
            state.report.notes.append(
                f"inhibited: {len(back)} held alert(s) in {scope[1]} told now: they outlived "
                "the alert that held them"
            )
        if gone:
            _change(state, name, add=(), drop=gone)
    released = {(alert.fingerprint, alert.firing) for alert in out}
    return out, held_firings - released


def _load(app: Context, state: Pass, name: str) -> dict[str, Held]:
    from lib.core.alerts import Alert
    from lib.core.inhibition import Held

    value = app.store.read(name).value
    out: dict[str, Held] = {}
    for key, raw in value.get("held", {}).items():
        try:
            out[key] = Held(Alert.model_validate(raw["alert"]), str(raw["source"]))
        except (KeyError, TypeError, ValueError):
            state.report.errors.append(f"state record {name}: held alert {key} was unreadable")
    return out


def _change(state: Pass, name: str, *, add: Any, drop: Any) -> None:
    added = {
        entry.alert.key: {"alert": entry.alert.model_dump(mode="json"), "source": entry.source}
        for entry in add
    }
    dropped = set(drop)
    stamp = state.started.isoformat()

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        held = {k: v for k, v in dict(current.get("held", {})).items() if k not in dropped}
        held.update(added)
        if held == current.get("held", {}):
            return None
        return {"held": held, "written_at": stamp}

    state.updates.append((name, change))
