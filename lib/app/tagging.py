"""Instance tags for a pass: read once, only when a route, silence or expected exit needs them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.scopes import SELF_ACCOUNT, assumed_roles, scope_for
from lib.support.errors import ApiError

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass
    from lib.core.findings import Finding
    from lib.core.routing import TagLookup
    from lib.core.silences import Silence

__all__ = ["tag_lookup"]


def tag_lookup(
    app: Context, state: Pass, findings: list[Finding], silences: list[Silence] | None = None
) -> TagLookup | None:
    """Instance tags of ``findings``, when a route, silence or expected exit needs them.

    None (and no API call) when nothing matches on tags.
    """
    from lib.core.routing import needs_tags

    matchers = [silence.matcher() for silence in silences or ()]
    if not needs_tags(app.table, matchers, app.expected):
        return None
    if state.tags is None:
        from lib.cloud.tags import InstanceTags, NotYet

        def fetch(account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
            if account not in state.credentials and not _assume(app, account, state):
                raise NotYet(account)
            return scope_for(app, account, region, state).assistant.instance_tags(ids)

        state.tags = InstanceTags(fetch)
    state.tags.prefetch(findings)
    return state.tags.lookup


def _assume(app: Context, account: str, state: Pass) -> bool:
    """Assume ``account``'s role early (an outbox redelivery, before the pass assumes it).

    False when the run has no credentials of its own yet, no role names that account, or
    STS refuses (then the pass's own attempt reports it, not as a tag error).
    """
    from lib.app.discovery import role_for

    own = state.credentials.get(SELF_ACCOUNT)
    role = role_for(app, account)
    if own is None or role is None:
        return False
    try:
        state.credentials[account] = assumed_roles(app).credentials_for(role, own)
    except ApiError:
        return False  # the pass assumes it again and reports the STS error as what it is
    return True
