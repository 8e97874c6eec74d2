"""RAM role ARNs (``acs:ram::<account id>:role/<name>``): the account they belong to."""

from __future__ import annotations

import re

from lib.support.errors import ConfigError

__all__ = ["account_of"]

_ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/[^\s/:]+$")


def account_of(role_arn: str) -> str:
    """The account id inside a role ARN such as ``acs:ram::1234567890123456:role/name``.

    Raises:
        ConfigError: not a RAM role ARN.
    """
    match = _ROLE_ARN.match(role_arn.strip())
    if match is None:
        raise ConfigError(
            f"{role_arn!r} is not a RAM role ARN (expected acs:ram::<account id>:role/<name>)"
        )
    return match.group(1)
