"""Properties of the neutralisation every receiver applies to text from the cloud.

Whatever a tenant writes: a robot that honours CommonMark's backslash escapes shows exactly
the (cleaned) text, and one that honours none still finds no heading, link, tag, mention
or code span the tenant opened; ids and paths come out verbatim.
"""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from lib.notify.escape import (
    DINGTALK,
    FEISHU,
    MARKDOWN,
    WECOM,
    Flavour,
    clean,
    one_line,
)

FLAVOURS = st.sampled_from([MARKDOWN, DINGTALK, FEISHU, WECOM])
# Tokens a tenant would use: every markdown marker, every robot's mention, escape codes,
# bidi controls, line breaks of every kind, lone surrogates, and ordinary letters.
TOKENS = st.sampled_from(
    [
        *"#>-+*_~`[]()!<>@|\\=.:/&;\"' \t\n\r",
        "1.",
        "2)",
        "](",
        "<at id=all></at>",
        "<@all>",
        "<font color=warning>",
        "<http://evil>",
        "\x1b[31m",
        "\x1b]8;;http://x\x07",
        "\x9b1m",
        "\x00",
        "\x07",
        "\x7f",
        "\x85",
        "\u2028",
        "\u2029",
        "\u202e",
        "\u2066",
        "\u200f",
        "\ud800",
        "\udfff",
        "\r\n",
        "i-bp1abc",
        "错误",
        "word",
    ]
)
HOSTILE = st.lists(TOKENS | st.characters(), max_size=40).map("".join)
PUNCT = re.compile(r"\\([!-/:-@\[-`{-~])")
BLOCK_START = re.compile(r"^\s*(?:[#>+=*_~`|-]|\d+[.)])")
TAG_OPEN = re.compile(r"<[A-Za-z/!?@]")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(markdown: str) -> str:
    """What a CommonMark renderer displays for text whose only markup is backslash escapes."""
    return PUNCT.sub(r"\1", markdown)


def inert(flavour: Flavour, text: str) -> str:
    text = re.sub(r"<(?=[A-Za-z/!?@])", "＜", text)
    return text.replace("@", "＠") if flavour.at_sign_mentions else text


def unescaped(markdown: str, char: str) -> list[int]:
    """Positions of ``char`` not escaped by an odd number of backslashes."""
    found = []
    for match in re.finditer(re.escape(char), markdown):
        slashes = len(markdown[: match.start()]) - len(markdown[: match.start()].rstrip("\\"))
        if slashes % 2 == 0:
            found.append(match.start())
    return found


def assert_acts_on_nothing(flavour: Flavour, markdown: str) -> None:
    assert "\n" not in markdown
    assert not CONTROL.search(markdown)
    assert not re.search("[\ud800-\udfff]", markdown)
    assert not BLOCK_START.match(markdown), "a line the tenant starts"
    assert "](" not in markdown, "a link, even for a robot that ignores escapes"
    assert not TAG_OPEN.search(markdown), "a tag, autolink or mention"
    if flavour.at_sign_mentions:
        assert "@" not in markdown
    assert unescaped(markdown, "`") == [], "a code span the tenant opens"
    assert unescaped(markdown, "[") == []


@given(flavour=FLAVOURS, text=HOSTILE)
def test_free_text_is_shown_exactly_and_acts_on_nothing(flavour: Flavour, text: str) -> None:
    """GIVEN any text WHEN escaped as free text THEN it is one line that opens nothing, and a
    CommonMark robot shows exactly the cleaned text (only tag and mention openers swapped)."""
    markdown = flavour.text(text)
    assert_acts_on_nothing(flavour, markdown)
    assert shown(markdown) == inert(flavour, one_line(text))
    for char in "*_~":  # one run alone cannot pair up; two runs are escaped
        positions = unescaped(markdown, char)
        assert not positions or re.fullmatch(f"{re.escape(char)}+", _span(markdown, positions))


def _span(markdown: str, positions: list[int]) -> str:
    return markdown[positions[0] : positions[-1] + 1]


@given(flavour=FLAVOURS, text=HOSTILE)
def test_output_lines_each_act_on_nothing_and_show_the_cleaned_line(
    flavour: Flavour, text: str
) -> None:
    """GIVEN any output WHEN escaped line by line THEN there are as many lines as in the
    cleaned output, none opens anything, and each shows its cleaned line exactly."""
    lines = flavour.lines(text)
    cleaned = clean(text).split("\n")
    assert len(lines) == len(cleaned)
    for line, original in zip(lines, cleaned, strict=True):
        assert not CONTROL.search(line)
        assert "](" not in line
        assert not TAG_OPEN.search(line)
        assert not BLOCK_START.match(line)
        assert unescaped(line, "`") == []
        assert shown(line) == inert(flavour, original.rstrip())
    joined = "\n".join(lines)
    for char in "*_~":  # across the quoted paragraph, emphasis cannot pair
        positions = unescaped(joined, char)
        assert not positions or re.fullmatch(f"{re.escape(char)}+", _span(joined, positions))


