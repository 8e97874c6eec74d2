"""``assistwatch check``: validate the configuration and reach every endpoint, secrets masked.

Each line says ``ok`` or ``FAIL``, what was checked and why; the exit status is 1 if
anything failed. Only reads: one ``DescribeInvocations`` page of one record per region
(it proves the endpoint, the credentials and the RAM grant at once), a read of the state
store, and a plain GET of each receiver's host (its token never leaves the process).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from lib.cli.common import EXIT_FAILED, EXIT_OK

__all__ = ["add_parser", "checks", "run"]

ECS_VERSION = "2014-05-26"


def add_parser(subparsers: Any) -> None:
    """Register ``check``."""
    parser = subparsers.add_parser(
        "check",
        help="validate the configuration and reach every endpoint (secrets masked)",
        description="Validate ASSISTWATCH_* and reach the Cloud Assistant API of every "
        "region, the state store and every receiver's host. Nothing is sent.",
    )
    parser.add_argument("--region", action="append", default=[], help="check these regions")


def checks(
    environ: Mapping[str, str],
    regions: list[str],
    *,
    transport: Any = None,
) -> list[tuple[bool, str, str]]:
    """(ok, what, detail) for every check, in order; stops early only on bad settings."""
    import httpx

    from lib.aliyun.client import OpenApiClient
    from lib.aliyun.credentials import credentials_from_env
    from lib.aliyun.endpoints import endpoint_for
    from lib.cloudassist.api import CloudAssistant
    from lib.errors import AssistwatchError
    from lib.redact import mask_url
    from lib.settings import load_settings
    from lib.state import open_store

    results: list[tuple[bool, str, str]] = []
    try:
        settings = load_settings(environ)
    except AssistwatchError as error:
        return [(False, "settings", str(error))]
    shown = settings.model_dump(mode="json", exclude_defaults=True)
    for key in ("dingtalk_url", "webhook_url"):
        value = getattr(settings, key)
        if value is not None:
            shown[key] = mask_url(value.get_secret_value())
    results.append((True, "settings", ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))))

    http = httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
    credentials = credentials_from_env(environ)
    configured = [r for r in settings.regions if r != "*"]  # "*": the poll asks ECS
    wanted = regions or configured or [r for r in [environ.get("FC_REGION")] if r]
    if credentials is None:
        results.append((False, "credentials", "set ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET"))
    elif not wanted:
        results.append((False, "regions", "set ASSISTWATCH_REGIONS or pass --region"))
    else:
        results.append((True, "credentials", f"AccessKey {credentials.access_key_id[:6]}…"))
        for region in wanted:
            endpoint = settings.ecs_endpoint or endpoint_for(
                "ecs", region, vpc=settings.vpc_endpoints
            )
            client = OpenApiClient(http, endpoint, ECS_VERSION, credentials)
            try:
                page = next(CloudAssistant(client, region).invocation_pages(page_size=1))
                results.append((True, f"ecs {region}", f"{endpoint}: {len(page.invocations)} seen"))
            except AssistwatchError as error:
                results.append((False, f"ecs {region}", f"{endpoint}: {error}"))
    try:
        open_store(settings.state_url, environ=environ).read("check/reachable")
        results.append((True, "state", settings.state_url))
    except AssistwatchError as error:
        results.append((False, "state", f"{settings.state_url}: {error}"))
    results.extend(_receiver_checks(settings, http))
    http.close()
    return results


def _receiver_checks(settings: Any, http: Any) -> list[tuple[bool, str, str]]:
    """A plain GET of each receiver's host: reachability only, the token stays here."""
    import httpx

    from lib.redact import mask_url

    results: list[tuple[bool, str, str]] = []
    for name in ("dingtalk_url", "webhook_url"):
        secret = getattr(settings, name)
        if secret is None:
            continue
        url = secret.get_secret_value()
        host = httpx.URL(url).copy_with(path="/", query=None, fragment=None)
        try:
            answer = http.get(host)
            results.append(
                (True, name.removesuffix("_url"), f"{mask_url(url)} answers {answer.status_code}")
            )
        except httpx.HTTPError as error:
            results.append(
                (False, name.removesuffix("_url"), f"{mask_url(url)}: {type(error).__name__}")
            )
    return results


def report(results: list[tuple[bool, str, str]], out: TextIO) -> int:
    """Print the results; 0 when all passed."""
    for ok, what, detail in results:
        out.write(f"{'ok  ' if ok else 'FAIL'}  {what:<12} {detail}\n")
    return EXIT_OK if all(ok for ok, _, _ in results) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    """Run every check against the process environment."""
    return report(checks(os.environ, list(args.region)), sys.stdout)
