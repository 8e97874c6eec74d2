"""Steps that only tidy up (outbox markers, pruning) log a fault and let the run go on.

Only what protects delivery — a claim, a confirm, a release, the records written after the
claims — may fail a run for FC to retry. Deleting an outbox marker once its claim is
confirmed, or pruning expired entries, keeps nothing safe: a marker left behind is dropped
by a later ``pending()`` scan (its claim is confirmed), a prune left undone is done by the
next run. Failing the run for them would only hold its other claims until their lease ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lib.support.errors import StateError

__all__ = ["tidy"]

T = TypeVar("T")


def tidy(what: str, step: Callable[[], T], default: T) -> T:
    """Run a tidy-up ``step``; on a store fault, log one warning and return ``default``."""
    try:
        return step()
    except StateError as error:
        from lib.support.log import get_logger

        get_logger().warning("tidy-up failed", what=what, reason=str(error), retried="next run")
        return default
