"""Signed links (lib.core.links) and the pages they open through the HTTP trigger's envelope.

The security stories of issue #14: a link only does what it was signed for, until it
expires; a GET never writes; a POST needs the link's own form token; nothing secret shows.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from structlog.testing import capture_logs

from lib.core.links import LinkError, Signer
from lib.edges import entry
from lib.edges.links import serve_link, signer_for
from lib.edges.throttle import Throttle
from lib.state.actions import RECORD as ACTIONS
from lib.state.file import FileStore
from lib.state.silences import add_silence, list_silences
from lib.support.settings import load_settings

SECRET = "k" * 24 + "-secret-for-links-0123456789"
PUBLIC = "http://127.0.0.1:9000"
FP = "0123456789abcdef01234567"
NOW = time.time()


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path}",
        "ASSISTWATCH_PUBLIC_URL": PUBLIC,
        "ASSISTWATCH_ACTIONS_SECRET": SECRET,
        "ASSISTWATCH_LANG": "en",
        **extra,
    }


@pytest.fixture
def signer() -> Signer:
    return Signer(PUBLIC, SECRET.encode())


def params_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def envelope(
    url_or_params: str | dict[str, str],
    *,
    method: str = "GET",
    form: dict[str, str] | None = None,
    ip: str = "203.0.113.7",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    params = params_of(url_or_params) if isinstance(url_or_params, str) else url_or_params
    return {
        "version": "v1",
        "rawPath": "/act",
        "body": urlencode(form or {}),
        "isBase64Encoded": False,
        "headers": headers or {},
        "queryParameters": params,
        "requestContext": {
            "accountId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": "/act",
                "protocol": "HTTP/1.1",
                "sourceIp": ip,
                "userAgent": "Mozilla/5.0 DingTalk",
            },
            "requestId": "req-1",
        },
    }


def call(tmp_path: Path, event: dict[str, Any], **extra: str) -> dict[str, Any]:
    answer = entry.handle(json.dumps(event).encode(), None, environ=env_for(tmp_path, **extra))
    assert isinstance(answer, dict)
    return answer


def csrf_of(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def baseline(tmp_path: Path) -> dict[str, bytes]:
    """The state directory as an opened store leaves it (its lock file), before any request."""
    FileStore(tmp_path)
    return state_bytes(tmp_path)


def state_bytes(tmp_path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(tmp_path)): p.read_bytes()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def fresh_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lib.edges import links

    monkeypatch.setattr(links, "LIMITER", Throttle(per_minute=1000))
    entry.reset()


# --- the signature ---------------------------------------------------------------------


def test_a_link_verifies_only_as_signed(signer: Signer) -> None:
    """GIVEN a signed silence link WHEN any of its parts changes THEN it is refused, saying why."""
    good = params_of(signer.url("silence-1h", f"{FP}.1", NOW + 600))
    assert signer.verify(good, NOW).action == "silence-1h"
    for key, value in (("a", "silence-1d"), ("t", f"{FP}.2"), ("e", str(int(NOW) + 9999))):
        with pytest.raises(LinkError, match="signature does not match"):
            signer.verify({**good, key: value}, NOW)
    with pytest.raises(LinkError, match="signature"):
        signer.verify({**good, "s": good["s"][:-1] + ("A" if good["s"][-1] != "A" else "B")}, NOW)
    with pytest.raises(LinkError, match="expired"):
        signer.verify(good, NOW + 601)
    with pytest.raises(LinkError, match="another action"):
        signer.verify(good, NOW, action="ack")
    with pytest.raises(LinkError, match="incomplete"):
        signer.verify({k: v for k, v in good.items() if k != "s"}, NOW)
    other = Signer(PUBLIC, b"another-deployment-key-0123456789abcdef")
    with pytest.raises(LinkError, match="signature"):
        other.verify(good, NOW)


def test_a_short_key_is_refused_and_the_key_is_never_in_a_link_or_repr(signer: Signer) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Signer(PUBLIC, b"short")
    url = signer.url("ack", f"{FP}.1", NOW + 60)
    assert SECRET not in url
    assert SECRET not in repr(signer)
    assert url.startswith(f"{PUBLIC}/act?a=ack&t={FP}.1&e=")


def test_the_settings_turn_actions_on_only_with_both_and_refuse_a_weak_key() -> None:
    assert not load_settings({}).actions_on
    assert not load_settings({"ASSISTWATCH_ACTIONS_SECRET": SECRET}).actions_on
    on = load_settings(
        {"ASSISTWATCH_ACTIONS_SECRET": SECRET, "ASSISTWATCH_PUBLIC_URL": PUBLIC + "/"}
    )
    assert on.actions_on
    assert on.public_url == PUBLIC
    with pytest.raises(Exception, match="ASSISTWATCH_ACTIONS_SECRET: must be at least 32 bytes"):
        load_settings({"ASSISTWATCH_ACTIONS_SECRET": "short", "ASSISTWATCH_PUBLIC_URL": PUBLIC})
    assert not load_settings({"ASSISTWATCH_PUBLIC_URL": PUBLIC}).actions_on  # off, no error
    with pytest.raises(Exception, match="ASSISTWATCH_PUBLIC_URL: public URL must be https"):
        load_settings(
            {"ASSISTWATCH_ACTIONS_SECRET": SECRET, "ASSISTWATCH_PUBLIC_URL": "http://example.com"}
        )


# --- GET shows, POST applies -------------------------------------------------------------


def test_get_shows_a_confirmation_form_and_writes_nothing(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a silence link WHEN a chat previewer GETs it (twice) THEN it sees a page with one
    button and the form token, and the state store is byte-for-byte unchanged."""
    add_silence(
        FileStore(tmp_path), {"region": "cn-hangzhou"}, reason="x", duration_seconds=60, now=NOW
    )
    before = state_bytes(tmp_path)
    url = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    for _ in range(2):
        reply = call(tmp_path, envelope(url))
        assert reply["statusCode"] == 200
        page = reply["body"]
        assert '<form method="post">' in page
        assert page.count("<button") == 1
        assert "<script" not in page
        assert "http" not in page.split("<body>")[1].replace(PUBLIC, "")
    assert state_bytes(tmp_path) == before
    assert reply["headers"]["cache-control"] == "no-store"
    assert reply["headers"]["referrer-policy"] == "no-referrer"