@given(flavour=FLAVOURS, text=HOSTILE)
def test_a_code_span_never_ends_early_and_never_opens_a_tag(flavour: Flavour, text: str) -> None:
    """GIVEN any name WHEN written as code THEN exactly our two backticks, one line, no tag,
    mention or link; its text is the cleaned one-line name but for backticks."""
    code = flavour.code(text)
    assert code.startswith("`")
    assert code.endswith("`")
    assert code.count("`") == 2
    assert "\n" not in code
    assert not CONTROL.search(code)
    assert not TAG_OPEN.search(code)
    assert "](" not in code
    expected = inert(flavour, one_line(text).replace("`", "ˋ").replace("](", "] (")) or " "
    assert code[1:-1] == expected


PATHISH = st.text(
    alphabet=st.sampled_from(
        [*"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:()[]+=,~*#$%"]
    ),
    min_size=1,
    max_size=60,
)


@given(flavour=FLAVOURS, value=PATHISH)
def test_ids_names_and_paths_stay_verbatim_in_code(flavour: Flavour, value: str) -> None:
    """GIVEN an id, name or path (punctuation included, no markup openers) WHEN shown as code
    THEN it is there byte for byte, so an engineer can paste it into a console."""
    assume("](" not in value)
    assert flavour.code(value) == f"`{value}`"


@given(
    flavour=FLAVOURS,
    value=st.from_regex(r"\A[a-z][a-z0-9]{0,3}-[a-z0-9]{4,24}\Z"),
)
def test_cloud_ids_pass_through_free_text_unchanged(flavour: Flavour, value: str) -> None:
    """GIVEN an instance, invoke or region id WHEN it appears in free text THEN unchanged."""
    assert flavour.text(value) == value
    assert flavour.title(value) == value


@given(text=HOSTILE)
def test_clean_is_idempotent_and_keeps_printable_text(text: str) -> None:
    """GIVEN any text WHEN cleaned THEN cleaning again changes nothing, and what was neither
    a control, an escape sequence nor a bidi control is kept in order."""
    once = clean(text)
    assert clean(once) == once
    assert not CONTROL.search(once.replace("\n", ""))
    plain = "".join(ch for ch in text if ch.isalnum())
    kept = "".join(ch for ch in once if ch.isalnum())
    if not any(ch in text for ch in "\x1b\x9b\x9d"):
        assert kept == plain  # no escape sequence: every letter and digit is kept, in order
    else:  # a sequence takes its own parameters and final byte ("\x1b[31m" eats "31m")
        assert len(kept) <= len(plain)


def test_the_reported_attacks_come_out_inert() -> None:
    """The issue's examples, by name: a heading through a command name, a link, Feishu's and
    WeCom's mention of everyone, each robot's flavour."""
    name = "deploy.sh`\n\n### INJECTED HEADING"
    assert MARKDOWN.code(name) == "`deploy.shˋ ### INJECTED HEADING`"
    assert MARKDOWN.title(name) == "deploy.sh` ### INJECTED HEADING"
    assert MARKDOWN.text("[click](http://evil)") == r"\[click\]\(http://evil)"
    assert FEISHU.text("<at id=all></at>") == "＜at id=all>＜/at>"
    assert WECOM.text("<@all>") == "＜@all>"
    assert DINGTALK.text("@13800001111") == "＠13800001111"
    assert MARKDOWN.lines("\x1b[31mred\x1b[0m \u202eevil") == ["red evil"]


def test_a_stray_terminal_title_sequence_does_not_swallow_the_error_after_it() -> None:
    """GIVEN output with an unterminated OSC (``ESC ]0;title``) before the error lines
    WHEN cleaned THEN only the escape goes; a terminated OSC hyperlink keeps its text."""
    assert clean("\x1b]0;build\nerror: disk full") == "0;build\nerror: disk full"
    assert clean("\x1b]8;;http://evil.example\x07link\x1b]8;;\x1b\\ ok") == "link ok"
    assert clean("\x9d0;t\x9c\x9b31mred\x1b[0m") == "red"
