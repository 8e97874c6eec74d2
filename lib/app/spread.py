"""``spread``: a function over indexes on a few threads, results in order (scopes, accounts)."""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["spread"]

_T = TypeVar("_T")


def spread(one: Callable[[int], _T], count: int, workers: int) -> list[_T]:
    """``one(i)`` for every i < count, on at most ``workers`` threads, each in its own copy of
    the caller's context; results in index order.

    One worker: in the calling thread, in order. A few lines of threading rather than
    concurrent.futures, whose import (it pulls in logging) costs every cold start ~10 ms.
    An exception stops its worker and the others' next picks; it is raised here once every
    thread has ended (callers catch what they expect inside ``one``).
    """
    if workers <= 1 or count == 0:
        return [contextvars.copy_context().run(one, index) for index in range(count)]
    results: list[_T | None] = [None] * count
    crashed: list[BaseException] = []
    # Copied here: a new thread starts with an empty context, not its creator's.
    contexts = [contextvars.copy_context() for _ in range(count)]
    taken = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(taken)
                if index >= count or crashed:
                    return
            try:
                results[index] = contexts[index].run(one, index)
            except BaseException as error:  # re-raised in the caller's thread below
                with lock:
                    crashed.append(error)
                return

    threads = [
        threading.Thread(target=worker, name=f"scope-{n}", daemon=True)
        for n in range(min(workers, count))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if crashed:
        raise crashed[0]
    return results  # type: ignore[return-value]  # every index was filled
