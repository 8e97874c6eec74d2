"""``assistwatch check``: the pre-flight a person runs before deploying, secrets masked.

Each line says ``ok``, ``warn`` or ``FAIL``, what was checked and why; the exit status is 1
if anything failed (warnings do not fail). In order: the variables (unknown
``ASSISTWATCH_*`` names with a did-you-mean), the settings, the routing file (``FILE:LINE``
errors, exactly as ``run`` would refuse it; every message template rendered against a
sample), the receivers (none configured, the shape of
each robot's URL and secret), the region ids, then the network: one ``DescribeInvocations``
page of one record per region (endpoint, credentials and RAM grant at once), a read of the
state store, and each robot reached without posting a message (lib/edges/cli/probes.py). With
``--deploy``, the template parameters the configuration maps to and the RAM permissions the
deployer needs (lib/edges/cli/deploy_check.py).

Every network step is bounded (one try, 3 s to connect, 5 s in all; the state store 10 s),
so with no network at all the whole check ends in well under a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from lib.edges.cli.common import EXIT_FAILED, EXIT_OK, add_output_flags, print_json
from lib.edges.cli.preflight import Line

__all__ = ["add_parser", "checks", "report", "run"]

ECS_VERSION = "2014-05-26"
STATE_SECONDS = 10.0


def add_parser(subparsers: Any) -> None:
    """Register ``check``."""
    parser = subparsers.add_parser(
        "check",
        help="the pre-flight: configuration, routing file, API, state store, every robot",
        description="Validate ASSISTWATCH_* and the routing file, reach the Cloud Assistant "
        "API of every region, the state store and every receiver (robots are reached "
        "without posting a message). Secrets are masked. Exit 1 if anything failed.",
    )
    parser.add_argument("--region", action="append", default=[], help="check these regions")
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="also list the template parameters this configuration maps to and the RAM "
        "permissions the deployer needs",
    )
    add_output_flags(parser)


def checks(
    environ: Mapping[str, str],
    regions: list[str],
    *,
    transport: Any = None,
    deploy: bool = False,
) -> list[Line]:
    """Every check's line, in order; stops before the network only on unusable settings."""
    import httpx

    from lib.edges.cli.preflight import known_names, unknown_names
    from lib.support.errors import AssistwatchError
    from lib.support.settings import load_settings

    results = unknown_names(environ, known_names())
    try:
        settings = load_settings(environ)
    except AssistwatchError as error:
        return [*results, Line("FAIL", "settings", str(error))]
    results.append(Line("ok", "settings", _shown(settings)))
    from lib.edges.cli.actions_check import action_lines

    results.extend(action_lines(settings))
    configured = [r for r in settings.regions if r != "*"]  # "*": the poll asks ECS
    wanted = regions or configured or [r for r in [environ.get("FC_REGION")] if r]
    timeout = httpx.Timeout(5.0, connect=3.0)
    with httpx.Client(transport=transport, timeout=timeout) as http:
        specs = _receivers(settings, environ, http, results)
        from lib.edges.cli.preflight import region_lines

        results.extend(region_lines(wanted))
        results.extend(_api_checks(settings, environ, wanted, http))
        results.extend(_state_check(settings, environ))
        results.extend(_probe_all(specs, http))
    if deploy:
        from lib.edges.cli.deploy_check import deploy_lines

        results.extend(deploy_lines(settings, environ))
    return results


def _shown(settings: Any) -> str:
    from lib.support.redact import mask_url

    shown = settings.model_dump(mode="json", exclude_defaults=True)
    for key in ("dingtalk_url", "webhook_url", "wecom_url", "feishu_url"):
        value = getattr(settings, key)
        if value is not None:
            shown[key] = mask_url(value.get_secret_value())
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "all defaults"


