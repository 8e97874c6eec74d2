"""Function Compute entry point: ``handler.handler`` (FC 3.0, python3.10 / python3.12).

FC calls ``handler(event, context)`` with the event as bytes and a context carrying the
request id, short-lived STS credentials, the function's settings and its region.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# The zip's dependencies (python/) come first: FC's runtime has modules of its own on the path
# (tablestore 5.4.1, an old pyOpenSSL …), and the versions we ship and test with must win.
_DEPENDENCIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python")
if os.path.isdir(_DEPENDENCIES) and sys.path[:1] != [_DEPENDENCIES]:
    sys.path.insert(0, _DEPENDENCIES)

from lib.edges.entry import handle  # noqa: E402  # after the path is set

__all__ = ["handler"]


def handler(event: bytes, context: Any) -> str | dict[str, Any]:
    """Run one poll, event batch or action; return the JSON run report."""
    return handle(event, context)
