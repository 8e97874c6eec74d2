"""Function Compute 3.0 InvokeFunction: this function invoking itself asynchronously (fan-out).

From alibabacloud_fc20230330 4.8.3 (``invoke_function_with_options``): ROA, ``POST
/2023-03-30/functions/{functionName}/invocations`` (the name percent-encoded), optional query
``qualifier``, the event as the body, header ``x-fc-invocation-type: Async``; the endpoint is
the SDK's ``fcv3.{region}.aliyuncs.com`` (its endpoint map). FC answers an accepted
asynchronous invocation with HTTP 202 and an empty body; its request id is in
``x-fc-request-id``. The RAM action is ``fc:InvokeFunction``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lib.support.errors import ConfigError

if TYPE_CHECKING:
    from lib.cloud.aliyun.client import OpenApiClient

__all__ = ["FC_VERSION", "INVOKE_PATH", "fc_endpoint", "invoke_async"]

FC_VERSION = "2023-03-30"
INVOKE_PATH = re.compile(r"^/2023-03-30/functions/([A-Za-z_][A-Za-z0-9_-]{0,127})/invocations$")


def fc_endpoint(region: str) -> str:
    """The FC 3.0 OpenAPI endpoint of a region (the SDK's endpoint map)."""
    from lib.cloud.aliyun.endpoints import check_region

    return f"https://fcv3.{check_region(region)}.aliyuncs.com"


def invoke_async(
    client: OpenApiClient, function: str, event: bytes, *, qualifier: str | None = None
) -> None:
    """Queue one asynchronous invocation of ``function`` with ``event``.

    Raises:
        ApiAuthError: no ``fc:InvokeFunction`` on the function (never retried).
        ApiRequestError: no such function or qualifier, an event over FC's limit.
        ApiTransientError: throttling or FC faults outlived the retries.
    """
    path = f"/{FC_VERSION}/functions/{function}/invocations"
    if not INVOKE_PATH.match(path):  # FC names: letters, digits, _ and -; nothing to encode
        raise ConfigError(f"{function[:80]!r} is not a Function Compute function name")
    client.send(
        "InvokeFunction",
        path,
        event,
        query={"qualifier": qualifier} if qualifier else None,
        headers={"content-type": "application/octet-stream", "x-fc-invocation-type": "Async"},
    )