def test_post_with_the_links_token_silences_that_alert_once(tmp_path: Path, signer: Signer) -> None:
    """GIVEN the confirmation page WHEN the form is posted (then posted again) THEN one silence
    exists, matching that fingerprint only, recorded with who, when and from where."""
    url = signer.url("silence-1d", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    first = call(tmp_path, envelope(url, method="POST", form={"csrf": token, "name": "Wang Wei"}))
    assert first["statusCode"] == 200
    assert "Silence 1 day" in first["body"]
    again = call(tmp_path, envelope(url, method="POST", form={"csrf": token, "name": "other"}))
    assert again["statusCode"] == 200
    assert "already used" in again["body"]
    store = FileStore(tmp_path)
    [silence] = list_silences(store, NOW)
    assert silence.match == {"fingerprint": FP}
    assert silence.created_by == "Wang Wei"
    assert 86000 < silence.expires_at - silence.created_at <= 86400
    [applied] = store.read(ACTIONS).value["applied"].values()
    assert applied["ip"] == "203.0.113.7"
    assert applied["user_agent"] == "Mozilla/5.0 DingTalk"
    assert applied["result"] == silence.id
    assert silence.id in again["body"]


@pytest.mark.parametrize(
    "form",
    [{}, {"csrf": ""}, {"csrf": "not-the-token"}],
    ids=["no token", "empty token", "made-up token"],
)
def test_post_without_the_links_own_token_is_refused(
    tmp_path: Path, signer: Signer, form: dict[str, str]
) -> None:
    url = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    reply = call(tmp_path, envelope(url, method="POST", form=form))
    assert reply["statusCode"] == 403
    assert "form token" in reply["body"]
    assert list_silences(FileStore(tmp_path), NOW) == []


def test_a_token_from_another_links_page_does_not_apply(tmp_path: Path, signer: Signer) -> None:
    mine = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    other = signer.url("silence-1h", "ffffffffffffffffffffffff.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(other))["body"])
    reply = call(tmp_path, envelope(mine, method="POST", form={"csrf": token}))
    assert reply["statusCode"] == 403
    assert list_silences(FileStore(tmp_path), NOW) == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tampered_or_expired_links_get_a_403_page_and_change_nothing(
    tmp_path: Path, signer: Signer, method: str
) -> None:
    before = baseline(tmp_path)
    good = signer.url("ack", f"{FP}.1", NOW + 600)
    token = signer.csrf(signer.verify(params_of(good), NOW))
    tampered = {**params_of(good), "a": "silence-resolved"}
    expired = params_of(signer.url("ack", f"{FP}.1", NOW - 1))
    for params in (tampered, expired):
        reply = call(tmp_path, envelope(params, method=method, form={"csrf": token}))
        assert reply["statusCode"] == 403
        assert "text/html" in reply["headers"]["content-type"]
    assert state_bytes(tmp_path) == before


def test_a_look_link_cannot_be_posted_as_an_action(tmp_path: Path, signer: Signer) -> None:
    before = baseline(tmp_path)
    url = signer.url("detail", f"{FP}.1", NOW + 600)
    token = signer.csrf(signer.verify(params_of(url), NOW))
    reply = call(tmp_path, envelope(url, method="POST", form={"csrf": token}))
    assert reply["statusCode"] == 403
    assert state_bytes(tmp_path) == before


def test_acknowledging_is_recorded_for_that_firing(tmp_path: Path, signer: Signer) -> None:
    url = signer.url("ack", f"{FP}.3", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    assert call(tmp_path, envelope(url, method="POST", form={"csrf": token}))["statusCode"] == 200
    acks = FileStore(tmp_path).read(ACTIONS).value["acks"]
    assert acks[FP]["firing"] == 3


def test_until_resolved_pins_the_silence_to_the_firing(tmp_path: Path, signer: Signer) -> None:
    from lib.core.silences import apply_silences
    from tests.factories import make_alert, make_finding

    alert = make_alert(make_finding(name="backup"))
    url = signer.url("silence-resolved", f"{alert.fingerprint}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    call(tmp_path, envelope(url, method="POST", form={"csrf": token}))
    silences = list_silences(FileStore(tmp_path), NOW)
    later = time.time() + 10  # the silence starts when the POST is applied (real clock)
    _, muted = apply_silences([alert], silences, later)
    assert len(muted) == 1  # this firing, its resolve included
    assert apply_silences([alert.model_copy(update={"firing": 2})], silences, later)[1] == []
    other = make_alert(make_finding(name="backup", instance_id="i-other"))
    assert apply_silences([other], silences, later)[1] == []


def test_the_form_brings_a_name_that_is_escaped_on_the_operator_page(
    tmp_path: Path, signer: Signer
) -> None:
    url = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    call(tmp_path, envelope(url, method="POST", form={"csrf": token, "name": "<script>x</script>"}))
    page = call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)))["body"]
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert SECRET not in page


def test_the_operator_page_expires_a_silence_with_its_button(
    tmp_path: Path, signer: Signer
) -> None:
    store = FileStore(tmp_path)
    silence = add_silence(
        store, {"fingerprint": FP}, reason="r", duration_seconds=3600, now=NOW - 1
    )
    page = call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)))["body"]
    assert silence.id in page
    marker = '<form class="inline" method="post" action="'
    start = page.index(marker) + len(marker)
    action = page[start : page.index('"', start)].replace("&amp;", "&")
    token = csrf_of(page[start:])
    reply = call(tmp_path, envelope(action, method="POST", form={"csrf": token}))
    assert reply["statusCode"] == 200
    assert "expired" in reply["body"]
    assert list_silences(store, NOW) == []