def _receivers(
    settings: Any, environ: Mapping[str, str], http: Any, results: list[Line]
) -> list[Any]:
    """The receivers ``run`` would build (routing file included); their lines added."""
    from lib.app.receivers import _env_specs, build_delivery
    from lib.edges.cli.preflight import no_receiver, receiver_shape
    from lib.support.errors import AssistwatchError
    from lib.support.redact import mask_url

    specs = list(_env_specs(settings))
    try:
        build_delivery(settings, http=http, environ=environ)  # exactly what `run` refuses
        if settings.config is not None:
            from lib.app.config import load_config

            known = (*(spec.name for spec in specs), "console")
            config = load_config(settings.config, environ=environ, known=known)
            specs.extend(config.receivers)
            counts = f"{len(config.receivers)} receiver(s), {len(config.table.routes)} route(s)"
            results.append(Line("ok", "routing", f"{settings.config}: {counts}"))
            from lib.edges.cli.windows import window_lines

            results.extend(window_lines(config.table))
            from lib.edges.cli.template_check import template_lines

            results.extend(template_lines(config))
    except AssistwatchError as error:  # the routing file: FILE:LINE: field: message
        results.append(Line("FAIL", "routing", str(error)))
    results.extend(no_receiver(settings, [spec.name for spec in specs]))
    for spec in specs:
        masked = mask_url(spec.url.get_secret_value()) if spec.url is not None else spec.name
        results.extend(receiver_shape(spec, masked))
    return specs


def _api_checks(
    settings: Any, environ: Mapping[str, str], wanted: list[str], http: Any
) -> list[Line]:
    from lib.cloud.aliyun.client import OpenApiClient
    from lib.cloud.aliyun.endpoints import endpoint_for
    from lib.cloud.aliyun.retry import RetryPolicy
    from lib.cloud.cloudassist.api import CloudAssistant
    from lib.support.credentials import credentials_from_env
    from lib.support.errors import AssistwatchError

    credentials = credentials_from_env(environ)
    if credentials is None:
        return [Line("FAIL", "credentials", "set ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET")]
    if not wanted:
        return [Line("FAIL", "regions", "set ASSISTWATCH_REGIONS or pass --region")]
    results = [Line("ok", "credentials", f"AccessKey {credentials.access_key_id[:6]}…")]
    for region in wanted:
        try:
            endpoint = settings.ecs_endpoint or endpoint_for(
                "ecs", region, vpc=settings.vpc_endpoints
            )
            client = OpenApiClient(
                http, endpoint, ECS_VERSION, credentials, retry=RetryPolicy(attempts=1)
            )
            page = next(CloudAssistant(client, region).invocation_pages(page_size=1))
            results.append(Line("ok", f"ecs {region}", f"{endpoint}: {len(page.invocations)} seen"))
        except AssistwatchError as error:
            results.append(Line("FAIL", f"ecs {region}", str(error)))
    return results


def _state_check(settings: Any, environ: Mapping[str, str]) -> list[Line]:
    """The state store reached, and what maintenance windows hold in it now."""
    from lib.app.muting import RECORD
    from lib.edges.cli.probes import bounded
    from lib.edges.cli.windows import held_lines
    from lib.state import open_store
    from lib.support.errors import AssistwatchError

    def read() -> dict[str, Any]:
        store = open_store(settings.state_url, environ=environ)
        store.read("check/reachable")
        return store.read(RECORD).value

    try:
        held = bounded(read, STATE_SECONDS)
    except (AssistwatchError, TimeoutError) as error:
        return [Line("FAIL", "state", f"{settings.state_url}: {error}")]
    return [Line("ok", "state", settings.state_url), *held_lines(held)]


def _probe_all(specs: list[Any], http: Any) -> list[Line]:
    from lib.edges.cli.probes import probe_receiver
    from lib.support.redact import mask_url

    lines = []
    for spec in specs:
        if spec.url is None:
            continue
        lines.append(probe_receiver(spec, mask_url(spec.url.get_secret_value()), http))
    return lines


def report(results: list[Line], out: TextIO, *, as_json: bool = False) -> int:
    """Print the results (lines, or JSON with ``as_json``); 0 when nothing failed."""
    failed = any(line.level == "FAIL" for line in results)
    if as_json:
        print_json({"ok": not failed, "checks": [line._asdict() for line in results]}, out)
    else:
        for level, what, detail in results:
            out.write(f"{level:<4}  {what:<16} {detail}\n")
    return EXIT_FAILED if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run every check against the process environment."""
    results = checks(os.environ, list(args.region), deploy=args.deploy)
    return report(results, sys.stdout, as_json=args.json)
