"""Mask secrets in text people will read: command output, URLs in error messages.

Command output and parameters can hold keys, tokens and passwords (DESIGN "Messages"), so
everything a receiver shows from an instance goes through :func:`redact_text` first, and
every robot or webhook URL named in an error or a log goes through :func:`mask_url`
(scheme://host only). Registered secrets are removed by :mod:`lib.support.scrubber`.
Patterns err on the side of masking: a false positive costs a few characters of output,
a false negative leaks a credential into a chat group.
"""

from __future__ import annotations

import re

__all__ = ["mask_secret", "mask_url", "redact_text"]

MASK = "****"

# Long values keep their last four characters so people can tell two tokens apart;
# short ones (passwords) are masked whole, since four characters of seven is most of it.
_KEEP_TAIL_FROM = 16

_SECRET_WORDS = r"(?:key|secret|token|passw(?:or)?d|pwd|credentials?|signature)"  # noqa: S105

# Every pattern below runs over untrusted text (anyone who can make a command print writes
# it), so each must be linear in its input: no lazy or nested quantifier that can rescan a
# run, and every name pattern starts only where its run starts (a lookbehind rejects every
# later start in O(1)), so a run like ``a.a.a.…`` is scanned once, not once per position.
# A name is matched greedily to its run's end, then the secret word must end it: the
# backtracking that needs is bounded by the run, and the run is scanned from one start only.
# bench/redact.py prints adversarial against benign cost.
_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40})PRIVATE KEY-----")
_PRIVATE_KEY_END = re.compile(r"-----END ([A-Z0-9 ]{0,40})PRIVATE KEY-----")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}[ \t]*\r?")
_URL_USERINFO = re.compile(
    r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)([^/\s:@]+)(?::([^/\s@]*))?@"
)
_AUTHORIZATION = re.compile(r"(?i)\b(authorization[\"']?[ \t]*[=:][ \t]*[\"']?)([^\r\n\"']+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{4,})")
_WHSEC = re.compile(r"\bwhsec_[A-Za-z0-9+/=]+")
_ACCESS_KEY_ID = re.compile(r"\bLTAI[A-Za-z0-9]{8,40}\b")
_SIGNED_URL_SIGN = re.compile(r"(?i)([?&]sign=)([^&\s\"']+)")
# Command-line flags with the value after a space: --password hunter2, -secret x.
_FLAG = re.compile(r"(?i)(?<![\w-])(--?[\w-]*" + _SECRET_WORDS + r")([ \t]+)([^\s\-]\S*)")
# name=value / name: value / "name": "value" where the name ends in a secret word
# (password, DB_PASSWORD, AccessKeySecret, x-acs-security-token, access_token …).
_ASSIGNMENT = re.compile(
    r"(?i)(?<![\w.-])([\w.-]*" + _SECRET_WORDS + r"(?:[_.-]?(?:id|secret|value))?)"
    r"([\"']?[ \t]*[=:][ \t]*)"
    r"(\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"'&,;]+)"
)


def mask_secret(value: str) -> str:
    """``****`` plus the last four characters of a long value, or ``****`` alone."""
    if len(value) >= _KEEP_TAIL_FROM:
        return MASK + value[-4:]
    return MASK


def _mask_assignment(match: re.Match[str]) -> str:
    name, sep, value = match.group(1), match.group(2), match.group(3)
    if value[:1] in "\"'" and len(value) >= 2:
        quote_char = value[0]
        return f"{name}{sep}{quote_char}{mask_secret(value[1:-1])}{quote_char}"
    return f"{name}{sep}{mask_secret(value)}"


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1), match.group(2), match.group(3)
    if password is None:
        # A lone userinfo is usually a token (https://TOKEN@host): mask it whole.
        return f"{scheme}{MASK}@"
    return f"{scheme}{user}:{MASK}@"


def _mask_private_keys(text: str) -> str:
    """Mask key blocks, complete or cut off by the output limit, before the other patterns.

    A block runs from its BEGIN line to its END line or the end of the text. A tail whose
    BEGIN line fell outside the output (base64 lines, then an END line) is found from its
    END line backwards, one line at a time, never further back than the previous mask: each
    character is looked at a bounded number of times.
    """
    if "PRIVATE KEY-----" not in text:
        return text
    out: list[str] = []
    done = 0  # text[:done] is already in out
    pos = 0
    # The next BEGIN and END at or after pos, searched again only once pos passes them (a
    # search per loop would rescan the rest of the text once per key line).
    begin = _PRIVATE_KEY_BEGIN.search(text)
    end = _PRIVATE_KEY_END.search(text)
    while True:
        if begin is not None and begin.start() < pos:
            begin = _PRIVATE_KEY_BEGIN.search(text, pos)
        if end is not None and end.start() < pos:
            end = _PRIVATE_KEY_END.search(text, pos)
        if begin is None and end is None:
            break
        if begin is not None and (end is None or begin.start() < end.start()):
            close = _PRIVATE_KEY_END.search(text, begin.end())
            stop = len(text) if close is None else close.end()
            out.append(text[done : begin.start()])
            out.append(f"-----BEGIN {begin.group(1)}PRIVATE KEY----- {MASK}")
            done = pos = stop
            continue
        assert end is not None  # narrowed above: one of the two was found
        start = end.start()
        while True:  # walk back over whole base64 lines ending right before `start`
            line_end = start - 1
            if line_end < done or text[line_end] != "\n":
                break
            line_start = text.rfind("\n", done, line_end) + 1 or done
            if not _BASE64_LINE.fullmatch(text, line_start, line_end):
                break
            start = line_start
        if start < end.start():  # at least one key line before the END line
            out.append(text[done:start])
            out.append(f"{MASK} -----END {end.group(1)}PRIVATE KEY-----")
            done = end.end()
        pos = end.end()
    out.append(text[done:])
    return "".join(out)


def redact_text(text: str) -> str:
    """Return ``text`` with keys, tokens, passwords and private keys masked.

    Args:
        text: free text such as decoded command output.

    Returns:
        The same text with each secret replaced by ``****`` (long values keep their
        last four characters).
    """
    text = _mask_private_keys(text)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _WHSEC.sub("whsec_" + MASK, text)
    text = _ACCESS_KEY_ID.sub(lambda m: "LTAI" + MASK + m.group(0)[-4:], text)
    text = _SIGNED_URL_SIGN.sub(lambda m: m.group(1) + MASK, text)
    text = _FLAG.sub(lambda m: m.group(1) + m.group(2) + mask_secret(m.group(3)), text)
    return _ASSIGNMENT.sub(_mask_assignment, text)


def mask_url(url: str) -> str:
    """Return ``url`` safe to show: ``scheme://host`` only (:func:`lib.support.scrubber.show_url`).

    Robot and webhook URLs carry their credential in the query (DingTalk's access_token),
    in the path (Feishu, Slack-style ``/services/T…/B…/secret``) or in the userinfo; which
    part is secret cannot be guessed reliably, so none of it is shown. Anything that does
    not parse as a URL with a host is masked whole.
    """
    from lib.support.scrubber import show_url

    return show_url(url)
