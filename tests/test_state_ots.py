"""The ots:// state backend through the real tablestore SDK against the loopback fake."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator

import pytest
from pydantic import SecretStr

from lib.state import open_store
from lib.state.base import ClaimOutcome, StateStore
from lib.state.ots import DAY, TTL_SECONDS, OtsStore, default_endpoint
from lib.support.credentials import Credentials
from lib.support.errors import ConfigError, StateError
from tests.factories import Clock
from tests.fakes.ots import FakeTableStore, request_signature, response_signature
from tests.state_contract import NOW, StateStoreContract, StoreFactory, alert_payload, key

LEASE = 900.0
INSTANCE = "assistwatch"
TABLE = "assistwatch_state"
KEY_ID = "LTAIfakeOts01"
SECRET = "fake-ots-secret-d0n7-l0g-m3"
TOKEN = "CAIS-sts-token-n3v3r-pr1nt"


def creds(key_id: str = KEY_ID, secret: str = SECRET, token: str | None = TOKEN) -> Credentials:
    return Credentials(key_id, SecretStr(secret), SecretStr(token) if token else None)


@pytest.fixture
def fake() -> Iterator[FakeTableStore]:
    with FakeTableStore(
        instance=INSTANCE, access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN
    ) as service:
        service.create_table(TABLE, ttl=TTL_SECONDS)
        yield service


def make_store(
    fake: FakeTableStore,
    *,
    namespace: str = "default",
    credentials: Callable[[], Credentials] | None = None,
    timeout: float = 10.0,
) -> OtsStore:
    return OtsStore(
        INSTANCE,
        TABLE,
        endpoint=fake.endpoint,
        credentials=credentials or creds,
        namespace=namespace,
        timeout=timeout,
    )


class TestOtsStoreContract(StateStoreContract):
    @pytest.fixture
    def store_factory(self, fake: FakeTableStore) -> StoreFactory:
        def make(namespace: str = "default") -> StateStore:
            return make_store(fake, namespace=namespace)

        return make

    @pytest.fixture
    def process_factory(self, fake: FakeTableStore) -> Callable[[], StateStore] | None:
        # Picklable: spawned children build their own store and SDK client over loopback.
        return functools.partial(
            OtsStore,
            INSTANCE,
            TABLE,
            endpoint=fake.endpoint,
            credentials=functools.partial(creds),
        )


# ---- the wire: signatures and authentication ------------------------------------------------


def _text(value: str | bytes) -> str:
    """The SDK's signer returns base64 bytes (6.2) or text (6.4)."""
    return value.decode() if isinstance(value, bytes) else value


def test_fake_verifies_requests_signed_by_the_sdks_own_signer() -> None:
    # GIVEN headers signed by the tablestore SDK's own V2 signer (the oracle; its internal
    # API as of the pinned 6.2.x: the signer holds a credentials provider)
    from tablestore.auth import SignV2
    from tablestore.credentials import StaticCredentialsProvider

    headers = {
        "x-ots-date": "2024-05-01T08:00:00.000Z",
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": KEY_ID,
        "x-ots-instancename": INSTANCE,
        "x-ots-contentmd5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-ots-ststoken": TOKEN,
    }
    signed = dict(headers)
    signer = SignV2(StaticCredentialsProvider(KEY_ID, SECRET, TOKEN), "utf8")
    signer.gen_signing_key()
    signer.make_request_signature_and_add_headers("/PutRow", signed)
    # WHEN the fake computes the signature itself
    # THEN it matches the SDK's, and another secret gives another one
    sdk_signature = _text(signed["x-ots-signature"])
    assert request_signature(SECRET, "/PutRow", signed) == sdk_signature
    assert request_signature("other", "/PutRow", signed) != sdk_signature


def test_the_sdk_accepts_only_answers_signed_with_its_secret() -> None:
    # GIVEN an answer's x-ots headers, signed the way the SDK checks them
    from tablestore.auth import SignV2
    from tablestore.credentials import StaticCredentialsProvider

    headers = {"x-ots-date": "2024-05-01T08:00:00.000Z", "x-ots-requestid": "r-1"}
    signer = SignV2(StaticCredentialsProvider(KEY_ID, SECRET, TOKEN), "utf8")
    signer.gen_signing_key()
    # WHEN the fake signs it THEN the SDK's own response signer agrees
    expected = _text(signer.make_response_signature("/GetRow", headers))
    assert response_signature(SECRET, "/GetRow", headers) == expected


