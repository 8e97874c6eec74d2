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


def test_dingtalk_url_keeps_host_and_path_and_the_tokens_last_four() -> None:
    """GIVEN a robot URL with its token and signature WHEN masked
    THEN host/path stay, the token shows as ****f3a9, the signature is gone."""
    url = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&timestamp=1&sign=abc%2Bdef%3D"
    masked = mask_url(url)
    assert masked.startswith("https://oapi.dingtalk.com/robot/send?")
    assert "access_token=****f3a9" in masked
    assert TOKEN[:-4] not in masked
    assert "abc" not in masked
    assert "timestamp=1" in masked


def test_url_credentials_and_token_paths_are_masked() -> None:
    """GIVEN URLs with a password and with a token in the path WHEN masked THEN both are hidden."""
    assert (
        mask_url("https://bob:hunter2@hooks.example.com/x")
        == "https://bob:****@hooks.example.com/x"
    )
    feishu = "https://open.feishu.cn/open-apis/bot/v2/hook/8f0d3b2a-1c2d-4e5f-9a8b-7c6d5e4f3a2b"
    masked = mask_url(feishu)
    assert masked.startswith("https://open.feishu.cn/open-apis/bot/v2/hook/****")
    assert "8f0d3b2a" not in masked


def test_unparseable_url_is_masked_whole() -> None:
    """GIVEN garbage with a bad port WHEN masked THEN nothing of it is echoed."""
    assert mask_url("http://h:notaport/secret") == "****"
