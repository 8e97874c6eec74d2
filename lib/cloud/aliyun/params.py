"""RPC parameter flattening, the way the Alibaba Cloud SDKs put nested values on the wire.

::

    {"InstanceId": ["i-1", "i-2"]}          → InstanceId.1=i-1, InstanceId.2=i-2
    {"Tag": [{"Key": "env", "Value": "p"}]} → Tag.1.Key=env, Tag.1.Value=p
    {"IncludeOutput": True, "Max": 50}      → IncludeOutput=true, Max=50
    {"ContentEncoding": None}               → (dropped)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from lib.support.errors import ApiRequestError

__all__ = ["flatten_params"]


def _put(action: str, key: str, value: object, out: dict[str, str]) -> None:
    if value is None:
        return
    if isinstance(value, enum.Enum):
        value = value.value
    # bool before int: bool is an int subclass, and the APIs want lowercase words.
    if isinstance(value, bool):
        out[key] = "true" if value else "false"
    elif isinstance(value, (str, int, float)):
        out[key] = str(value)
    elif isinstance(value, Mapping):
        for sub, item in value.items():
            _put(action, f"{key}.{sub}", item, out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value, start=1):
            _put(action, f"{key}.{index}", item, out)
    else:
        # A programming error, but raised from our tree so the handler reports it cleanly.
        raise ApiRequestError(
            action,
            "InvalidParameter",
            f"parameter {key} has type {type(value).__name__}, which the API cannot take",
        )


def flatten_params(action: str, params: Mapping[str, object]) -> dict[str, str]:
    """Flatten nested parameters into RPC ``Name.N.Key`` strings.

    Args:
        action: the API name, only for the error message.
        params: values may be None (dropped), bool, int, float, str, enums, lists/tuples
            and mappings of those.

    Raises:
        ApiRequestError: a value of a type the API cannot take.
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        _put(action, key, value, out)
    return out
