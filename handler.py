"""Function Compute entry point: ``handler.handler`` (FC 3.0, python3.10 / python3.12).

FC calls ``handler(event, context)`` with the event as bytes and a context carrying the
request id, short-lived STS credentials, the function's settings and its region.
"""

from __future__ import annotations

from typing import Any

from lib.entry import handle

__all__ = ["handler"]


def handler(event: bytes, context: Any) -> str | dict[str, Any]:
    """Run one poll, event batch or action; return the JSON run report."""
    return handle(event, context)
