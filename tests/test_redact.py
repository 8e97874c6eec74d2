"""Secrets in command output and URLs are masked before anyone sees them."""

from __future__ import annotations

import pytest

from lib.support.redact import mask_url, redact_text

# A realistic AccessKey id, assembled so that no file holds one whole (credential scanners).
_AK = "LTAI" + "5tAbCdEfGhIjKlMn12"

TOKEN = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56f3a9"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2", "hunter2"),
        ("mysql -u root --password hunter2 && DB_PASSWORD=hunter2", "hunter2"),
        ('{"AccessKeySecret": "Q7yR8s9T0uV1wX2yZ3aB4cD5eF6gH7"}', "Q7yR8s9T0uV1wX2yZ3aB4cD5eF6gH7"),
        ("export ALIBABA_CLOUD_ACCESS_KEY_ID=" + _AK + "1234", _AK[:-2]),
        ("using key " + _AK[:-2] + "OpQr", _AK[:-2] + "Op"),
        ("x-acs-security-token: CAIS1234567890abcdefgh", "CAIS1234567890abcdefgh"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("curl -H 'Authorization: ACS3-HMAC-SHA256 Credential=LTAIx,Signature=abc'", "abc"),
        ("GET https://oapi.dingtalk.com/robot/send?access_token=" + TOKEN, TOKEN[:-4]),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("git clone https://deploy:s3cr3tpass@git.example.com/repo.git", "s3cr3tpass"),
        ("git clone https://ghp_abcdefghijklmnop1234@github.com/x/y", "ghp_abcdefghijklmnop1234"),
        ("api_key: 'sk-live-1234567890'", "sk-live-1234567890"),
    ],
)
def test_output_lines_with_secrets_are_masked(text: str, secret: str) -> None:
    """GIVEN output carrying a secret WHEN redacted THEN the secret is gone, masks remain."""
    redacted = redact_text(text)
    assert secret not in redacted
    assert "****" in redacted


def test_literal_password_hunter2_is_masked_whole() -> None:
    """GIVEN the classic 'password=hunter2' WHEN redacted THEN nothing of the password shows."""
    assert redact_text("password=hunter2") == "password=****"


def test_private_key_block_is_masked_even_when_cut_by_the_output_limit() -> None:
    """GIVEN a full key block and a block whose BEGIN line was dropped
    WHEN redacted THEN no base64 key line survives."""
    body = (
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nAbCdEfGhIjKlMnOpQrStUvWxYz012345\n"
    )
    full = f"before\n-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\nafter"
    tail_only = f"{body}-----END PRIVATE KEY-----\ndone"
    unterminated = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}"
    for text in (full, tail_only, unterminated):
        redacted = redact_text(text)
        assert "MIIEvQIBADAN" not in redacted
        assert "AbCdEfGhIjKl" not in redacted
    assert redact_text(full).startswith("before\n")
    assert redact_text(full).endswith("after")


def test_ordinary_output_is_left_alone() -> None:
    """GIVEN output without secrets WHEN redacted THEN it is unchanged."""
    text = "Installing nginx 1.24...\nexit status 1: disk full on /dev/vda1\nkeyword: deploy"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&timestamp=1&sign=abc",
            "https://oapi.dingtalk.com",
        ),
        (
            "http://127.0.0.1:8099/services/T0AB12CD/B0EF34GH/xoxbSecretPart",
            "http://127.0.0.1:8099",
        ),
        ("https://bob:hunter2@hooks.example.com/x", "https://hooks.example.com"),
        (
            "https://open.feishu.cn/open-apis/bot/v2/hook/8f0d3b2a-1c2d-4e5f-9a8b-7c6d5e4f3a2b",
            "https://open.feishu.cn",
        ),
        ("https://[::1]:9000/hook?key=abcdef", "https://[::1]:9000"),
    ],
)
def test_a_receiver_url_is_shown_as_scheme_and_host_only(url: str, shown: str) -> None:
    """GIVEN robot and webhook URLs whose credential sits in the query, the path (Slack-style
    short segments no heuristic would call a token) or the userinfo WHEN shown in an error or
    a log THEN only scheme://host remains."""
    assert mask_url(url) == shown


def test_unparseable_url_is_masked_whole() -> None:
    """GIVEN garbage with a bad port WHEN masked THEN nothing of it is echoed."""
    assert mask_url("http://h:notaport/secret") == "****"


def _unbounded_repeats(pattern: str) -> tuple[bool, bool]:
    """(has a lazy unbounded repeat, has an unbounded repeat inside another), per the parser."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # python 3.10
        import sre_parse  # type: ignore[no-redef]

    unbounded = sre_parse.MAXREPEAT
    lazy = nested = False

    def walk(items: object, depth: int) -> None:
        nonlocal lazy, nested
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name in {"MAX_REPEAT", "MIN_REPEAT"}:
                _low, high, body = arg
                deep = depth + (high == unbounded)
                if high == unbounded and name == "MIN_REPEAT":
                    lazy = True
                if high == unbounded and depth:
                    nested = True
                walk(body, deep)
            elif name == "SUBPATTERN":
                walk(arg[-1], depth)
            elif name == "BRANCH":
                for branch in arg[1]:
                    walk(branch, depth)
            elif name in {"ASSERT", "ASSERT_NOT"}:
                walk(arg[1], depth)

    walk(sre_parse.parse(pattern), 0)
    return lazy, nested


def test_command_output_cannot_make_redaction_rescan_what_it_already_read() -> None:
    """GIVEN the patterns that scan command output (anyone who can make a command print writes
    it) WHEN inspected THEN none has an unbounded lazy quantifier or an unbounded quantifier
    inside another: the shapes that made 24 KB of ``a.a.a.…`` take 22 s (bench/redact.py
    prints the cost per 100 KB, adversarial beside benign)."""
    import re

    from lib.support import redact

    patterns = {
        name: value.pattern for name, value in vars(redact).items() if isinstance(value, re.Pattern)
    }
    assert patterns
    offenders = {name: _unbounded_repeats(p) for name, p in patterns.items()}
    assert {name: found for name, found in offenders.items() if any(found)} == {}


@pytest.mark.parametrize(
    "noise",
    ["a." * 4000, "a-" * 4000, "key." * 2000, "--password" * 800, "a+" * 4000, "x" * 8000],
)
def test_secrets_after_hostile_runs_are_still_masked(noise: str) -> None:
    """GIVEN output whose first 8 KB is a run built to slow a regex down, then a password
    WHEN redacted THEN the password is masked and the run is kept as it was."""
    redacted = redact_text(noise + "\nDB_PASSWORD=hunter22 done")
    assert "hunter22" not in redacted
    assert redacted.startswith(noise[:100])
    assert redacted.endswith("DB_PASSWORD=**** done")


def test_key_tails_are_masked_line_by_line_and_end_lines_alone_stay() -> None:
    """GIVEN key lines before an END line, END lines with nothing before them, and text
    between WHEN redacted THEN the key lines are masked, everything else kept verbatim."""
    text = "log start\nMIIEvQIBADANBgkqhkiG9w0B\nAbCdEfGhIjKlMnOpQrSt\n-----END PRIVATE KEY-----\n"
    text += "-----END PRIVATE KEY-----\nnot base64!\n-----END EC PRIVATE KEY-----\ntail"
    redacted = redact_text(text)
    assert "MIIEvQ" not in redacted
    assert "AbCdEf" not in redacted
    assert redacted == (
        "log start\n**** -----END PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"
        "not base64!\n-----END EC PRIVATE KEY-----\ntail"
    )
