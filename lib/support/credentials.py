"""Alibaba Cloud credentials, read fresh for every invocation and never cached here.

FC 3.0's python3.10 runtime hands short-lived STS credentials in ``context.credentials``
(``access_key_id``, ``access_key_secret``, ``security_token``); python3.12 and local runs
use the standard ``ALIBABA_CLOUD_*`` environment variables instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from lib.support.errors import ConfigError

__all__ = [
    "ENV_ACCESS_KEY_ID",
    "ENV_ACCESS_KEY_SECRET",
    "ENV_SECURITY_TOKEN",
    "Credentials",
    "CurrentCredentials",
    "credentials_from_context",
    "credentials_from_env",
    "resolve_credentials",
]

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, with the STS token when it is temporary.

    The repr shows the AccessKey id only: the secret and the token are ``SecretStr``.
    """

    access_key_id: str
    access_key_secret: SecretStr
    security_token: SecretStr | None = None


def _clean(value: object) -> str | None:
    # Values pasted into consoles often carry a trailing newline; empty means "not set".
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _field(obj: object, *names: str) -> object:
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return None


def credentials_from_context(context: object) -> Credentials | None:
    """Read the STS credentials FC puts in the invocation context.

    Args:
        context: the FC context (or None); ``context.credentials`` may be absent, None,
            an object with attributes or a mapping, and its values may be empty.

    Returns:
        The credentials, or None when the context carries no usable AccessKey pair.
    """
    raw = _field(context, "credentials") if context is not None else None
    if raw is None:
        return None
    key_id = _clean(_field(raw, "access_key_id", "accessKeyId"))
    secret = _clean(_field(raw, "access_key_secret", "accessKeySecret"))
    token = _clean(_field(raw, "security_token", "securityToken"))
    if key_id is None or secret is None:
        return None
    return Credentials(
        access_key_id=key_id,
        access_key_secret=SecretStr(secret),
        security_token=SecretStr(token) if token else None,
    )


def credentials_from_env(environ: Mapping[str, str]) -> Credentials | None:
    """Read ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``_ACCESS_KEY_SECRET`` / ``_SECURITY_TOKEN``.

    Returns:
        The credentials, or None when neither the id nor the secret is set.

    Raises:
        ConfigError: only one of the id and the secret is set (a half-configured key
            would otherwise surface later as a confusing signature error).
    """
    key_id = _clean(environ.get(ENV_ACCESS_KEY_ID))
    secret = _clean(environ.get(ENV_ACCESS_KEY_SECRET))
    token = _clean(environ.get(ENV_SECURITY_TOKEN))
    if key_id is None and secret is None:
        return None
    if key_id is None or secret is None:
        missing = ENV_ACCESS_KEY_ID if key_id is None else ENV_ACCESS_KEY_SECRET
        present = ENV_ACCESS_KEY_SECRET if key_id is None else ENV_ACCESS_KEY_ID
        raise ConfigError(f"{present} is set but {missing} is not: set both, or neither")
    return Credentials(
        access_key_id=key_id,
        access_key_secret=SecretStr(secret),
        security_token=SecretStr(token) if token else None,
    )


def resolve_credentials(context: object, environ: Mapping[str, str]) -> Credentials:
    """The credentials for this invocation: the FC context first, then the environment.

    Raises:
        ConfigError: no credentials anywhere; the message says what to set.
    """
    found = credentials_from_context(context) or credentials_from_env(environ)
    if found is None:
        raise ConfigError(
            "no Alibaba Cloud credentials were found. Give the function a role (FC passes its STS "
            f"credentials in the context) or set {ENV_ACCESS_KEY_ID} and "
            f"{ENV_ACCESS_KEY_SECRET} (and {ENV_SECURITY_TOKEN} for STS credentials)"
        )
    return found


class CurrentCredentials:
    """The credentials of the invocation being served, for clients built once per cold start.

    State-store clients live in the cached app; FC's STS credentials change with each
    invocation. The app sets this at the start of every run and the store calls it for
    every request, so a rotated token is used at once and never frozen.
    """

    def __init__(self) -> None:
        self._value: Credentials | None = None
        self._lock = threading.Lock()

    def set(self, credentials: Credentials | None) -> None:
        """Adopt this invocation's credentials (None keeps the previous ones)."""
        if credentials is not None:
            with self._lock:
                self._value = credentials

    def __call__(self) -> Credentials:
        with self._lock:
            value = self._value
        if value is None:
            raise ConfigError(
                "the state store needs credentials and this invocation has none: on FC give "
                f"the function a role; locally set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}"
            )
        return value

    def __repr__(self) -> str:
        with self._lock:
            shown = self._value.access_key_id if self._value else None
        return f"CurrentCredentials(access_key_id={shown!r})"
