"""Cloud Assistant API endpoints, and the rule that they are https unless on loopback.

Patterns from the products' endpoint tables: ECS ``ecs.{region}.aliyuncs.com`` (VPC
``ecs-vpc.{region}.aliyuncs.com``); eflo-controller (Lingjun)
``eflo-controller.{region}.aliyuncs.com`` (VPC ``eflo-controller-vpc.{region}.aliyuncs.com``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lib.support.errors import ConfigError
from lib.support.urls import is_loopback_host

__all__ = ["Endpoint", "check_region", "endpoint_for", "parse_endpoint"]

_PREFIX = {"ecs": "ecs", "eflo": "eflo-controller"}
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")  # fullmatch: "$" lets "cn-hangzhou\n" in


def endpoint_for(product: Literal["ecs", "eflo"], region: str, *, vpc: bool = False) -> str:
    """The https URL of a product's regional public (or VPC) endpoint.

    Raises:
        ConfigError: unknown product or a region id that is not one.
    """
    if product not in _PREFIX:
        raise ConfigError(f"unknown product {product!r}: expected 'ecs' or 'eflo'")
    check_region(region)
    suffix = "-vpc" if vpc else ""
    return f"https://{_PREFIX[product]}{suffix}.{region}.aliyuncs.com"


def check_region(region: str) -> str:
    """``region`` if it is a region id, else ConfigError (it becomes part of a host name)."""
    if not _REGION.fullmatch(region):
        raise ConfigError(f"{region!r} is not a region id (like cn-hangzhou)")
    return region


@dataclass(frozen=True)
class Endpoint:
    """A checked endpoint: where to send, and the Host header to sign."""

    url: str
    host: str
    path: str


def parse_endpoint(endpoint: str) -> Endpoint:
    """Check an endpoint URL (a bare host means https) and split it.

    Raises:
        ConfigError: not http(s), no host, or plain http to a host that is not loopback.
    """
    text = endpoint.strip()
    if "@" in text:
        # Never echo it: the part before "@" may be a password.
        raise ConfigError("an endpoint URL must not carry a login (user:password@)")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"endpoint {endpoint!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"endpoint {endpoint!r} must use https (plain http only for loopback hosts)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"endpoint {endpoint!r} must not carry a query or fragment")
    path = parts.path or "/"
    return Endpoint(url=f"{parts.scheme}://{parts.netloc}{path}", host=parts.netloc, path=path)