def test_wrong_secret_is_a_state_error_naming_the_fix_and_never_the_secret(
    fake: FakeTableStore,
) -> None:
    # GIVEN a store whose secret is wrong
    wrong = "wr0ng-s3cr3t-value"
    store = make_store(fake, credentials=lambda: creds(secret=wrong))
    # WHEN it is used
    with pytest.raises(StateError) as caught:
        store.claim(key(), alert_payload(), "run", LEASE, NOW)
    # THEN the error says the service refused the signature and what to check, without secrets
    message = str(caught.value)
    assert "OTSAuthFailed" in message
    assert "Signature mismatch" in message
    assert "AccessKey" in message
    assert TABLE in message
    for secret in (wrong, SECRET, TOKEN):
        assert secret not in message
        assert secret not in repr(store)


def test_wrong_sts_token_is_refused(fake: FakeTableStore) -> None:
    # GIVEN the right key with an expired (wrong) STS token
    store = make_store(fake, credentials=lambda: creds(token="expired-token"))
    # WHEN it reads THEN the service refuses it as an auth failure
    with pytest.raises(StateError, match="OTSAuthFailed"):
        store.read("watermark")


def test_rotated_credentials_are_used_without_rebuilding_the_store(fake: FakeTableStore) -> None:
    # GIVEN a store built once, and credentials that change between invocations
    fake.add_key("STS.second", "second-secret", "second-token")
    current = {"creds": creds()}
    store = make_store(fake, credentials=lambda: current["creds"])
    store.write("w", {"n": 1}, None)
    # WHEN FC hands the next invocation new STS credentials and the old ones are revoked
    current["creds"] = creds("STS.second", "second-secret", "second-token")
    fake.add_key(KEY_ID, "revoked-" + SECRET)
    record = store.read("w")
    # THEN the same store signs with the new key and works
    assert record.value == {"n": 1}
    assert fake.calls[-1] == ("GetRow", "STS.second")