# --- the rate limit and the gate ---------------------------------------------------------


def test_requests_are_limited_per_address_and_the_limit_lifts(
    tmp_path: Path, signer: Signer
) -> None:
    before = baseline(tmp_path)
    settings = load_settings(env_for(tmp_path))
    live = signer_for(settings)
    assert live is not None
    limiter = Throttle(per_minute=60)
    store = FileStore(tmp_path)
    url = signer.url("detail", f"{FP}.1", NOW + 9999)
    minute = (NOW // 60) * 60
    codes = [
        serve_link(envelope(url), settings, live, store, minute + 1, limiter=limiter)["statusCode"]
        for _ in range(65)
    ]
    assert codes.count(200) == 60
    assert codes[60:] == [429] * 5
    other = serve_link(
        envelope(url, ip="198.51.100.1"), settings, live, store, minute + 2, limiter=limiter
    )
    assert other["statusCode"] == 200  # another address is not slowed by this one
    later = serve_link(envelope(url), settings, live, store, minute + 61, limiter=limiter)
    assert later["statusCode"] == 200  # refusals did not count: the next minute serves again
    assert state_bytes(tmp_path) == before


def test_on_fc_with_actions_on_other_http_requests_need_the_serve_token(tmp_path: Path) -> None:
    """GIVEN actions on (the trigger open at FC's level) WHEN a manual poll comes without the
    serve token THEN 401 and nothing runs."""
    before = baseline(tmp_path)
    poll = envelope({}, method="POST")
    poll["rawPath"] = "/"
    poll["body"] = json.dumps({"poll": {"regions": ["cn-hangzhou"]}})
    reply = call(tmp_path, poll, FC_FUNCTION_NAME="assistwatch", ASSISTWATCH_SERVE_TOKEN="t" * 20)
    assert reply["statusCode"] == 401
    assert state_bytes(tmp_path) == before


def test_make_serve_opens_links_by_signature_and_still_guards_everything_else(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN `make serve` with actions on WHEN a phone opens a link without any token THEN the
    page is served; a manual poll without the serve token is still refused (401)."""
    import httpx

    from tests.test_serve import Server

    environ = env_for(tmp_path, ASSISTWATCH_SERVE_TOKEN="s" * 20)
    (tmp_path / "src").mkdir()
    with Server(tmp_path / "src", environ, None) as running:
        url = signer.url("silence-1h", f"{FP}.1", time.time() + 600).replace(PUBLIC, running.url)
        page = httpx.get(url)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        posted = httpx.post(url, data={"csrf": csrf_of(page.text), "name": "ops"})
        assert posted.status_code == 200
        assert posted.headers["x-frame-options"] == "DENY"
        assert httpx.post(f"{running.url}/invoke", content=b"{}").status_code == 401
        assert httpx.post(f"{running.url}/", json={"poll": {}}).status_code == 401
    assert len(list_silences(FileStore(tmp_path), time.time())) == 1


def test_no_page_or_link_shows_a_secret_and_cloud_text_is_escaped(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN a silence whose condition holds a hostile command name WHEN every kind of page is
    opened (confirm, result, refusal, detail, operator) THEN no page carries the links' key,
    the serve token or the robot's URL, and the name shows escaped."""
    robot = "https://oapi.dingtalk.com/robot/send?access_token=robot0token0secret"
    extra = {"ASSISTWATCH_SERVE_TOKEN": "serve0token0secret00", "ASSISTWATCH_DINGTALK_URL": robot}
    add_silence(
        FileStore(tmp_path),
        {"name": '<img src=x onerror="alert(1)">'},
        reason="<b>maintenance</b>",
        duration_seconds=600,
        now=NOW - 1,
    )
    url = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url), **extra)["body"])
    with capture_logs() as logged:
        replies = [
            call(tmp_path, envelope(url), **extra),
            call(tmp_path, envelope(url, method="POST", form={"csrf": token}), **extra),
            call(tmp_path, envelope({**params_of(url), "s": "x"}), **extra),
            call(tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600)), **extra),
            call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)), **extra),
        ]
    assert [e["event"] for e in logged if e["event"].startswith("link")] == ["link applied"]
    for reply in [*replies, {"body": json.dumps(logged, default=str), "headers": {}}]:
        shown = reply["body"] + json.dumps(reply["headers"])
        for secret in (SECRET, "serve0token0secret00", "robot0token0secret"):
            assert secret not in shown
    ops = replies[-1]["body"]
    assert "<img" not in ops
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in ops
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in ops


