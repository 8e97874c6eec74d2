"""Typed DescribeInstances answers (ECS 2014-05-26): the name and status of each instance.

Fields as in the official SDK's models (alibabacloud_ecs20140526
``DescribeInstancesResponseBody`` → ``Instances.Instance[]``); only what a message or a
noise decision reads is kept, the rest is ignored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from lib.core.records.ecs import ApiModel, OptInt, OptStr, unwrap

__all__ = ["EcsInstance", "InstancesPage"]


class EcsInstance(ApiModel):
    """One ``Instances.Instance`` of DescribeInstances."""

    instance_id: str
    instance_name: OptStr = None
    host_name: OptStr = None
    status: OptStr = None  # Pending, Running, Starting, Stopping, Stopped
    zone_id: OptStr = None


class InstancesPage(ApiModel):
    """One page of DescribeInstances (PageSize/PageNumber paging; TotalCount counts all)."""

    request_id: OptStr = None
    total_count: OptInt = None
    page_number: OptInt = None
    page_size: OptInt = None
    next_token: OptStr = None
    instances: Annotated[list[EcsInstance], BeforeValidator(unwrap("Instance"))] = Field(
        default_factory=list
    )
