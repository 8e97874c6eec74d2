"""Text from outside is well-formed Unicode before anything stores, signs or sends it.

JSON may carry a lone surrogate (``"\\ud800"``): valid JSON, but not a character, so it
cannot be encoded as UTF-8 and breaks whatever writes it later (a state record, a signed
request, a message), long after the point where it came in. Two policies, one per edge:

- an *event* is input someone sent us: :func:`lone_surrogate_at` finds the first such
  string so the trigger edge can refuse the event with one line naming the field;
- an *API answer* is data we must still tell about: :func:`without_lone_surrogates`
  replaces each lone surrogate with U+FFFD, so a command named ``"deploy\\ud800"`` is told
  as ``deploy�`` and every other alert of the run goes out.

Both walk iteratively: a nesting as deep as the JSON parser allows cannot exhaust the stack.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["has_surrogate_escape", "lone_surrogate_at", "without_lone_surrogates"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# In JSON text a lone surrogate can only arrive as an escape (UTF-8 bytes cannot hold one);
# valid pairs (emoji) arrive escaped too and are combined by the parser, so this is a
# cheap "might need the walk" test, never a verdict.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
REPLACEMENT = "\ufffd"


def has_surrogate_escape(raw: bytes) -> bool:
    """True when JSON text ``raw`` may decode to a string holding a lone surrogate."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def _children(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    if isinstance(value, list | tuple):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return []


def lone_surrogate_at(value: Any) -> str | None:
    """The path (``data.invokeId``, ``regions[0]``) of the first lone surrogate, or None.

    Keys count too: the path then names the key's parent and says so.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "(the event itself)"
            continue
        if isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return f"a key of {path or '(top)'}"
        stack.extend(reversed(_children(item, path)))
    return None


def without_lone_surrogates(value: Any) -> Any:
    """``value`` (JSON-like) with every lone surrogate in a string replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    # (source container, its copy): children are copied as the walk reaches them
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, copy = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child))
            elif isinstance(item, str):
                child = _SURROGATE.sub(REPLACEMENT, item)
            else:
                child = item
            if isinstance(copy, dict):
                copy[_SURROGATE.sub(REPLACEMENT, key) if isinstance(key, str) else key] = child
            else:
                copy.append(child)
    return root