def firing_story(tmp_path: Path, *, name: str, output: str) -> None:
    """The journal as a run leaves it: one firing alert FP (its command's name and output)."""
    story = {
        "name": name,
        "instance_id": "i-1",
        "provider": "ecs",
        "region": "cn-hangzhou",
        "invoke_id": "t-1",
        "code": "ExitCodeNonzero",
        "severity": "critical",
        "group": "t-1",
        "output": output,
        "status": "firing",
        "firing": 1,
        "starts_at": NOW - 60,
        "updated_at": NOW - 60,
        "events": [{"key": f"{FP}/1", "kind": "fired", "firing": 1, "at": NOW - 60}],
    }
    FileStore(tmp_path).write("journal", {"runs": [], "alerts": {FP: story}}, None)


def test_the_detail_page_shows_the_cloud_output_escaped(tmp_path: Path, signer: Signer) -> None:
    """GIVEN an alert whose command name and output hold markup WHEN its 详情 link is opened
    THEN the page shows them as text."""
    firing_story(tmp_path, name="<img src=x>", output="</pre><script>alert(1)</script>")
    page = call(tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600)))["body"]
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "told (firing)" in page


def test_the_operator_page_with_the_serve_token_and_not_without(tmp_path: Path) -> None:
    ops = envelope({})
    ops["rawPath"] = "/ops"
    fc = {"FC_FUNCTION_NAME": "assistwatch", "ASSISTWATCH_SERVE_TOKEN": "t" * 20}
    assert call(tmp_path, ops, **fc)["statusCode"] == 401
    import httpx

    from tests.test_serve import Server

    (tmp_path / "src").mkdir()
    environ = env_for(tmp_path, ASSISTWATCH_SERVE_TOKEN="s" * 20)
    with Server(tmp_path / "src", environ, None) as running:
        assert httpx.get(f"{running.url}/ops").status_code == 401
        reply = httpx.get(f"{running.url}/ops", headers={"authorization": "Bearer " + "s" * 20})
    assert reply.status_code == 200
    assert "Open alerts" in reply.text


