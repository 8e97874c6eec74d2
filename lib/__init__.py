"""assistwatch: watch Cloud Assistant results and tell people, once, when they fail."""

from __future__ import annotations

__all__: list[str] = []
