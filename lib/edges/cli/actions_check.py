"""``assistwatch check``'s line about acting on an alert (signed links in messages, README).

Actions are on only with both ``ASSISTWATCH_PUBLIC_URL`` and ``ASSISTWATCH_ACTIONS_SECRET``;
with one alone they are off and nothing else changes, which this line makes visible (a
forgotten secret would otherwise just mean messages without links). A public URL on FC's
default ``fcapp.run`` domain is warned about: FC makes browsers download HTML there, so the
pages need a custom domain (docs/decisions.md, the audit of #14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.edges.cli.preflight import Line

if TYPE_CHECKING:
    from lib.support.settings import Settings

__all__ = ["action_lines"]

_DEFAULT_DOMAIN = "fcapp.run"


def action_lines(settings: Settings) -> list[Line]:
    """No line when neither variable is set; else whether links are on, and why not."""
    url, secret = settings.public_url, settings.actions_secret
    if url is None and secret is None:
        return []
    if url is None or secret is None:
        given, missing = (
            ("PUBLIC_URL", "ACTIONS_SECRET") if secret is None else ("ACTIONS_SECRET", "PUBLIC_URL")
        )
        why = f"ASSISTWATCH_{given} is set without ASSISTWATCH_{missing}"
        return [Line("warn", "actions", f"off: {why} (both are needed for links in messages)")]
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == _DEFAULT_DOMAIN or host.endswith("." + _DEFAULT_DOMAIN):
        return [
            Line(
                "warn",
                "actions",
                f"on, but {host} is FC's default domain, where browsers download the pages "
                "instead of showing them: bind a custom domain (README, Acting on an alert)",
            )
        ]
    return [Line("ok", "actions", f"on: messages carry signed links to {url}/act")]