def test_a_silence_link_expires_once_its_alert_has_been_resolved_for_a_day(
    tmp_path: Path, signer: Signer
) -> None:
    story = {"status": "resolved", "firing": 1, "ends_at": NOW - 90000, "updated_at": NOW - 90000}
    FileStore(tmp_path).write("journal", {"runs": [], "alerts": {FP: story}}, None)
    url = signer.url("silence-1d", f"{FP}.1", NOW + 600)
    reply = call(tmp_path, envelope(url))
    assert reply["statusCode"] == 403
    assert "resolved for more than a day" in reply["body"]
    detail = call(tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600)))
    assert detail["statusCode"] == 200  # looking stays possible until the link expires
    store = FileStore(tmp_path)
    fresh = {**story, "ends_at": NOW - 600}  # resolved ten minutes ago: still usable
    assert store.write("journal", {"alerts": {FP: fresh}}, store.read("journal").version)
    assert call(tmp_path, envelope(url))["statusCode"] == 200


def test_a_causes_detail_page_lists_its_instances_each_with_its_own_actions(
    tmp_path: Path, signer: Signer
) -> None:
    def story(instance: str, group: str) -> dict[str, Any]:
        return {
            "name": "deploy.sh",
            "instance_id": instance,
            "group": group,
            "status": "firing",
            "firing": 1,
            "starts_at": NOW - 60,
            "updated_at": NOW - 60,
        }

    alerts = {
        "a" * 24: story("i-one", "t-1"),
        "b" * 24: story("i-two", "t-1"),
        "c" * 24: story("i-other", "t-2"),
    }
    FileStore(tmp_path).write("journal", {"alerts": alerts}, None)
    page = call(tmp_path, envelope(signer.url("detail", "g:t-1", NOW + 600)))["body"]
    assert "i-one" in page
    assert "i-two" in page
    assert "i-other" not in page
    acks = re.findall(r'href="([^"]*a=ack[^"]*)"', page)
    targets = {params_of(url.replace("&amp;", "&"))["t"] for url in acks}
    assert targets == {"a" * 24 + ".1", "b" * 24 + ".1"}


