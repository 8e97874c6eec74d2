"""``python -m lib``: the assistwatch command line."""

from __future__ import annotations

import sys

from lib.edges.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
