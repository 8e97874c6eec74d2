"""Where credentials come from, and that their secrets never show."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from lib.support.credentials import (
    Credentials,
    credentials_from_context,
    credentials_from_env,
    resolve_credentials,
)
from lib.support.errors import ConfigError

SECRET = "s3cr3t-AccessKeySecret-value"
TOKEN = "CAIS-sts-token-value-xyz"


def fc_context(**creds: str) -> SimpleNamespace:
    """The FC python3.10 context shape: context.credentials with snake_case fields."""
    return SimpleNamespace(request_id="r-1", credentials=SimpleNamespace(**creds))


def test_fc_context_credentials_are_used_with_their_sts_token():
    """GIVEN an FC context carrying STS credentials
    WHEN credentials are read from it
    THEN the id, secret and token come through."""
    ctx = fc_context(access_key_id="STS.id", access_key_secret=SECRET, security_token=TOKEN)

    creds = credentials_from_context(ctx)

    assert creds is not None
    assert creds.access_key_id == "STS.id"
    assert creds.access_key_secret.get_secret_value() == SECRET
    assert creds.security_token is not None
    assert creds.security_token.get_secret_value() == TOKEN


@pytest.mark.parametrize(
    "ctx",
    [
        None,
        SimpleNamespace(request_id="r"),  # python3.12: no credentials field at all
        SimpleNamespace(credentials=None),  # function without a role
        fc_context(access_key_id="", access_key_secret="", security_token=""),
        fc_context(access_key_id="id", access_key_secret="  ", security_token=TOKEN),
    ],
)
def test_context_without_usable_credentials_gives_none(ctx):
    """GIVEN a context without credentials, or with empty values
    WHEN credentials are read from it
    THEN there are none (and nothing breaks)."""
    assert credentials_from_context(ctx) is None


def test_context_credentials_as_mapping_are_accepted():
    """GIVEN a context whose credentials are a plain dict (as some local emulators pass)
    WHEN credentials are read
    THEN they are used; an empty token means no token."""
    ctx = SimpleNamespace(
        credentials={"access_key_id": "id", "access_key_secret": SECRET, "security_token": ""}
    )
    creds = credentials_from_context(ctx)
    assert creds is not None
    assert creds.security_token is None


def test_environment_credentials_are_read_from_standard_variables():
    """GIVEN the standard ALIBABA_CLOUD_* variables
    WHEN credentials are read from the environment
    THEN they are used, a trailing newline stripped."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIid",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET + "\n",
    }
    creds = credentials_from_env(env)
    assert creds == Credentials("LTAIid", SecretStr(SECRET), None)


def test_half_configured_environment_names_the_missing_variable():
    """GIVEN only the AccessKey id in the environment
    WHEN credentials are read
    THEN a ConfigError names the secret variable to set."""
    with pytest.raises(ConfigError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        credentials_from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIid"})


def test_context_wins_over_environment():
    """GIVEN credentials both in the context and in the environment
    WHEN the invocation's credentials are resolved
    THEN the context's (the function role's) are used."""
    ctx = fc_context(access_key_id="STS.ctx", access_key_secret=SECRET, security_token=TOKEN)
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIenv", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "x"}
    assert resolve_credentials(ctx, env).access_key_id == "STS.ctx"


def test_environment_is_used_when_context_has_none():
    """GIVEN a python3.12 context (no credentials) and the variables set
    WHEN the credentials are resolved
    THEN the environment's are used, with the STS token."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.env",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
    }
    creds = resolve_credentials(SimpleNamespace(request_id="r"), env)
    assert creds.access_key_id == "STS.env"
    assert creds.security_token is not None


def test_no_credentials_anywhere_says_what_to_set():
    """GIVEN neither context credentials nor variables
    WHEN the credentials are resolved
    THEN a ConfigError tells which variables to set (or to give the function a role)."""
    with pytest.raises(ConfigError) as info:
        resolve_credentials(None, {})
    text = str(info.value)
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in text
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in text
    assert "role" in text


def test_credentials_repr_and_str_never_show_secret_or_token():
    """GIVEN credentials with a secret and an STS token
    WHEN they are printed (repr, str, f-string, in a container)
    THEN neither the secret nor the token appears, the AccessKey id does."""
    creds = Credentials("LTAIid", SecretStr(SECRET), SecretStr(TOKEN))
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert SECRET not in text
        assert TOKEN not in text
        assert "LTAIid" in text


def test_credentials_are_frozen():
    """GIVEN credentials
    WHEN code tries to swap the secret
    THEN it cannot (they are shared across threads of one invocation)."""
    creds = Credentials("LTAIid", SecretStr(SECRET))
    with pytest.raises(AttributeError):
        creds.access_key_id = "other"  # type: ignore[misc]