def test_a_secret_the_command_printed_is_not_shown_on_its_pages(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN a deploy script that printed the robot's webhook URL (its token inside) before it
    failed WHEN its alert's 详情 page and the operator page are opened THEN neither shows the
    token, as no message and no log line does."""
    robot = "https://oapi.dingtalk.com/robot/send?access_token=robot0token0secret"
    extra = {"ASSISTWATCH_DINGTALK_URL": robot, "ASSISTWATCH_SERVE_TOKEN": "serve0token0secret00"}
    firing_story(tmp_path, name="deploy.sh", output=f"notify={robot}\ncurl: (22) 500")
    pages = [
        call(tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600)), **extra)["body"],
        call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)), **extra)["body"],
    ]
    assert "curl: (22) 500" in pages[0]
    for page in pages:
        assert "robot0token0secret" not in page


def test_fc_and_make_serve_ask_the_same_length_of_the_serve_token(tmp_path: Path) -> None:
    """GIVEN a serve token one character short of `make serve`'s floor WHEN a manual poll on
    FC (actions on) carries it THEN it is refused there too: a token `make serve` rejects is
    never accepted on FC."""
    from lib.edges.links import MIN_BEARER_LENGTH
    from lib.edges.serve import MIN_TOKEN_LENGTH

    assert MIN_BEARER_LENGTH == MIN_TOKEN_LENGTH
    short = "t" * (MIN_TOKEN_LENGTH - 1)
    poll = envelope({}, method="POST")
    poll["rawPath"] = "/"
    poll["headers"] = {**poll.get("headers", {}), "authorization": f"Bearer {short}"}
    poll["body"] = json.dumps({"poll": {"regions": ["cn-hangzhou"]}})
    reply = call(tmp_path, poll, FC_FUNCTION_NAME="assistwatch", ASSISTWATCH_SERVE_TOKEN=short)
    assert reply["statusCode"] == 401


def test_a_refusal_says_why_in_the_readers_language(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a Chinese deployment WHEN a changed, expired, token-less or look-only link is
    refused THEN its 403 page says why in Chinese (no English reason left on it), each reason
    its own, and nothing was written."""
    before = baseline(tmp_path)
    zh = {"ASSISTWATCH_LANG": "zh"}
    good = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    look = signer.url("detail", f"{FP}.1", NOW + 600)
    look_token = signer.csrf(signer.verify(params_of(look), NOW))
    cases = {
        "链接签名不符": envelope({**params_of(good), "t": f"{FP}.2"}),
        "链接已过期": envelope(signer.url("silence-1h", f"{FP}.1", NOW - 1)),
        "链接不完整": envelope({k: v for k, v in params_of(good).items() if k != "s"}),
        "表单令牌缺失": envelope(good, method="POST", form={"csrf": "x"}),
        "只用于查看": envelope(look, method="POST", form={"csrf": look_token}),
    }
    for reason, event in cases.items():
        reply = call(tmp_path, event, **zh)
        assert reply["statusCode"] == 403
        text = reply["body"].split("<main>")[1]
        assert reason in text
        assert re.search(r"[A-Za-z]{4,}", re.sub(r"<[^>]+>", "", text)) is None, text
    assert state_bytes(tmp_path) == before


def test_the_confirmation_page_names_the_alert_it_will_silence(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN an alert the journal knows (its command's name holding markup) WHEN its silence
    link is opened at 3 a.m. THEN the page says which alert (command, instance, error code),
    not only a fingerprint, the name escaped; and the GET still writes nothing."""
    firing_story(tmp_path, name="<b>backup.sh</b>", output="disk full")
    before = state_bytes(tmp_path)
    page = call(tmp_path, envelope(signer.url("silence-1d", f"{FP}.1", NOW + 600)))["body"]
    assert "&lt;b&gt;backup.sh&lt;/b&gt;" in page
    assert "<b>" not in page
    assert "i-1 (ecs · cn-hangzhou)" in page
    assert "ExitCodeNonzero" in page
    assert page.count("<button") == 1
    assert state_bytes(tmp_path) == before
    unknown = call(tmp_path, envelope(signer.url("ack", "f" * 24 + ".1", NOW + 600)))
    assert unknown["statusCode"] == 200  # an alert the journal lost still gets its page


def test_the_detail_page_speaks_the_pages_language(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a Chinese deployment WHEN an alert's 详情 page is opened THEN its status reads
    告警中, not the journal's English word."""
    firing_story(tmp_path, name="backup.sh", output="disk full")
    page = call(
        tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600)), ASSISTWATCH_LANG="zh"
    )["body"]
    assert "告警中 · 第 1 次触发" in page
    assert ">firing" not in page


def test_a_links_silence_is_listed_and_expired_by_the_cli(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a silence made from a message's link (by Wang Wei) WHEN the on-call lists
    silences with the CLI THEN `assistwatch silence list` shows it, who made it and what it
    matches (the command and instance, not only a fingerprint); `assistwatch silence expire ID` ends it, and the operator page no longer lists it."""
    import io

    from lib.edges.cli import build_parser
    from lib.edges.cli.silence import silence as silence_cli

    def cli(*argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        args = build_parser().parse_args(["silence", *argv])
        assert silence_cli(args, env_for(tmp_path), stream=out, now=time.time(), err=err) == 0
        return out.getvalue() + err.getvalue()

    firing_story(tmp_path, name="backup\x1b[2J.sh", output="disk full")
    url = signer.url("silence-1d", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    call(tmp_path, envelope(url, method="POST", form={"csrf": token, "name": "Wang Wei"}))
    [made] = list_silences(FileStore(tmp_path), time.time())
    listed = cli("list")
    assert made.id in listed
    assert FP in listed
    assert "Wang Wei" in listed
    assert "(backup.sh · i-1)" in listed  # which alert, as the journal knows it, cleaned
    assert "\x1b" not in listed
    cli("expire", made.id)
    assert cli("list") == "no silences\n"
    ops = call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)))["body"]
    assert f"a=expire&amp;t={made.id}" not in ops  # no longer among the silences
    assert 'Silences</h2><p class="small">none' in ops


def test_the_serve_token_a_command_printed_is_not_shown_on_its_pages(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN a deploy script that echoed the function's serve token (a bare value, no
    `TOKEN=` before it) WHEN its 详情 page is opened THEN the token is not on the page: it is
    masked like the links' key and the robots' tokens."""
    token = "bare0serve0token0printed0by0a0script"
    firing_story(tmp_path, name="deploy.sh", output=f"using {token}\ncurl: (22) 500")
    page = call(
        tmp_path,
        envelope(signer.url("detail", f"{FP}.1", NOW + 600)),
        ASSISTWATCH_SERVE_TOKEN=token,
    )["body"]
    assert "curl: (22) 500" in page
    assert token not in page


def test_no_page_loads_anything_from_elsewhere(tmp_path: Path, signer: Signer) -> None:
    """GIVEN every kind of page (confirmation, result, refusal, 详情, operator) WHEN it is
    served THEN it needs nothing but itself: no script, no image, stylesheet or font from
    anywhere, every URL in it on the deployment's own base; and its CSP forbids the rest."""
    firing_story(tmp_path, name="backup.sh", output="https://evil.example/x.png")
    add_silence(FileStore(tmp_path), {"fingerprint": FP}, reason="r", duration_seconds=60, now=NOW)
    url = signer.url("silence-1h", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    replies = [
        call(tmp_path, envelope(url)),
        call(tmp_path, envelope(url, method="POST", form={"csrf": token})),
        call(tmp_path, envelope({**params_of(url), "s": "x"})),
        call(tmp_path, envelope(signer.url("detail", f"{FP}.1", NOW + 600))),
        call(tmp_path, envelope(signer.url("ops", "all", NOW + 600))),
    ]
    for reply in replies:
        page = reply["body"]
        for loader in ("<script", "src=", "<link", "url(", "@import", "<iframe", "<img"):
            assert loader not in page.lower()
        hrefs = re.findall(r'(?:href|action)="([^"]+)"', page)
        assert all(h.startswith(PUBLIC + "/act?") for h in hrefs), hrefs
        assert "default-src 'none'" in reply["headers"]["content-security-policy"]


def test_many_taps_at_once_make_one_silence(tmp_path: Path, signer: Signer) -> None:
    """GIVEN the confirmation page open on two phones (and an impatient thumb) WHEN its button
    is posted eight times at once through `make serve` THEN exactly one silence exists, and
    every answer is 200 (the first applied it, the others say it was already used)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.test_serve import Server

    (tmp_path / "src").mkdir()
    environ = env_for(tmp_path, ASSISTWATCH_SERVE_TOKEN="s" * 20)
    with Server(tmp_path / "src", environ, None) as running:
        url = signer.url("silence-1h", f"{FP}.1", time.time() + 600).replace(PUBLIC, running.url)
        token = csrf_of(httpx.get(url).text)

        def tap(_: int) -> httpx.Response:
            return httpx.post(url, data={"csrf": token}, timeout=30)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(tap, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert sum("already used" in a.text for a in answers) == 7
    assert len(list_silences(FileStore(tmp_path), time.time())) == 1


def test_the_result_page_says_until_when_and_how_to_end_it(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a 静默 1 天 link WHEN its button is pressed THEN the result page says until when
    the alert is silenced and how to end it early (the operator page, or the CLI command with
    the silence's id), in the page's language."""
    url = signer.url("silence-1d", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url), ASSISTWATCH_LANG="zh")["body"])
    page = call(
        tmp_path, envelope(url, method="POST", form={"csrf": token}), ASSISTWATCH_LANG="zh"
    )["body"]
    [made] = list_silences(FileStore(tmp_path), time.time())
    assert f"assistwatch silence expire {made.id}" in page
    assert "可在告警总览里提前结束" in page
    from zoneinfo import ZoneInfo

    from lib.edges.pages import when

    zone = ZoneInfo(load_settings(env_for(tmp_path)).timezone)
    assert f"至 {when(made.expires_at, zone)}" in page


def test_the_operator_pages_runs_read_in_the_pages_language(tmp_path: Path, signer: Signer) -> None:
    """GIVEN a Chinese deployment whose journal holds a run WHEN the operator page is opened
    THEN the run reads 正常 · 告警 2 · 静默 1, not the English figures."""
    run = {"at": NOW - 60, "trigger": "poll (timer)", "ok": True, "alerts": 2, "silenced": 1}
    FileStore(tmp_path).write("journal", {"runs": [run], "alerts": {}}, None)
    page = call(tmp_path, envelope(signer.url("ops", "all", NOW + 600)), ASSISTWATCH_LANG="zh")
    assert "poll (timer) · 正常 · 告警 2 · 静默 1 · 0 ms" in page["body"]


def test_a_whole_invocations_confirmation_names_its_command_and_instances(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN deploy.sh failing on two instances of invocation t-1 (and another elsewhere) WHEN
    the whole group's 静默 1 小时 link is opened THEN the page names the command and the two
    instances it will silence, not the third."""

    def story(instance: str, group: str) -> dict[str, Any]:
        return {"name": "deploy.sh", "instance_id": instance, "group": group, "status": "firing"}

    alerts = {"a" * 24: story("i-one", "t-1"), "b" * 24: story("i-two", "t-1")}
    alerts["c" * 24] = story("i-other", "t-2")
    FileStore(tmp_path).write("journal", {"alerts": alerts}, None)
    page = call(tmp_path, envelope(signer.url("silence-1h", "g:t-1", NOW + 600)))["body"]
    assert "deploy.sh" in page
    assert "2 · <code>i-one, i-two</code>" in page
    assert "i-other" not in page
    assert page.count("<button") == 1


def test_a_links_silence_gives_its_reason_in_the_deployments_language(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN a Chinese deployment WHEN 静默到恢复 is applied from a link THEN the silence's
    reason (what `silence list` and the operator page show) is Chinese too."""
    url = signer.url("silence-resolved", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url), ASSISTWATCH_LANG="zh")["body"])
    call(tmp_path, envelope(url, method="POST", form={"csrf": token}), ASSISTWATCH_LANG="zh")
    [made] = list_silences(FileStore(tmp_path), time.time())
    assert made.reason == "从告警消息的链接静默到恢复"


