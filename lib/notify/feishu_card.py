"""Feishu card parts whose actions are buttons (message card JSON 1.0, ``msg_type: interactive``).

Pure. Each entry (lib.notify.render.Entry) becomes a ``markdown`` element with its text and,
when it carries actions (lib.notify.actions.ActionRow), an ``action`` element of ``button``s
that open the row's signed links (``url``; ``type`` default, 确认 primary), under the
alert's fields and before its output (a second ``markdown`` element). A cause's row
(a task failing on many instances) shows its label above its buttons; the operator page is
one button at the end. ``layout: flow`` lets the five buttons wrap on a phone instead of
squeezing into halves or thirds.

Parts are packed against the card's real serialized body (the caller's ``size``), entries
never cut in two; an entry too big alone has its output shortened first, as for markdown.
The caller compares the part count with the markdown form and keeps the markdown links when
the buttons would need more messages (lib.notify.feishu).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lib.notify.actions import ActionRow, Button
from lib.notify.render import Entry, json_text_bytes, split_markdown

__all__ = ["CardPart", "action_element", "markdown_element", "pack_card"]

LAYOUT = "flow"
_PRIMARY = frozenset({"ack"})
_SEPARATOR = "\n\n"
# Room kept below the limit, like the markdown packing's margin (lib.notify.chat).
_MARGIN_BYTES = 64

Element = dict[str, Any]


def markdown_element(text: str) -> Element:
    """A card ``markdown`` element (Feishu's card markdown, escaped by the FEISHU flavour)."""
    return {"tag": "markdown", "content": text}


def _button(button: Button) -> Element:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": button.label},
        "url": button.url,
        "type": "primary" if button.action in _PRIMARY else "default",
    }


def action_element(row: ActionRow) -> Element:
    """The row's buttons: plain-text labels from our catalogue, signed URLs."""
    return {"tag": "action", "layout": LAYOUT, "actions": [_button(b) for b in row.buttons]}


def _row_elements(row: ActionRow | None) -> list[Element]:
    if row is None:
        return []
    if not row.buttons:  # a line that only counts what was left out
        return [markdown_element(row.label)]
    title = [markdown_element(f"**{row.label}**")] if row.titled else []
    return [*title, action_element(row)]


@dataclass(frozen=True)
class CardPart:
    """One card's elements, the same part as markdown (Message.text), and its alert keys."""

    elements: list[Element]
    text: str
    covers: tuple[str, ...]


@dataclass(frozen=True)
class _Block:
    elements: list[Element]
    text: str
    covers: tuple[str, ...]


def _block(entry: Entry, room: Callable[[list[Element]], int]) -> _Block:
    rows = _row_elements(entry.actions)
    plain = replace(entry, actions=None)
    text = ""
    if plain.render():
        limit = room([*rows, markdown_element("")])
        [text] = split_markdown([plain], limit, measure=json_text_bytes)
    # The buttons go under the fields, before the output, as the markdown links do.
    fields, rest = text, ""
    if rows and plain.output and text.startswith(plain.body):
        fields, rest = plain.body, text[len(plain.body) :].lstrip("\n")
    elements = [markdown_element(t) for t in (fields,) if t] + rows
    elements += [markdown_element(rest)] if rest else []
    shown = [piece for piece in (text, entry.actions.markdown() if entry.actions else "") if piece]
    return _Block(elements, "\n".join(shown), entry.covers)


def pack_card(
    entries: Sequence[Entry],
    *,
    header: Callable[[int, int], str],
    mentions: str,
    size: Callable[[list[Element]], int],
    limit: int,
) -> list[CardPart]:
    """The entries in as few cards as fit ``limit`` bytes as ``size`` measures a body.

    Args:
        entries: the message's entries, some carrying actions.
        header: the part's head text for part i of n ("" for none).
        mentions: the mention text ending every part ("" for none).
        size: the serialized body's bytes for a card with these elements (signature too).
        limit: the robot's body limit.
    """
    widest = header(999, 999)
    head = [markdown_element(widest)] if widest else []
    tail = [markdown_element(mentions)] if mentions else []
    budget = limit - _MARGIN_BYTES

    def room(extra: list[Element]) -> int:
        return budget - size([*head, *extra, *tail])

    parts: list[list[_Block]] = [[]]
    for entry in entries:
        block = _block(entry, room)
        current = parts[-1]
        body = [e for b in current for e in b.elements]
        if current and size([*head, *body, *block.elements, *tail]) > budget:
            parts.append([])
        parts[-1].append(block)
    cards = []
    for index, blocks in enumerate(parts, start=1):
        top = header(index, len(parts))
        elements = [markdown_element(top)] if top else []
        elements += [e for b in blocks for e in b.elements] + tail
        texts = [top, *(b.text for b in blocks), mentions]
        covers = tuple(key for b in blocks for key in b.covers)
        cards.append(CardPart(elements, _SEPARATOR.join(t for t in texts if t), covers))
    return cards