def test_sdk_debug_logging_never_shows_the_token_or_secret(
    fake: FakeTableStore, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN logging at DEBUG everywhere
    caplog.set_level(logging.DEBUG)
    store = make_store(fake)
    # WHEN the store works, and fails a condition
    store.write("w", {"n": 1}, None)
    store.write("w", {"n": 2}, None)
    # THEN no log line carries the secret or the STS token
    assert SECRET not in caplog.text
    assert TOKEN not in caplog.text


# ---- faults --------------------------------------------------------------------------------


LATE_TIMEOUT = 1.0  # the client's timeout when a request arrives late: it must give up on it


def _dropped(fake: FakeTableStore) -> None:
    fake.drop_after_commit(apis=["PutRow"], times=2)  # the marker's and the claim's


def _late(fake: FakeTableStore) -> None:
    fake.arrive_late(apis=["PutRow"], skip=1)  # the claim's, after the marker's


@pytest.mark.parametrize(
    "lose_the_answer",
    [
        pytest.param(_dropped, id="answer dropped after the commit"),
        pytest.param(_late, id="lands after the timeout and the read-back, before the retry"),
    ],
)
def test_a_claim_whose_answer_was_lost_after_it_committed_is_still_won(
    fake: FakeTableStore, lose_the_answer: Callable[[FakeTableStore], None]
) -> None:
    # GIVEN the service commits the claim's PutRow but the answer never arrives
    store = make_store(fake, timeout=LATE_TIMEOUT)
    lose_the_answer(fake)
    # WHEN the run claims
    outcome = store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    # THEN it won and holds it (not "held" by itself, which would delay it by a whole lease)
    assert outcome is ClaimOutcome.WON
    assert store.confirm(key(), "run-a", NOW + 1)


def test_a_claim_refused_with_5xx_before_it_committed_is_retried_and_won_once(
    fake: FakeTableStore,
) -> None:
    # GIVEN the claim's PutRow is answered 500 without being applied
    store = make_store(fake)
    fake.fail(1, status=500, code="OTSInternalServerError", apis=["PutRow"])
    # WHEN the run claims, and another run claims after it
    first = store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    second = make_store(fake).claim(key(), alert_payload(), "run-b", LEASE, NOW)
    # THEN the read-back found nothing, the retry won, and the other run sees it held
    assert (first, second) == (ClaimOutcome.WON, ClaimOutcome.HELD)
    assert fake.rows(TABLE)[("default", f"claim/{key().id}")]["owner"] == "run-a"


def test_a_read_whose_answer_was_lost_is_asked_again(fake: FakeTableStore) -> None:
    # GIVEN a record, and the next GetRow answer is dropped
    store = make_store(fake)
    store.write("w", {"a": 1}, None)
    fake.drop_after_commit(apis=["GetRow"])
    # WHEN it is read THEN the store asks again and gets it
    assert store.read("w").value == {"a": 1}


@pytest.mark.parametrize(
    "lose_the_answer",
    [
        pytest.param(lambda f: f.drop_after_commit(apis=["PutRow"]), id="dropped after commit"),
        pytest.param(lambda f: f.arrive_late(apis=["PutRow"]), id="lands after the read-back"),
    ],
)
def test_a_record_write_whose_answer_was_lost_counts_once(
    fake: FakeTableStore, lose_the_answer: Callable[[FakeTableStore], None]
) -> None:
    # GIVEN a counter, and a write that commits but whose answer never arrives (dropped; or
    # delayed past the client's timeout, landing after the store read the row back
    # unchanged and just before it tries again)
    store = make_store(fake, timeout=LATE_TIMEOUT)
    store.write("counter", {"count": 1}, None)
    seen = store.read("counter")
    lose_the_answer(fake)
    # WHEN it is incremented
    written = store.write("counter", {"count": 2}, seen.version)
    # THEN the write is reported as done (a retry refused by our own write included), and
    # was applied exactly once
    assert written
    assert store.read("counter").value == {"count": 2}


def test_a_take_over_that_lands_after_its_timeout_and_read_back_is_still_won(
    fake: FakeTableStore,
) -> None:
    # GIVEN a pending claim, and a take-over whose UpdateRow lands late, before its retry
    store = make_store(fake, timeout=LATE_TIMEOUT)
    store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    store.release(key(), "run-a", "HTTP 503", NOW + 1)
    (pending,) = store.pending(NOW + 2)
    fake.arrive_late(apis=["UpdateRow"])
    # WHEN run-b takes it over
    taken = store.take_over(pending, "run-b", LEASE, NOW + 2)
    # THEN run-b holds it and is told so (not left to wait out its own lease)
    assert taken
    assert store.confirm(key(), "run-b", NOW + 3)


def test_a_confirm_that_lands_after_its_timeout_and_read_back_is_confirmed_once(
    fake: FakeTableStore,
) -> None:
    # GIVEN a won claim, and a confirm whose UpdateRow lands late, just before its retry
    store = make_store(fake, timeout=LATE_TIMEOUT)
    store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    fake.arrive_late(apis=["UpdateRow"])
    # WHEN the run confirms
    confirmed = store.confirm(key(), "run-a", NOW + 1)
    # THEN it is told so, and the claim is done and out of the outbox
    assert confirmed
    assert make_store(fake).claim(key(), alert_payload(), "run-b", LEASE, NOW + 2) is (
        ClaimOutcome.DONE
    )
    assert store.pending(NOW + LEASE + 1) == []


def test_a_5xx_burst_is_a_state_error_naming_the_table(fake: FakeTableStore) -> None:
    # GIVEN Table Store answers every request with 500 OTSInternalServerError
    store = make_store(fake)
    fake.fail(1000, status=500, code="OTSInternalServerError", message="Internal server error.")
    # WHEN the store is used
    with pytest.raises(StateError) as caught:
        store.pending(NOW)
    # THEN it fails loudly with a StateError naming the instance, table and code
    assert f"{INSTANCE}/{TABLE}" in str(caught.value)
    assert "OTSInternalServerError" in str(caught.value)
    assert caught.value.retryable


def test_a_short_busy_spell_is_retried_and_passes(fake: FakeTableStore) -> None:
    # GIVEN two OTSServerBusy answers
    store = make_store(fake)
    fake.fail(2, status=503, code="OTSServerBusy")
    # WHEN a claim is made THEN it succeeds after the SDK's quick retries
    assert store.claim(key(), alert_payload(), "run", LEASE, NOW) is ClaimOutcome.WON


def test_a_slow_service_is_a_state_error_not_a_hang(fake: FakeTableStore) -> None:
    # GIVEN a service slower than the store's timeout
    store = make_store(fake, timeout=0.2)
    fake.slow(1.0, times=10, apis=["GetRow"])
    # WHEN the store reads THEN it gives up with a StateError saying it got no answer
    with pytest.raises(StateError, match="did not answer"):
        store.read("watermark")


def test_a_missing_table_says_how_to_create_it(fake: FakeTableStore) -> None:
    # GIVEN a store pointed at a table that does not exist
    store = OtsStore(INSTANCE, "nope", endpoint=fake.endpoint, credentials=creds)
    # WHEN it is used THEN the error says the table is missing and how to create it
    with pytest.raises(StateError, match="OTSObjectNotExist") as caught:
        store.read("w")
    assert "create the table" in str(caught.value)


# ---- expiry (TTL) and the outbox --------------------------------------------------------------


def test_rewriting_a_record_keeps_it_past_the_ttl_and_an_untouched_one_expires() -> None:
    # GIVEN a table with the 43-day TTL and two records written on day 0
    clock = Clock(NOW)
    with FakeTableStore(access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock) as service:
        store = OtsStore(
            service.instance,
            TABLE,
            endpoint=service.endpoint,
            credentials=lambda: creds(token=None),
        )
        assert store.create_table_if_missing()
        store.write("watch/old", {"n": 1}, None)
        store.write("watch/open", {"n": 1}, None)
        # WHEN one is rewritten on day 30, and we look on day 50
        clock.now = NOW + 30 * DAY
        store.write("watch/open", {"n": 2}, store.read("watch/open").version)
        clock.now = NOW + 50 * DAY
        # THEN the rewritten one lives (every column was rewritten) and the other expired
        assert store.read("watch/open").value == {"n": 2}
        assert store.read("watch/old").version is None


def test_prune_keeps_an_untouched_outbox_claim_from_expiring() -> None:
    # GIVEN a released claim nobody touches for 25 days
    clock = Clock(NOW)
    with FakeTableStore(access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock) as service:
        service.create_table(TABLE, ttl=TTL_SECONDS)
        store = OtsStore(
            service.instance,
            TABLE,
            endpoint=service.endpoint,
            credentials=lambda: creds(token=None),
        )
        store.claim(key(), alert_payload(), "run", LEASE, NOW)
        store.release(key(), "run", "robot paused", NOW)
        clock.now = NOW + 25 * DAY
        # WHEN prune runs (it deletes nothing: the TTL does) and 30 more days pass
        assert store.prune(clock.now) == 0
        clock.now = NOW + 55 * DAY
        # THEN the claim is still in the outbox, whole
        (claim,) = store.pending(clock.now)
        assert claim.payload == alert_payload()
        assert claim.last_error == "robot paused"


def test_pending_reads_only_the_outbox_range_not_the_history(fake: FakeTableStore) -> None:
    # GIVEN many confirmed claims and records, and one pending claim
    store = make_store(fake)
    for n in range(30):
        store.claim(key(n), alert_payload(n), "run", LEASE, NOW)
        store.confirm(key(n), "run", NOW)
        store.write(f"watch/{n}", {"n": n}, None)
    store.claim(key(99), alert_payload(99), "run", LEASE, NOW)
    store.release(key(99), "run", "deferred", NOW)
    reads_before = fake.call_count("GetRow")
    # WHEN the outbox is scanned
    pending = store.pending(NOW)
    # THEN it finds the one claim with one range read and one row read
    assert [c.key for c in pending] == [key(99)]
    assert fake.call_count("GetRange") == 1
    assert fake.call_count("GetRow") - reads_before == 1


def test_pending_pages_through_a_large_outbox(fake: FakeTableStore) -> None:
    # GIVEN more released claims than one GetRange page holds
    fake.page_size = 4
    store = make_store(fake)
    for n in range(10):
        store.claim(key(n), alert_payload(n), "run", LEASE, NOW + n)
        store.release(key(n), "run", "deferred", NOW + 20)
    # WHEN the outbox is scanned THEN every claim is found, oldest first
    assert [c.key for c in store.pending(NOW + 20)] == [key(n) for n in range(10)]


def test_claiming_an_already_told_alert_writes_nothing(fake: FakeTableStore) -> None:
    # GIVEN a confirmed claim
    store = make_store(fake)
    store.claim(key(), alert_payload(), "run", LEASE, NOW)
    store.confirm(key(), "run", NOW)
    writes = sum(fake.call_count(api) for api in ("PutRow", "UpdateRow", "DeleteRow"))
    # WHEN later polls claim it again
    outcomes = {store.claim(key(), alert_payload(), f"run-{i}", LEASE, NOW + i) for i in range(3)}
    # THEN each is told it is done, and nothing was written
    assert outcomes == {ClaimOutcome.DONE}
    assert sum(fake.call_count(api) for api in ("PutRow", "UpdateRow", "DeleteRow")) == writes


# ---- the table and opening by URL --------------------------------------------------------------


def test_create_table_if_missing_creates_the_documented_schema_once(fake: FakeTableStore) -> None:
    # GIVEN an instance without the table
    store = OtsStore(INSTANCE, "fresh", endpoint=fake.endpoint, credentials=creds)
    # WHEN it is created twice
    first, second = store.create_table_if_missing(), store.create_table_if_missing()
    # THEN it was created once, keyed (namespace, key), with the 43-day TTL and one version
    assert (first, second) == (True, False)
    table = fake.tables["fresh"]
    assert [(c.name, c.type) for c in table.meta.primary_key] == [("namespace", 2), ("key", 2)]
    assert table.options.time_to_live == 43 * 86400
    assert table.options.max_versions == 1


def test_a_table_with_another_primary_key_is_refused(fake: FakeTableStore) -> None:
    # GIVEN a table of the same name with another schema
    fake.create_table("other", pk=["id"])
    store = OtsStore(INSTANCE, "other", endpoint=fake.endpoint, credentials=creds)
    # WHEN the store checks it THEN a ConfigError says which key it needs
    with pytest.raises(ConfigError, match="namespace"):
        store.create_table_if_missing()


def test_ots_url_opens_a_working_store(fake: FakeTableStore) -> None:
    # GIVEN an ots:// URL with an endpoint override
    store = open_store(
        f"ots://{INSTANCE}/{TABLE}",
        environ={},
        namespace="prod",
        credentials=creds,
        endpoint=fake.endpoint,
    )
    # WHEN it is used THEN rows land under the namespace
    assert store.write("w", {"a": 1}, None)
    assert ("prod", "record/w") in fake.rows(TABLE)


def test_ots_url_without_an_endpoint_uses_the_regional_public_endpoint() -> None:
    # GIVEN only the function's region
    store = open_store(
        "ots://myinstance/state", environ={"FC_REGION": "cn-hangzhou"}, credentials=creds
    )
    # THEN the endpoint is the instance's public one in that region
    assert store._endpoint == "https://myinstance.cn-hangzhou.ots.aliyuncs.com"  # type: ignore[attr-defined]
    assert default_endpoint("i", "cn-shanghai", vpc=True) == (
        "https://i.cn-shanghai.vpc.tablestore.aliyuncs.com"
    )


@pytest.mark.parametrize("url", ["ots://only-instance", "ots:///table", "ots://a/b/c"])
def test_malformed_ots_url_is_a_config_error(url: str) -> None:
    # GIVEN an ots:// URL without INSTANCE/TABLE WHEN opened THEN it is refused by form
    with pytest.raises(ConfigError, match="ots://INSTANCE/TABLE"):
        open_store(url, environ={"FC_REGION": "cn-hangzhou"}, credentials=creds)


def test_plain_http_endpoint_off_loopback_is_refused() -> None:
    # GIVEN an endpoint over plain http to a real host WHEN opened THEN it is refused
    with pytest.raises(ConfigError, match="https"):
        OtsStore(INSTANCE, TABLE, endpoint="http://ots.example.com", credentials=creds)


def test_stale_owner_cannot_confirm_after_take_over(fake: FakeTableStore) -> None:
    # GIVEN a claim released by run-a and taken over by run-b
    store = make_store(fake)
    store.claim(key(), alert_payload(), "run-a", LEASE, NOW)
    store.release(key(), "run-a", "503", NOW + 1)
    assert store.take_over(store.pending(NOW + 1)[0], "run-b", LEASE, NOW + 2)
    # WHEN run-a's late confirm arrives THEN it is refused; the outbox has nothing pending
    assert not store.confirm(key(), "run-a", NOW + 3)
    assert store.pending(NOW + 3) == []
    stored = fake.rows(TABLE)[("default", f"claim/{key().id}")]
    assert stored["owner"] == "run-b"
    assert stored["lease_until"] == NOW + 2 + LEASE
