"""Instance tags for routes and silences: fetched once per run, in few calls, never at an
alert's expense.

Most tests go through the real signed client to the loopback ECS fake, whose ListTagResources
pages are small (so clients cross pages) and whose limits are the API's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from lib.cloud.aliyun.client import OpenApiClient
from lib.cloud.aliyun.retry import RetryPolicy
from lib.cloud.cloudassist.api import CloudAssistant
from lib.cloud.tags import InstanceTags, fetch_from
from lib.core.findings import Finding
from lib.core.routing import Matcher, Route, RoutingTable, needs_tags, route
from lib.core.silences import Silence
from lib.support.credentials import Credentials
from lib.support.errors import ApiAuthError, ApiTransientError, ConfigError
from tests.factories import make_alert, make_finding
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.dataset import Dataset

KEY_ID, SECRET = "LTAI-tags-test", "tags-test-secret"
REGION = "cn-hangzhou"
PROD = Matcher(instance_tags=(("env", "prod"),))


@pytest.fixture
def fake(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake({KEY_ID: SECRET}, dataset=dataset) as server:
        yield server


@pytest.fixture
def assistant(fake: CloudAssistantFake, http: httpx.Client) -> CloudAssistant:
    client = OpenApiClient(
        http,
        fake.url,
        "2014-05-26",
        Credentials(KEY_ID, SecretStr(SECRET)),
        retry=RetryPolicy(attempts=2),
        sleep=lambda _: None,
    )
    return CloudAssistant(client, REGION)


def finding(instance_id: str, **overrides: Any) -> Finding:
    return make_finding(instance_id=instance_id, **overrides)


def tag_calls(fake: CloudAssistantFake) -> list[list[str]]:
    """The ResourceId.N values of each ListTagResources request, first pages only."""
    return [
        [v for k, v in params.items() if k.startswith("ResourceId.")]
        for action, params in fake.calls
        if action == "ListTagResources" and "NextToken" not in params
    ]


class RecordingFetch:
    """A Fetch that answers from a table and records each call."""

    def __init__(self, tags: Mapping[str, dict[str, str]] | None = None) -> None:
        self.tags = dict(tags or {})
        self.calls: list[tuple[str, str, list[str]]] = []

    def __call__(self, account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
        self.calls.append((account, region, list(ids)))
        return {i: self.tags[i] for i in ids if i in self.tags}


# --- fetching --------------------------------------------------------------------------------


def test_the_tags_of_120_instances_are_read_in_3_calls_of_at_most_50_ids(fake, dataset, assistant):
    # GIVEN 120 failed instances, every tenth tagged env=prod
    instance_ids = [f"i-{n:03d}" for n in range(120)]
    for instance_id in instance_ids[::10]:
        dataset.tag(instance_id, {"env": "prod"})
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN the run prefetches their tags
    tags.prefetch(finding(i) for i in instance_ids)
    # THEN three calls asked for all 120 ids, at most 50 each
    calls = tag_calls(fake)
    assert len(calls) == 3
    assert all(len(call) <= 50 for call in calls)
    assert sorted(i for call in calls for i in call) == instance_ids
    # AND a tagged instance reads its tags, an untagged one none
    assert tags.lookup(finding("i-010")) == {"env": "prod"}
    assert tags.lookup(finding("i-011")) == {}


def test_next_token_pages_are_followed_and_an_instance_split_over_pages_keeps_every_tag(
    fake, dataset, assistant
):
    # GIVEN two instances with four tags each, served three pairs a page
    dataset.tag("i-a", {"env": "prod", "team": "db", "tier": "1", "zone": "h"})
    dataset.tag("i-b", {"env": "dev", "team": "web", "tier": "2", "zone": "i"})
    fake.tag_page_size = 3
    # WHEN their tags are read
    found = assistant.instance_tags(["i-a", "i-b"])
    # THEN every page was read and each instance has all four tags
    assert fake.count("ListTagResources") == 3
    assert found == {
        "i-a": {"env": "prod", "team": "db", "tier": "1", "zone": "h"},
        "i-b": {"env": "dev", "team": "web", "tier": "2", "zone": "i"},
    }


def test_unknown_and_untagged_instances_read_as_no_tags(fake, dataset, assistant):
    # GIVEN one tagged instance, one untagged and one ECS does not know
    dataset.tag("i-tagged", {"env": "prod"})
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN all three are prefetched
    tags.prefetch([finding("i-tagged"), finding("i-plain"), finding("i-gone")])
    # THEN only the tagged one has tags, and the others read as empty, not as errors
    assert tags.lookup(finding("i-tagged")) == {"env": "prod"}
    assert tags.lookup(finding("i-plain")) == {}
    assert tags.lookup(finding("i-gone")) == {}
    assert tags.notes == ()


def test_an_instance_never_prefetched_reads_as_no_tags_without_a_call(fake, assistant):
    # GIVEN a tag source nothing was prefetched into
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN a finding is looked up
    # THEN it has no tags and the lookup made no API call (routing stays pure)
    assert tags.lookup(finding("i-later")) == {}
    assert fake.count("ListTagResources") == 0


def test_instances_already_known_are_not_fetched_again():
    # GIVEN a run that prefetched i-1 and i-2
    fetch = RecordingFetch({"i-1": {"env": "prod"}})
    tags = InstanceTags(fetch)
    tags.prefetch([finding("i-1"), finding("i-2"), finding("i-1")])
    # WHEN it prefetches i-1, i-2 and a new i-3
    tags.prefetch([finding("i-1"), finding("i-2"), finding("i-3")])
    # THEN the second fetch asked for i-3 only, and no id was asked twice in one call
    assert fetch.calls == [("self", REGION, ["i-1", "i-2"]), ("self", REGION, ["i-3"])]


def test_tags_are_kept_apart_per_account_and_region():
    # GIVEN the same instance id in two regions and another account, tagged in one only
    calls: list[tuple[str, str]] = []

    def fetch(account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
        calls.append((account, region))
        return {"i-1": {"env": "prod"}} if (account, region) == ("self", REGION) else {}

    tags = InstanceTags(fetch)
    elsewhere = [
        finding("i-1", region="cn-shanghai"),
        finding("i-1", account="acs:ram::1234:role/watch"),
    ]
    # WHEN prefetched
    tags.prefetch([finding("i-1"), *elsewhere])
    # THEN each (account, region) was asked on its own, and its answer stays its own
    assert sorted(calls) == [
        ("acs:ram::1234:role/watch", REGION),
        ("self", REGION),
        ("self", "cn-shanghai"),
    ]
    assert tags.lookup(finding("i-1")) == {"env": "prod"}
    assert [tags.lookup(f) for f in elsewhere] == [{}, {}]


def test_eflo_nodes_have_no_tags_and_cost_no_call():
    # GIVEN a finding on a Lingjun node and one on a managed instance
    fetch = RecordingFetch({"e01-node": {"env": "prod"}})
    tags = InstanceTags(fetch)
    node = finding("e01-node", provider="eflo")
    managed = finding("mi-0001")
    # WHEN prefetched
    tags.prefetch([node, managed])
    # THEN nothing was fetched and both read as untagged
    assert fetch.calls == []
    assert tags.lookup(node) == {}
    assert tags.lookup(managed) == {}


# --- failures never cost an alert ----------------------------------------------------------


def test_a_403_leaves_tags_empty_with_one_note_naming_region_and_permission(fake, assistant):
    # GIVEN a role without ecs:ListTagResources
    fake.fail_next(
        code="Forbidden.RAM",
        status=403,
        message="User not authorized to operate on the specified resource.",
        action="ListTagResources",
    )
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN 120 instances are prefetched
    tags.prefetch(finding(f"i-{n:03d}") for n in range(120))
    # THEN no exception; the region was asked once, not once per batch
    assert fake.count("ListTagResources") == 1
    # AND every lookup is empty, and one note names the region and the missing permission
    assert tags.lookup(finding("i-000")) == {}
    [note] = tags.notes
    assert REGION in note
    assert "ecs:ListTagResources" in note
    assert "Forbidden.RAM" in note


def test_after_a_403_a_tag_route_falls_through_to_the_default_route(fake, dataset, assistant):
    # GIVEN a prod instance, a route sending prod alerts to "oncall", default "team"
    dataset.tag("i-prod", {"env": "prod"})
    table = RoutingTable(
        routes=(Route(receivers=("oncall",), matcher=PROD),), default_receivers=("team",)
    )
    alert = make_alert(finding("i-prod"))
    fake.fail_next(code="Forbidden.RAM", status=403, action="ListTagResources")
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN the run prefetches (and is refused) and routes
    tags.prefetch([alert.finding])
    routed = route([alert], ["oncall", "team"], table, tags=tags.lookup)
    # THEN the alert is not lost: the default receiver has it
    assert routed == {"oncall": [], "team": [alert]}


def test_with_tags_read_a_tag_route_takes_the_alert(fake, dataset, assistant):
    # GIVEN the same prod instance, route and default, and a role that may read tags
    dataset.tag("i-prod", {"env": "prod"})
    table = RoutingTable(
        routes=(Route(receivers=("oncall",), matcher=PROD),), default_receivers=("team",)
    )
    alert = make_alert(finding("i-prod"))
    tags = InstanceTags(fetch_from(lambda account, region: assistant))
    # WHEN the run prefetches and routes
    tags.prefetch([alert.finding])
    routed = route([alert], ["oncall", "team"], table, tags=tags.lookup)
    # THEN the tag route takes it
    assert routed == {"oncall": [alert], "team": []}


def test_a_transient_failure_is_noted_without_blaming_permissions():
    # GIVEN a fetch whose throttling outlived the retries in one region
    def fetch(account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
        if region == "cn-beijing":
            raise ApiTransientError("ListTagResources", "Throttling", "slow down", request_id="R1")
        return {"i-2": {"env": "prod"}}

    tags = InstanceTags(fetch)
    # WHEN instances of that region and another are prefetched
    tags.prefetch([finding("i-1", region="cn-beijing"), finding("i-2")])
    # THEN the other region still has its tags, and one note names the failed region and code
    assert tags.lookup(finding("i-2")) == {"env": "prod"}
    assert tags.lookup(finding("i-1", region="cn-beijing")) == {}
    [note] = tags.notes
    assert "cn-beijing" in note
    assert "Throttling" in note
    assert "R1" in note
    assert "ecs:ListTagResources" not in note
    assert "slow down" not in note  # the server's words stay out: they may echo the request


def test_a_failed_region_is_not_asked_again_in_the_same_run():
    # GIVEN a region whose first fetch was refused
    calls: list[list[str]] = []

    def fetch(account: str, region: str, ids: list[str]) -> dict[str, dict[str, str]]:
        calls.append(ids)
        raise ApiAuthError("ListTagResources", "NoPermission", "no", http_status=403)

    tags = InstanceTags(fetch)
    tags.prefetch([finding("i-1")])
    # WHEN more of its instances are prefetched later in the run
    tags.prefetch([finding("i-2")])
    # THEN it is not asked again and there is still one note
    assert calls == [["i-1"]]
    assert len(tags.notes) == 1


# --- nothing needs tags: no calls --------------------------------------------------------------


def test_nothing_is_fetched_when_no_route_or_silence_matches_on_tags(fake, dataset, assistant):
    # GIVEN routes and a silence that match on names and regions only
    dataset.tag("i-1", {"env": "prod"})
    table = RoutingTable(
        routes=(Route(receivers=("oncall",), matcher=Matcher(names=("backup-*",))),)
    )
    silence = Silence("s-1", {"region": REGION}, "maintenance", 0.0, 2e9)
    wanted = needs_tags(table, [silence.matcher()])
    tags = InstanceTags(fetch_from(lambda account, region: assistant), wanted=wanted)
    # WHEN the run prefetches its findings
    tags.prefetch([finding("i-1")])
    # THEN no tags were needed and no call was made
    assert wanted is False
    assert fake.count("ListTagResources") == 0


@pytest.mark.parametrize(
    ("table", "silences"),
    [
        (RoutingTable(routes=(Route(receivers=("oncall",), matcher=PROD),)), []),
        (None, [Silence("s-1", {"instance_tags": {"env": "prod"}}, "noisy", 0.0, 2e9)]),
    ],
    ids=["route", "silence"],
)
def test_a_tag_condition_in_a_route_or_a_silence_needs_tags(table, silences):
    # GIVEN a tag condition in a route or in a silence
    # WHEN asked whether the run needs tags
    # THEN it does
    assert needs_tags(table, [s.matcher() for s in silences]) is True


def test_no_routing_file_and_no_silences_need_no_tags():
    # GIVEN neither a routing file nor silences
    # THEN no tags are needed
    assert needs_tags(None, []) is False


# --- the API wrapper ---------------------------------------------------------------------------


class FakeCaller:
    """Answers each call with the next canned answer and records what it was asked."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, object]]] = []

    def call(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        return self.answers.pop(0)


def test_tag_requests_name_the_instance_type_and_send_no_page_size():
    # GIVEN a server with one tag
    answer = {
        "NextToken": "",
        "TagResources": {
            "TagResource": [{"ResourceId": "i-1", "TagKey": "env", "TagValue": "prod"}]
        },
    }
    caller = FakeCaller(answer)
    # WHEN the tags of i-1 are read
    found = CloudAssistant(caller, REGION).instance_tags(["i-1"])
    # THEN the request is the reference's (ListTagResources takes no MaxResults)
    assert caller.calls == [
        (
            "ListTagResources",
            {"RegionId": REGION, "ResourceType": "instance", "ResourceId": ["i-1"]},
        )
    ]
    assert found == {"i-1": {"env": "prod"}}


def test_a_tag_with_an_empty_value_is_still_a_tag():
    # GIVEN a tag whose value is empty (the API allows it) and one sent as null
    caller = FakeCaller(
        {
            "TagResources": {
                "TagResource": [
                    {"ResourceId": "i-1", "TagKey": "canary", "TagValue": ""},
                    {"ResourceId": "i-1", "TagKey": "flag", "TagValue": None},
                ]
            }
        }
    )
    # WHEN read
    # THEN both keys are there with empty values
    assert CloudAssistant(caller, REGION).instance_tags(["i-1"]) == {
        "i-1": {"canary": "", "flag": ""}
    }


def test_a_malformed_tag_answer_is_a_transient_error_naming_the_action():
    # GIVEN an answer whose pair lacks its ResourceId
    caller = FakeCaller({"RequestId": "R9", "TagResources": {"TagResource": [{"TagKey": "x"}]}})
    # WHEN read
    with pytest.raises(ApiTransientError) as caught:
        CloudAssistant(caller, REGION).instance_tags(["i-1"])
    # THEN the error names the action and the request
    assert caught.value.action == "ListTagResources"
    assert caught.value.code == "UnexpectedAnswer"
    assert caught.value.request_id == "R9"


def test_more_than_50_ids_in_one_tag_page_request_are_refused_before_any_call():
    # GIVEN a caller that must not be called
    caller = FakeCaller()
    # WHEN 51 ids are asked in one ListTagResources request
    with pytest.raises(ConfigError):
        CloudAssistant(caller, REGION).tag_resource_pages([f"i-{n}" for n in range(51)])
    # THEN nothing was sent
    assert caller.calls == []
