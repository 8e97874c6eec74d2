"""The fake's ListTagResources behaves like the ECS API, over real HTTP.

Requests are signed by the official ``alibabacloud_openapi_util`` (tests/fakes/official_signer),
never by our own client, so these tests pin the fake to the vendor's protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset
from tests.fakes.official_signer import build_request

KEY_ID, SECRET = "LTAI-test", "test-secret"


@pytest.fixture
def fake(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset) as server:
        yield server


def list_tags(
    http: httpx.Client, fake: CloudAssistantFake, params: dict[str, str], secret: str = SECRET
) -> httpx.Response:
    request = build_request(
        fake.url,
        "ListTagResources",
        {"RegionId": "cn-hangzhou", **params},
        access_key_id=KEY_ID,
        secret=secret,
    )
    return http.send(request)


def ids(*instance_ids: str) -> dict[str, str]:
    return {f"ResourceId.{n}": i for n, i in enumerate(instance_ids, start=1)}


def pairs(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (t["ResourceId"], t["TagKey"], t["TagValue"]) for t in body["TagResources"]["TagResource"]
    ]


def test_tags_come_back_one_entry_per_instance_and_tag_and_untagged_ones_are_absent(
    fake, dataset, http
):
    # GIVEN i-1 tagged env=prod,team=db and i-2 without tags
    dataset.tag("i-1", {"env": "prod", "team": "db"})
    # WHEN the tags of i-1, i-2 and an unknown i-9 are asked
    response = list_tags(http, fake, {"ResourceType": "instance", **ids("i-1", "i-2", "i-9")})
    # THEN only i-1's two tags come back, in the reference's shape, on one page
    assert response.status_code == 200, response.text
    body = response.json()
    assert pairs(body) == [("i-1", "env", "prod"), ("i-1", "team", "db")]
    assert body["TagResources"]["TagResource"][0]["ResourceType"] == "instance"
    assert body["NextToken"] == ""
    assert body["RequestId"]


def test_pages_are_linked_by_next_token_and_one_instance_may_span_two(fake, dataset, http):
    # GIVEN three instances with four tags each and pages of five pairs
    for n in (1, 2, 3):
        dataset.tag(f"i-{n}", {f"k{k}": f"v{n}{k}" for k in range(4)})
    fake.tag_page_size = 5
    params = {"ResourceType": "instance", **ids("i-1", "i-2", "i-3")}
    # WHEN every page is read by following NextToken
    seen: list[tuple[str, str, str]] = []
    token, pages = "", 0
    while True:
        body = list_tags(http, fake, {**params, **({"NextToken": token} if token else {})}).json()
        seen += pairs(body)
        pages += 1
        token = body["NextToken"]
        if not token:
            break
    # THEN 12 pairs came in 3 pages, i-2's tags split over the first two, none twice
    assert pages == 3
    assert len(seen) == len(set(seen)) == 12
    assert {rid for rid, _, _ in seen[:5]} == {"i-1", "i-2"}


def test_a_next_token_from_another_query_is_refused(fake, dataset, http):
    # GIVEN a token handed out for i-1..i-3
    for n in (1, 2, 3):
        dataset.tag(f"i-{n}", {"a": "1", "b": "2", "c": "3", "d": "4"})
    fake.tag_page_size = 5
    first = list_tags(http, fake, {"ResourceType": "instance", **ids("i-1", "i-2", "i-3")})
    token = first.json()["NextToken"]
    # WHEN it is sent with other ids
    response = list_tags(http, fake, {"ResourceType": "instance", **ids("i-1"), "NextToken": token})
    # THEN the API refuses it
    assert (response.status_code, response.json()["Code"]) == (400, "InvalidParameter.NextToken")


def test_more_than_50_resource_ids_get_the_real_error(fake, http):
    # WHEN 51 ids are asked at once
    response = list_tags(
        http, fake, {"ResourceType": "instance", **ids(*(f"i-{n}" for n in range(51)))}
    )
    # THEN the answer is the reference's NumberExceed.ResourceIds
    assert (response.status_code, response.json()["Code"]) == (400, "NumberExceed.ResourceIds")


def test_fifty_resource_ids_are_accepted(fake, http):
    # WHEN exactly 50 ids are asked
    response = list_tags(
        http, fake, {"ResourceType": "instance", **ids(*(f"i-{n}" for n in range(50)))}
    )
    # THEN the call succeeds (none has tags: nothing comes back)
    assert response.status_code == 200
    assert pairs(response.json()) == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "MissingParameter.ResourceType"),
        ({"ResourceType": "vm"}, 404, "InvalidResourceType.NotFound"),
    ],
    ids=["missing", "unknown"],
)
def test_a_missing_or_unknown_resource_type_is_refused(fake, http, params, status, code):
    # WHEN ResourceType is left out or is not one of the API's types
    response = list_tags(http, fake, {**params, **ids("i-1")})
    # THEN the API refuses the call with its error
    assert (response.status_code, response.json()["Code"]) == (status, code)


def test_a_request_with_a_wrong_signature_is_refused_before_any_tag_is_read(fake, dataset, http):
    # GIVEN a tagged instance
    dataset.tag("i-1", {"env": "tag-value-1"})
    # WHEN asked with the wrong secret
    response = list_tags(http, fake, {"ResourceType": "instance", **ids("i-1")}, secret="nope")
    # THEN the signature check answers, not the action
    assert (response.status_code, response.json()["Code"]) == (400, "SignatureDoesNotMatch")
    assert "tag-value-1" not in response.text