def test_silence_list_still_lists_when_the_journal_cannot_be_read(
    tmp_path: Path, signer: Signer
) -> None:
    """GIVEN a silence made from a link, and the journal record (which only names the alert
    it mutes) truncated on disk WHEN the on-call runs `assistwatch silence list` THEN the
    silence is listed as before, by its fingerprint, with one line saying why the alert is
    not named — the list of silences does not depend on the operator page's journal."""
    import io

    from lib.edges.cli import build_parser
    from lib.edges.cli.silence import silence as silence_cli
    from lib.state.file import _record_stem

    firing_story(tmp_path, name="backup.sh", output="disk full")
    url = signer.url("silence-1d", f"{FP}.1", NOW + 600)
    token = csrf_of(call(tmp_path, envelope(url))["body"])
    call(tmp_path, envelope(url, method="POST", form={"csrf": token, "name": "Wang Wei"}))
    [journal] = tmp_path.rglob(f"{_record_stem('journal')}.json")
    journal.write_text('{"value": {"runs": [', encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["silence", "list"])
    assert silence_cli(args, env_for(tmp_path), stream=out, now=time.time(), err=err) == 0
    assert FP in out.getvalue()
    assert "Wang Wei" in out.getvalue()
    [line] = err.getvalue().splitlines()
    assert "journal" in line
    assert "not named" in line
