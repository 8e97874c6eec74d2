"""Alibaba Cloud public region ids, to warn (never refuse) about a typo like ``cn-hangzou``.

A region id that merely looks right (``cn-hangzou``) passes the settings' shape check and
then fails every call with an unreachable endpoint; ``assistwatch check`` warns instead,
with the nearest known id. The list is the union of Alibaba Cloud's own region tables
(docs/decisions.md "Known region ids" names the pages); a region opened later is a warning
only, so the list may lag without stopping anyone.
"""

from __future__ import annotations

import difflib

__all__ = ["KNOWN_REGIONS", "nearest_region"]

KNOWN_REGIONS: frozenset[str] = frozenset(
    {
        # China
        "cn-qingdao",
        "cn-beijing",
        "cn-zhangjiakou",
        "cn-huhehaote",
        "cn-wulanchabu",
        "cn-hangzhou",
        "cn-shanghai",
        "cn-shenzhen",
        "cn-heyuan",
        "cn-guangzhou",
        "cn-chengdu",
        "cn-hongkong",
        "cn-shanghai-finance-1",
        # Asia Pacific
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-southeast-8",
        "ap-south-1",
        # Europe, Americas, Middle East
        "eu-central-1",
        "eu-west-1",
        "us-east-1",
        "us-west-1",
        "us-southeast-1",
        "na-south-1",
        "me-east-1",
    }
)


def nearest_region(region: str) -> str | None:
    """The known region id closest to ``region`` (None when nothing is close)."""
    close = difflib.get_close_matches(region, sorted(KNOWN_REGIONS), n=1, cutoff=0.75)
    return close[0] if close else None
