"""The oss:// state backend through the real SDK against the loopback OSS fake.

The shared contract (threads and processes), plus what only OSS has: versioned buckets
refused, a lost PUT answer resolved as our own write, auth and outage errors, rotation.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import alibabacloud_oss_v2 as oss
import pytest
from pydantic import SecretStr

from lib.state import open_store
from lib.state.base import ClaimOutcome, StateStore
from lib.state.oss import OssStore, default_endpoint
from lib.support.credentials import Credentials
from lib.support.errors import ConfigError, StateError
from tests.fakes.oss import OssFake, canonical_request, v4_signature
from tests.state_contract import NOW, StateStoreContract, StoreFactory, alert_payload, key

LEASE = 900.0
REGION = "cn-hangzhou"
KEY_ID = "LTAIfakeOss01"
SECRET = "oss-fake-secret-do-not-leak"
_buckets = itertools.count()


@dataclass(frozen=True)
class StaticCredentials:
    """Picklable credentials source (spawned processes get a copy)."""

    key_id: str = KEY_ID
    secret: str = SECRET
    token: str | None = None

    def __call__(self) -> Credentials:
        return Credentials(
            self.key_id, SecretStr(self.secret), SecretStr(self.token) if self.token else None
        )


@pytest.fixture(scope="module")
def fake() -> Iterator[OssFake]:
    with OssFake(region=REGION) as server:
        server.add_key(KEY_ID, SECRET)
        yield server


@pytest.fixture
def bucket(fake: OssFake) -> str:
    name = f"aw-state-{next(_buckets)}"
    fake.add_bucket(name)
    return name


def make_store(fake: OssFake, bucket: str, **kwargs: Any) -> OssStore:
    kwargs.setdefault("credentials", StaticCredentials())
    kwargs.setdefault("retry_base_delay", 0.001)
    return OssStore(bucket, "assistwatch", region=REGION, endpoint=fake.url, **kwargs)


class TestOssStoreContract(StateStoreContract):
    @pytest.fixture
    def store_factory(self, fake: OssFake, bucket: str) -> StoreFactory:
        def make(namespace: str = "default") -> StateStore:
            return make_store(fake, bucket, namespace=namespace)

        return make

    @pytest.fixture
    def process_factory(self, fake: OssFake, bucket: str) -> Callable[[], StateStore] | None:
        return functools.partial(
            OssStore,
            bucket,
            "assistwatch",
            region=REGION,
            endpoint=fake.url,
            credentials=StaticCredentials(),
            retry_base_delay=0.001,
        )


# ---- the fake's verifier against published vectors and the SDK's signer -----------------


_VECTOR_QUERY = {
    "param1": "value1",
    "+param1": "value3",
    "|param1": "value4",
    "+param2": "",
    "|param2": "",
    "param2": "",
}


@pytest.mark.parametrize(
    ("signed_at", "token", "additional", "signature"),
    [
        (1702743657, None, (), "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"),
        (
            1702784856,
            "token",
            (),
            "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea",
        ),
        (
            1702747512,
            None,
            ("ZAbc", "abc"),
            "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f",
        ),
    ],
)
def test_fake_verifier_reproduces_the_sdk_published_v4_vectors(
    signed_at: int, token: str | None, additional: tuple[str, ...], signature: str
) -> None:
    # GIVEN the request of alibabacloud-oss-v2's signer unit tests (VECTORS.md)
    stamp = datetime.datetime.fromtimestamp(signed_at, tz=datetime.timezone.utc)
    headers = {
        "x-oss-head1": "value",
        "abc": "value",
        "ZAbc": "value",
        "XYZ": "value",
        "content-type": "text/plain",
        "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
        "x-oss-date": stamp.strftime("%Y%m%dT%H%M%SZ"),
    }
    if token:
        headers["x-oss-security-token"] = token
    # WHEN the fake's own code computes the signature
    canonical = canonical_request(
        method="PUT",
        bucket="bucket",
        key="1234+-/123/1.txt",
        query=list(_VECTOR_QUERY.items()),
        headers=headers,
        additional_headers=additional,
    )
    computed = v4_signature(
        secret="sk",
        region="cn-hangzhou",
        product="oss",
        timestamp=headers["x-oss-date"],
        canonical=canonical,
    )
    # THEN it is the published one
    assert computed == signature


@pytest.mark.parametrize(
    ("object_key", "params"),
    [
        ("assistwatch/default/claims/ab/g0000000001", {}),
        ("水位/华东 1/~a+b=c&d.json", {"x-oss-process": "a/b c", "empty": ""}),
        ("a//b/../c%2F", {"list-type": "2", "prefix": "p/q r", "continuation-token": "YQ=="}),
    ],
)
def test_fake_verifier_agrees_with_the_sdk_signer_on_generated_requests(
    object_key: str, params: dict[str, str]
) -> None:
    # GIVEN a request signed by the SDK's SignerV4
    request = oss.HttpRequest("GET", "http://127.0.0.1:1/bkt/x")
    request.headers.update({"content-type": "application/json", "x-oss-meta-n": "1"})
    request.url += "?" + urlencode(params, quote_via=quote) if params else ""
    context = oss.SigningContext(
        bucket="bkt",
        key=object_key,
        request=request,
        credentials=oss.credentials.StaticCredentialsProvider("ak", "sk").get_credentials(),
        product="oss",
        region=REGION,
        signing_time=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    )
    oss.signer.SignerV4().sign(context)
    # WHEN the fake recomputes it from what went over the wire
    canonical = canonical_request(
        method="GET",
        bucket="bkt",
        key=object_key,
        query=list(params.items()),
        headers=dict(request.headers.items()),
    )
    computed = v4_signature(
        secret="sk",
        region=REGION,
        product="oss",
        timestamp=request.headers["x-oss-date"],
        canonical=canonical,
    )
    # THEN both agree
    assert request.headers["Authorization"].endswith(f"Signature={computed}")


def test_fake_answers_a_wrong_secret_with_the_real_403_shape(fake: OssFake, bucket: str) -> None:
    # GIVEN the SDK signing with a secret the fake does not hold
    cfg = oss.config.load_default()
    cfg.region, cfg.endpoint = REGION, fake.url
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(KEY_ID, "wrong")
    client = oss.Client(cfg)
    # WHEN it reads an object
    with pytest.raises(oss.exceptions.OperationError) as caught:
        client.get_object(oss.GetObjectRequest(bucket=bucket, key="k"))
    # THEN OSS's XML error comes back: 403 SignatureDoesNotMatch with a request id
    error = caught.value.unwrap()
    assert isinstance(error, oss.exceptions.ServiceError)
    assert (error.status_code, error.code) == (403, "SignatureDoesNotMatch")
    assert error.request_id


def test_fake_refuses_overwrite_with_409_file_already_exists(fake: OssFake, bucket: str) -> None:
    # GIVEN an object written once
    cfg = oss.config.load_default()
    cfg.region, cfg.endpoint = REGION, fake.url
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(KEY_ID, SECRET)
    client = oss.Client(cfg)
    put = oss.PutObjectRequest(bucket=bucket, key="k", body=b"1", forbid_overwrite=True)
    client.put_object(put)
    # WHEN it is written again with x-oss-forbid-overwrite
    with pytest.raises(oss.exceptions.OperationError) as caught:
        client.put_object(put)
    # THEN 409 FileAlreadyExists, and the first write stays
    error = caught.value.unwrap()
    assert (error.status_code, error.code) == (409, "FileAlreadyExists")
    assert fake.get(bucket, "k") == b"1"


def test_fake_lists_in_pages_with_continuation_tokens(fake: OssFake, bucket: str) -> None:
    # GIVEN 7 objects under a prefix, some with characters that need URL encoding
    names = [f"p/{i} 水/x" for i in range(7)]
    for name in names:
        fake.put(bucket, name, b"")
    fake.put(bucket, "q/other", b"")
    cfg = oss.config.load_default()
    cfg.region, cfg.endpoint = REGION, fake.url
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(KEY_ID, SECRET)
    paginator = oss.Client(cfg).list_objects_v2_paginator(limit=3)
    # WHEN the SDK's paginator walks the prefix 3 at a time
    pages = list(paginator.iter_page(oss.ListObjectsV2Request(bucket=bucket, prefix="p/")))
    # THEN every key comes back once, decoded, over 3 pages
    assert [o.key for page in pages for o in page.contents] == sorted(names)
    assert len(pages) == 3


# ---- what only OSS has ---------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_versioned_bucket_is_refused_because_it_ignores_forbid_overwrite(
    fake: OssFake, status: str
) -> None:
    # GIVEN a bucket whose versioning is enabled or suspended
    name = f"aw-versioned-{status.lower()}"
    fake.add_bucket(name, versioning=status)
    store = make_store(fake, name)
    # WHEN the store is used
    with pytest.raises(ConfigError) as caught:
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    # THEN it is refused as configuration, saying why, and nothing was written
    assert status in str(caught.value)
    assert "forbid-overwrite" in str(caught.value)
    assert fake.keys(name) == []


def test_versioning_is_checked_once_per_store(fake: OssFake, bucket: str) -> None:
    # GIVEN a store over a plain bucket
    store = make_store(fake, bucket)
    before = fake.operations().count("GetBucketVersioning")
    # WHEN it is used several times
    store.claim(key(1), alert_payload(), "run-a", LEASE, NOW)
    store.read("w")
    store.pending(NOW)
    # THEN the bucket's versioning was asked once
    assert fake.operations().count("GetBucketVersioning") - before == 1


def test_a_409_after_a_dropped_answer_is_recognised_as_our_own_claim(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN OSS commits the claim's PUT but the answer never arrives, so the SDK retries
    store = make_store(fake, bucket)
    fake.drop_next_response(method="PUT", path_contains="/claims/")  # generation 1
    # WHEN the run claims the key
    outcome = store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    # THEN the retry's 409 FileAlreadyExists is resolved as our write: we won, and hold it
    (first_generation,) = fake.keys(bucket, "assistwatch/default/claims/")
    puts = [t for op, b, t in fake.calls if op == "PutObject" and b == bucket]
    assert puts.count(first_generation) == 2
    assert outcome is ClaimOutcome.WON
    assert store.confirm(key(), "run-a", NOW + 1)
    assert make_store(fake, bucket).claim(key(), alert_payload(), "b", LEASE, NOW) is (
        ClaimOutcome.DONE
    )


def test_a_409_for_someone_elses_claim_is_a_lost_race_even_for_the_same_owner(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a claim already made by run-a
    store = make_store(fake, bucket)
    assert store.claim(key(), alert_payload(), "run-a", LEASE, NOW) is ClaimOutcome.WON
    # WHEN run-a claims the same key again (a different call)
    again = store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    # THEN it is held, not won twice
    assert again is ClaimOutcome.HELD


def test_a_record_write_whose_answer_was_dropped_counts_once(fake: OssFake, bucket: str) -> None:
    # GIVEN a counter record at version v1
    store = make_store(fake, bucket)
    assert store.write("counter", {"count": 1}, None)
    seen = store.read("counter")
    # WHEN the next write's answer is lost after OSS committed it
    fake.drop_next_response(method="PUT")
    ok = store.write("counter", {"count": 2}, seen.version)
    # THEN the write reports success and the stored value moved exactly once
    assert ok
    assert store.read("counter").value == {"count": 2}


def test_wrong_secret_is_a_state_error_naming_the_key_id_but_not_the_secret(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN credentials whose secret OSS does not accept
    leaked = "this-secret-must-never-show"
    store = make_store(fake, bucket, credentials=StaticCredentials(secret=leaked))
    # WHEN the store is used
    with pytest.raises(StateError) as caught:
        store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    # THEN the error says the secret does not match the key id, and never shows the secret
    message = str(caught.value)
    assert "SignatureDoesNotMatch" in message
    assert KEY_ID in message
    assert leaked not in message
    assert leaked not in repr(caught.value)
    assert caught.value.__cause__ is None  # no SDK exception (with request details) chained
    assert leaked not in repr(store)


def test_unknown_key_id_and_bad_sts_token_say_which_is_wrong(fake: OssFake, bucket: str) -> None:
    # GIVEN an unknown AccessKey id, and an STS key presented with the wrong token
    fake.add_key("STS.sts-key", "sts-secret", security_token="right-token")
    unknown = make_store(fake, bucket, credentials=StaticCredentials(key_id="LTAI-unknown"))
    bad_token = make_store(
        fake,
        bucket,
        credentials=StaticCredentials("STS.sts-key", "sts-secret", token="wrong-token"),
    )
    # WHEN each is used THEN the message names the key and what is wrong, not the token
    with pytest.raises(StateError, match="LTAI-unknown is unknown to OSS"):
        unknown.read("w")
    with pytest.raises(StateError, match="security token") as caught:
        bad_token.read("w")
    assert "wrong-token" not in str(caught.value)


def test_a_5xx_burst_outlasting_the_retries_is_a_state_error_naming_the_bucket(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a store that works, then OSS answering 503 to every retry of one request
    store = make_store(fake, bucket, max_attempts=3)
    store.read("warm-up")
    fake.fail_next(503, times=3)
    # WHEN the store lists the outbox
    with pytest.raises(StateError) as caught:
        store.pending(NOW)
    # THEN the error names the bucket, the status and that retries ran out
    message = str(caught.value)
    assert bucket in message
    assert "503" in message
    assert "after 3 attempts" in message


def test_a_5xx_blip_shorter_than_the_retries_is_absorbed(fake: OssFake, bucket: str) -> None:
    # GIVEN OSS failing twice, then answering
    store = make_store(fake, bucket, max_attempts=3)
    store.read("warm-up")
    fake.fail_next(500, times=2)
    # WHEN a claim is made THEN it simply succeeds
    assert store.claim(key(), alert_payload(), "run-a", LEASE, NOW) is ClaimOutcome.WON


def test_an_answer_slower_than_the_timeout_is_a_state_error(fake: OssFake, bucket: str) -> None:
    # GIVEN a store with a short timeout and OSS answering slower than that, every attempt
    store = make_store(fake, bucket, timeout=0.2, max_attempts=2)
    store.read("warm-up")
    fake.slow_next(0.5, times=2)
    # WHEN it reads THEN the fault surfaces as a StateError saying OSS could not be reached
    with pytest.raises(StateError, match="could not reach"):
        store.read("w")


def test_unreachable_endpoint_is_a_state_error() -> None:
    # GIVEN an endpoint nothing listens on
    store = OssStore(
        "aw-state",
        "p",
        region=REGION,
        endpoint="http://127.0.0.1:9",
        credentials=StaticCredentials(),
        max_attempts=1,
        timeout=1.0,
    )
    # WHEN it is used THEN a StateError names the endpoint
    with pytest.raises(StateError, match=r"could not reach http://127\.0\.0\.1:9"):
        store.pending(NOW)


def test_rotated_credentials_are_used_without_rebuilding_the_store(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a store whose credentials source FC refreshes (STS keys rotate)
    fake.add_key("STS.first", "first-secret", security_token="first-token")
    current = {"creds": StaticCredentials("STS.first", "first-secret", "first-token")}

    def from_fc() -> Credentials:
        return current["creds"]()

    store = make_store(fake, bucket, credentials=from_fc)
    assert store.claim(key(1), alert_payload(), "run-a", LEASE, NOW) is ClaimOutcome.WON
    # WHEN the first key expires and the next invocation brings a new one
    fake.remove_key("STS.first")
    fake.add_key("STS.second", "second-secret", security_token="second-token")
    current["creds"] = StaticCredentials("STS.second", "second-secret", "second-token")
    # THEN the same store keeps working with the new key
    assert store.confirm(key(1), "run-a", NOW + 1)
    assert store.claim(key(2), alert_payload(), "run-a", LEASE, NOW) is ClaimOutcome.WON


def test_a_missing_bucket_says_so(fake: OssFake) -> None:
    # GIVEN a bucket name that does not exist
    store = make_store(fake, "aw-no-such-bucket")
    # WHEN it is used THEN the StateError says the bucket does not exist in the region
    with pytest.raises(StateError, match="aw-no-such-bucket does not exist in region"):
        store.read("w")


def test_pending_lists_the_outbox_only_never_the_history(fake: OssFake, bucket: str) -> None:
    # GIVEN many confirmed claims and one released claim
    store = make_store(fake, bucket)
    for n in range(20):
        store.claim(key(n), alert_payload(n), "run", LEASE, NOW)
        store.confirm(key(n), "run", NOW)
    store.claim(key(99), alert_payload(99), "run", LEASE, NOW)
    store.release(key(99), "run", "503", NOW)
    # WHEN the outbox is scanned
    start = len(fake.calls)
    pending = store.pending(NOW)
    calls = fake.calls[start:]
    # THEN only the outbox prefix and the one pending claim were read
    assert [c.key for c in pending] == [key(99)]
    listed = [target for op, _, target in calls if op == "ListObjectsV2"]
    assert listed[0] == "assistwatch/default/outbox/"
    assert len(calls) <= 4


def test_a_claim_retried_many_times_stays_a_few_objects(fake: OssFake, bucket: str) -> None:
    # GIVEN a claim whose sends keep failing and which is taken over again and again
    store = make_store(fake, bucket)
    store.claim(key(), alert_payload(), "run-0", LEASE, NOW)
    for n in range(12):
        store.release(key(), f"run-{n}", "503", NOW + n)
        store.take_over(store.pending(NOW + n)[0], f"run-{n + 1}", LEASE, NOW + n)
    # WHEN its objects are counted
    claim_objects = fake.keys(bucket, "assistwatch/default/claims/")
    # THEN old generations were tidied away, and the claim still reads right
    assert len(claim_objects) <= 3
    store.release(key(), "run-12", "503", NOW + 20)
    assert store.pending(NOW + 20)[0].attempts == 13


def test_a_write_whose_put_lands_after_its_generation_was_tidied_away_is_a_conflict(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a writer that checked version v1 and whose PUT of v2 is held in flight ...
    slow, fast = make_store(fake, bucket), make_store(fake, bucket)
    fast.write("silences", {"ids": []}, None)
    seen = slow.read("silences")
    arrived, release = fake.hold_next(method="PUT")
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(slow.write, "silences", {"ids": ["stale"]}, seen.version)
        assert arrived.wait(30)
        # ... while other runs move the record to v4, tidying v1 and v2 away
        for n in range(3):
            assert fast.write(
                "silences", {"ids": list(range(n + 1))}, fast.read("silences").version
            )
        prefix = "assistwatch/default/records/r-silences/v"
        assert fake.get(bucket, f"{prefix}0000000002") is None
        # WHEN the held PUT lands, re-creating v2
        release.set()
        won = late.result(30)
    # THEN the slow writer is told it lost, and every reader sees the others' update
    assert won is False
    assert fake.get(bucket, f"{prefix}0000000002") is not None  # it did land, below the head
    assert fast.read("silences").value == {"ids": [0, 1, 2]}


def _landed_then_paused(
    fake: OssFake, pool: ThreadPoolExecutor, write: Callable[[], bool]
) -> tuple[Any, Any]:
    """Start ``write`` on ``pool``: its record PUT lands, then it is held before it lists the
    generations to check it. The future and the event that lets it look."""
    put_arrived, put_release = fake.hold_next(method="PUT", path_contains="/records/")
    late = pool.submit(write)
    assert put_arrived.wait(30)
    list_arrived, list_release = fake.hold_next(method="GET", path_contains="list-type=2")
    put_release.set()
    assert list_arrived.wait(30)
    return late, list_release


def test_a_write_that_landed_first_is_won_even_if_three_more_went_by_before_it_looked(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a counter at v1 and a writer whose PUT of v2 lands, but which is descheduled
    # (a loaded machine) before it lists the generations to check its write ...
    slow, fast = make_store(fake, bucket), make_store(fake, bucket)
    assert fast.write("counter", {"count": 1}, None)
    seen = slow.read("counter")
    with ThreadPoolExecutor(1) as pool:
        late, list_release = _landed_then_paused(
            fake, pool, lambda: slow.write("counter", {"count": 2}, seen.version)
        )
        # ... while three more increments build on its v2 and tidy v2 and v3 away
        for _ in range(3):
            current = fast.read("counter")
            assert fast.write("counter", {"count": current.value["count"] + 1}, current.version)
        prefix = "assistwatch/default/records/r-counter/v"
        assert fake.get(bucket, f"{prefix}0000000003") is None
        # WHEN the slow writer finally looks
        list_release.set()
        won = late.result(30)
    # THEN it is told its write landed (a "conflict" would make it count a second time)
    assert won is True
    assert fast.read("counter").value == {"count": 5}


def test_stale_writer_through_the_store_sees_a_conflict(fake: OssFake, bucket: str) -> None:
    # GIVEN a writer holding a version that has since moved on
    a, b = make_store(fake, bucket), make_store(fake, bucket)
    a.write("budget", {"sent": 0}, None)
    old = b.read("budget")
    for n in range(1, 4):
        a.write("budget", {"sent": n}, a.read("budget").version)
    # WHEN it writes at its old version THEN it is refused and nothing changes
    assert not b.write("budget", {"sent": 99}, old.version)
    assert a.read("budget").value == {"sent": 3}


def test_prune_drops_only_old_outbox_markers_without_a_claim(fake: OssFake, bucket: str) -> None:
    # GIVEN a marker left long ago by a run that died before creating its claim,
    # a fresh one of the same kind, and a real pending claim
    store = make_store(fake, bucket)
    store.claim(key(1), alert_payload(1), "run", LEASE, NOW)
    store.release(key(1), "run", "503", NOW)
    clock_now = fake.clock
    fake.clock = lambda: clock_now() - 3 * 86_400
    fake.put(bucket, "assistwatch/default/outbox/" + "d" * 32, b"")
    fake.clock = clock_now
    fake.put(bucket, "assistwatch/default/outbox/" + "e" * 32, b"")
    # WHEN prune runs
    deleted = store.prune(clock_now())
    # THEN only the old orphan went; the pending claim is untouched
    assert deleted == 1
    outbox = fake.keys(bucket, "assistwatch/default/outbox/")
    assert "assistwatch/default/outbox/" + "d" * 32 not in outbox
    assert "assistwatch/default/outbox/" + "e" * 32 in outbox
    assert [c.key for c in store.pending(NOW)] == [key(1)]


def test_corrupt_claim_object_is_a_state_error_that_does_not_quote_it(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN a claim whose object was damaged
    store = make_store(fake, bucket)
    store.claim(key(), {"output": "password=hunter2"}, "run", LEASE, NOW)
    (obj,) = fake.keys(bucket, "assistwatch/default/claims/")
    fake.put(bucket, obj, b'{"output": "password=hunter2"')
    # WHEN it is read THEN a StateError says it is corrupt, without its content
    with pytest.raises(StateError, match="corrupt") as caught:
        store.confirm(key(), "run", NOW)
    assert "hunter2" not in str(caught.value)


def test_two_prefixes_in_one_bucket_never_see_each_other(fake: OssFake, bucket: str) -> None:
    # GIVEN two deployments in one bucket under different prefixes
    one = OssStore(
        bucket, "team-a", region=REGION, endpoint=fake.url, credentials=StaticCredentials()
    )
    two = OssStore(
        bucket, "team-b/", region=REGION, endpoint=fake.url, credentials=StaticCredentials()
    )
    # WHEN both claim the same key THEN both win, each under its own prefix
    assert one.claim(key(), alert_payload(), "r", LEASE, NOW) is ClaimOutcome.WON
    assert two.claim(key(), alert_payload(), "r", LEASE, NOW) is ClaimOutcome.WON
    assert all(k.startswith(("team-a/default/", "team-b/default/")) for k in fake.keys(bucket))


# ---- configuration -------------------------------------------------------------------------


def test_default_endpoint_is_the_public_one_of_the_region() -> None:
    # GIVEN a region WHEN no endpoint is set THEN the public OSS endpoint is used
    assert default_endpoint("cn-shanghai") == "https://oss-cn-shanghai.aliyuncs.com"
    store = OssStore("aw-state", "p", region="cn-shanghai", credentials=StaticCredentials())
    assert "https://oss-cn-shanghai.aliyuncs.com" in repr(store)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"bucket": "Bad_Bucket"}, "bucket name"),
        ({"endpoint": "http://oss-cn-hangzhou.aliyuncs.com"}, "https"),
        ({"namespace": "../x"}, "namespace"),
        ({"region": "cn hangzhou"}, "region"),
    ],
)
def test_malformed_settings_are_config_errors(kwargs: dict[str, str], needle: str) -> None:
    # GIVEN one malformed setting WHEN the store is built THEN a ConfigError names it
    args: dict[str, Any] = {"bucket": "aw-state", "region": REGION, **kwargs}
    with pytest.raises(ConfigError, match=needle):
        OssStore(args.pop("bucket"), "p", credentials=StaticCredentials(), **args)


def test_open_store_builds_an_oss_store_from_the_url(fake: OssFake, bucket: str) -> None:
    # GIVEN an oss:// URL, the region from FC's environment and an endpoint override
    store = open_store(
        f"oss://{bucket}/assistwatch",
        environ={"FC_REGION": REGION},
        namespace="prod",
        credentials=StaticCredentials(),
        endpoint=fake.url,
    )
    # WHEN it is used THEN its objects live under PREFIX/NAMESPACE/ in that bucket
    assert store.claim(key(), alert_payload(), "r", LEASE, NOW) is ClaimOutcome.WON
    assert fake.keys(bucket)
    assert all(k.startswith("assistwatch/prod/") for k in fake.keys(bucket))


def test_open_store_reads_environment_credentials_when_none_are_passed(
    fake: OssFake, bucket: str
) -> None:
    # GIVEN credentials only in the standard environment variables
    environ = {
        "FC_REGION": REGION,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
    }
    store = open_store(f"oss://{bucket}/x", environ=environ, endpoint=fake.url)
    # WHEN it is used THEN requests are signed with them
    assert store.write("w", {"a": 1}, None)


@pytest.mark.parametrize(
    ("url", "environ", "needle"),
    [
        ("oss:///prefix", {"FC_REGION": REGION}, "needs a bucket"),
        ("oss://aw-state/prefix", {}, "region"),
    ],
)
def test_open_store_oss_without_bucket_or_region_is_a_config_error(
    url: str, environ: dict[str, str], needle: str
) -> None:
    # GIVEN an oss:// URL missing a part WHEN it is opened THEN a ConfigError says which
    with pytest.raises(ConfigError, match=needle):
        open_store(url, environ=environ, credentials=StaticCredentials())


def test_a_write_checked_against_a_previous_releases_writes_is_unknown_not_a_conflict(
    fake: OssFake, bucket: str
) -> None:
    """GIVEN a rolling update: a writer of this release whose PUT of v2 lands, descheduled
    before it checks it, while the previous release (bodies without ``history``) builds
    three increments on it and tidies v2 and v3 away WHEN the writer finally looks THEN
    it cannot tell whether its write is in the chain, and says so as a StateError that
    names why (a "conflict" would make its caller count twice); the counter stays 5."""
    import json
    import uuid

    slow, fast = make_store(fake, bucket), make_store(fake, bucket)
    assert fast.write("counter", {"count": 1}, None)
    seen = slow.read("counter")
    prefix = "assistwatch/default/records/r-counter/v"
    with ThreadPoolExecutor(1) as pool:
        late, list_release = _landed_then_paused(
            fake, pool, lambda: slow.write("counter", {"count": 2}, seen.version)
        )
        for gen in (3, 4, 5):  # the previous release: nonce and prev, no history
            below = json.loads(fake.get(bucket, f"{prefix}{gen - 1:010d}") or b"{}")
            body = {
                "name": "counter",
                "written_at": NOW,
                "value": {"count": gen},
                "nonce": uuid.uuid4().hex,
                "prev": f"{gen - 1}.{below['nonce']}",
            }
            fake.put(bucket, f"{prefix}{gen:010d}", json.dumps(body).encode())
            fake.delete(bucket, f"{prefix}{gen - 2:010d}")  # its tidying: below the replaced
        assert fake.get(bucket, f"{prefix}0000000003") is None
        list_release.set()
        with pytest.raises(StateError) as raised:
            late.result(30)
    message = str(raised.value)
    assert "unknown" in message
    assert "release" in message  # why: the writes after it carry no history to check by
    assert fast.read("counter").value == {"count": 5}
