"""Text from the cloud is data, never markup: neutralise it for each receiver's flavour.

Command names, file names, target directories, ErrorInfo and output are written by whoever
runs commands on the fleet; a message must show them, not obey them. Every string from the
cloud passes one of these functions on its way into a message:

- :func:`clean` removes what no reader should get: control characters, ANSI escape
  sequences, bidi overrides and isolates (a name that reads differently than it is), and
  turns lone surrogates (not valid UTF-8) into U+FFFD so nothing downstream can crash.
- :func:`one_line` is :func:`clean` with every line break and run of blanks made one space:
  titles, names, ErrorInfo.
- A :class:`Flavour` knows one receiver's markup: ``code`` writes an id, name or path as an
  inline code span (verbatim and copyable; only a backtick, which would end the span, becomes
  ``ˋ``), ``text`` writes free text with the markdown that would render escaped (CommonMark
  backslash escapes), and ``lines`` does the same for output, one line at a time.

What makes text *act* is made inert even for a renderer that honours no backslash escape
(DingTalk, WeCom and Feishu document their markdown subsets, not their escaping): a line
never starts with a marker (``\\#``), a link's ``](`` is always broken (``\\]\\(``), and a
``<`` that would open a tag, an autolink or a mention (Feishu ``<at id=all></at>``, WeCom
``<@all>``) becomes the full-width ``＜``. DingTalk's mention syntax is ``@`` + mobile or
user id in the text: there ``@`` becomes ``＠``. Sources in docs/decisions.md "Markup
injection".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = [
    "DINGTALK",
    "FEISHU",
    "MARKDOWN",
    "WECOM",
    "Flavour",
    "clean",
    "one_line",
]

# ANSI/VT100 sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), the 8-bit CSI
# and OSC introducers, and two-character escapes (ESC + one byte). An OSC (a terminal title,
# a hyperlink) is removed only with its terminator and within its line: a stray ``ESC ]``
# loses two characters, never the error lines after it. Each scan stops at the next
# introducer, so matching is linear in the input.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9b-\x9d\n]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[@-Z\\-_]?"
)
# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides, isolates and
# marks (U+061C, U+200E/F, U+202A–E, U+2066–9); lone surrogates.
_DROP = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udfff]"
)
_NEWLINES = re.compile("\r\n|[\r\u0085\u2028\u2029]")
_BLANKS = re.compile(r"\s+")
# Inline markdown that always renders: code, links and images, tables; a backslash that
# would escape the punctuation after it.
_INLINE = re.compile(r"([`\[\]|])|\\(?=[!-/:-@\[-`{-~])")
_EMPHASIS = "*_~"
_EMPHASIS_RUN = {ch: re.compile(re.escape(ch) + "+") for ch in _EMPHASIS}
_LINK_TAIL = re.compile(r"(?<=\\\])\(")  # the "(" right after an escaped "]"
# "<" that opens an HTML tag, an autolink, a comment or a mention (``<at``, ``<@``).
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?@])")
# Markers that make a block when a line starts with them: headings, quotes, list items,
# setext underlines, thematic breaks, fences, ordered items ("1." "1)").
_LINE_START = re.compile(r"^(\s*)([#>+=\-*_~])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])")


def _lone_surrogate(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def clean(text: str) -> str:
    """``text`` without control characters, ANSI escapes or bidi controls; ``\\n`` kept.

    Line breaks of every kind (CR LF, CR, NEL, U+2028/9) become ``\\n``, a tab a space, a
    lone surrogate U+FFFD.
    """
    text = _NEWLINES.sub("\n", text).replace("\t", " ")
    text = _ANSI.sub("", text)
    return _DROP.sub(_lone_surrogate, text)


def one_line(text: str) -> str:
    """:func:`clean`, then line breaks and runs of blanks as one space, trimmed."""
    return _BLANKS.sub(" ", clean(text)).strip()


@dataclass(frozen=True)
class Flavour:
    """How one receiver's markdown is neutralised.

    Attributes:
        name: the receiver kind ("dingtalk", "feishu", "wecom", "markdown").
        at_sign_mentions: ``@`` + id in the text is a mention (DingTalk).
    """

    name: str
    at_sign_mentions: bool = False

    def _inert(self, text: str) -> str:
        text = _TAG_OPEN.sub("＜", text)
        if self.at_sign_mentions:
            text = text.replace("@", "＠")
        return text

    def code(self, value: object) -> str:
        """An id, name or path as an inline code span: verbatim but for a backtick.

        One line; a backtick (which would end the span, and cannot be escaped inside one)
        becomes ``ˋ``; ``](`` becomes ``] (`` for a renderer without code spans.
        """
        text = one_line(str(value)).replace("`", "ˋ").replace("](", "] (")
        return f"`{self._inert(text) or ' '}`"

    def text(self, value: object) -> str:
        """Free text on one line, with everything that would render escaped."""
        line = one_line(str(value))
        return self._line(line, _emphasis_in(line))

    def ours(self, markdown: str) -> str:
        """Our own markdown (the catalogue's texts): kept, but no tag or mention can open."""
        return self._inert(markdown)

    def title(self, value: object) -> str:
        """A title (plain text in every robot): one line, mentions inert, no escapes."""
        return self._inert(one_line(str(value)))

    def lines(self, value: str) -> list[str]:
        """Multi-line text (command output) as safe lines, one per line of ``value``.

        The lines are shown as one quoted paragraph, where emphasis may span lines: an
        emphasis character is escaped wherever it is when the whole text has two runs of it.
        """
        text = clean(value)
        emphasis = _emphasis_in(text)
        return [self._line(line.rstrip(), emphasis) for line in text.split("\n")]

    def _line(self, line: str, emphasis: str) -> str:
        escape = _INLINE if not emphasis else _inline_with(emphasis)
        line = escape.sub(_backslashed, line)
        line = _LINK_TAIL.sub(r"\(", line)
        line = _LINE_START.sub(r"\1\\\2", line, count=1)
        line = _ORDERED.sub(r"\1\\\2", line, count=1)
        return self._inert(line)


def _backslashed(match: re.Match[str]) -> str:
    return "\\" + match.group()


def _emphasis_in(text: str) -> str:
    """The emphasis characters with two or more runs in ``text``: only those can pair up.

    One run alone (``password=****``, ``DB_PASSWORD``) renders as itself, so it is left as
    written rather than shown with backslashes by a renderer that ignores escapes.
    """
    return "".join(ch for ch in _EMPHASIS if len(_EMPHASIS_RUN[ch].findall(text)) >= 2)


@functools.lru_cache(maxsize=8)
def _inline_with(emphasis: str) -> re.Pattern[str]:
    return re.compile(_INLINE.pattern.replace("|])", "|" + re.escape(emphasis) + "])", 1))


MARKDOWN = Flavour("markdown")
DINGTALK = Flavour("dingtalk", at_sign_mentions=True)
FEISHU = Flavour("feishu")
WECOM = Flavour("wecom")
