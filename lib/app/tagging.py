"""Instance tags for a pass: read once, only when a route, silence or expected exit needs them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.scopes import scope_for

if TYPE_CHECKING:
    from lib.app.core import App
    from lib.app.run import Pass
    from lib.findings import Finding
    from lib.routing import TagLookup
    from lib.silences import Silence

__all__ = ["tag_lookup"]


def tag_lookup(
    app: App, state: Pass, findings: list[Finding], silences: list[Silence] | None = None
) -> TagLookup | None:
    """Instance tags of ``findings``, when a route, silence or expected exit needs them.

    None (and no API call) when nothing matches on tags.
    """
    from lib.routing import needs_tags

    matchers = [silence.matcher() for silence in silences or ()]
    if not needs_tags(app.table, matchers, app.expected):
        return None
    if state.tags is None:
        from lib.tags import InstanceTags, NotYet

        def fetch(account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
            if account not in state.credentials:
                raise NotYet(account)  # its role is assumed later in the run
            return scope_for(app, account, region, state).assistant.instance_tags(ids)

        state.tags = InstanceTags(fetch)
    state.tags.prefetch(findings)
    return state.tags.lookup
