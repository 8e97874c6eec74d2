"""The network half of ``assistwatch check``: reach each robot without posting a message.

A robot is reached by POSTing a body that is not a message (``not a message``, not JSON)
to its webhook, signed as a real send would be. The robot checks its token (and, for
DingTalk, the 加签 signature) before it reads the body, so its answer proves them while
nothing appears in the group (docs/decisions.md "How check reaches a robot"):

- DingTalk: 300001/300005 the token is wrong; 310000 the signature (or the IP allowlist)
  refused; 130101 too many messages; anything else (40035 "缺少参数 json") = token and
  signature accepted.
- WeCom: 93000 the key is wrong; anything else (40016 "invalid json") = key accepted.
- Feishu: 19001 the token is wrong; anything else = token accepted (Feishu reads the
  signature from the body, so only ``send-test`` proves it).
- webhook: a plain GET of the URL: reachable (any HTTP answer), nothing more; ``send-test``
  proves the receiver takes the payload.

Every probe is bounded: one try, 3 s to connect, 5 s in all; an unreachable robot is a FAIL
line, not a wait.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lib.edges.cli.preflight import Line

if TYPE_CHECKING:
    import httpx

    from lib.app.config import ReceiverSpec

__all__ = ["PROBE_BODY", "bounded", "fix_for", "probe_receiver"]

PROBE_BODY = b"assistwatch check: not a message"
T = TypeVar("T")

# (service, code) → what to do. The codes are the robots' documented refusals.
_FIXES: dict[tuple[str, int], str] = {
    ("dingtalk", 310000): (
        "the robot's security setting refused the request: use 加签 and set "
        "ASSISTWATCH_DINGTALK_SECRET=SEC…, or a custom keyword and set "
        "ASSISTWATCH_DINGTALK_KEYWORD; an IP allowlist cannot work on FC (no fixed "
        "outbound IP) unless the function sends through a NAT gateway's EIP"
    ),
    (
        "dingtalk",
        300001,
    ): "the access_token is wrong or the robot was removed: copy the Webhook URL again",
    (
        "dingtalk",
        300005,
    ): "the access_token is wrong or the robot was removed: copy the Webhook URL again",
    (
        "dingtalk",
        130101,
    ): "too many messages (20 a minute per robot): wait 10 minutes; assistwatch pauses the robot by itself",
    (
        "wecom",
        93000,
    ): "the webhook key is wrong or the robot was removed: copy the Webhook URL again",
    ("wecom", 45009): "too many messages (20 a minute per robot): wait a minute",
    (
        "feishu",
        19001,
    ): "the webhook token is wrong or the bot was removed: copy the Webhook URL again",
    (
        "feishu",
        19021,
    ): "signature refused: set ASSISTWATCH_FEISHU_SECRET to the bot's 签名校验 secret (and check the clock)",
    (
        "feishu",
        19022,
    ): "the bot's IP allowlist refused FC's address (not fixed): use 签名校验 or a keyword instead",
    ("feishu", 19024): "the bot's keyword is missing from messages: set the receiver's keyword",
}
_REFUSED = {
    "dingtalk": {300001, 300005, 310000, 130101},
    "wecom": {93000, 45009},
    "feishu": {19001, 19021, 19022, 19024},
}
_CODE = re.compile(r"\b(\d{5,6})\b")


def fix_for(kind: str, text: str) -> str | None:
    """The fix for the first documented refusal code in ``text`` (an error or an answer)."""
    for match in _CODE.finditer(text):
        fix = _FIXES.get((kind, int(match.group(1))))
        if fix is not None:
            return fix
    return None


def bounded(call: Callable[[], T], seconds: float) -> T:
    """``call()``, or TimeoutError after ``seconds`` (the call is left to finish alone).

    For the SDK-backed state stores, whose own retries we cannot shorten: a daemon thread,
    so a hung call neither blocks the check's answer nor the process exit.
    """
    result: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target, name="assistwatch-check", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:g}s")
    if failure:
        raise failure[0]
    return result[0]  # type: ignore[no-any-return]


def probe_receiver(spec: ReceiverSpec, masked: str, http: httpx.Client) -> Line:  # noqa: PLR0911
    """Reach one receiver without posting a message; its refusal becomes its fix."""
    import httpx

    if spec.url is None:
        return Line("ok", spec.name, "console: nothing to reach")
    url = spec.url.get_secret_value()
    started = time.monotonic()
    try:
        if spec.type == "webhook":
            answer = http.get(url)
            took = _ms(started)
            return Line(
                "ok",
                spec.name,
                f"{masked} answers HTTP {answer.status_code} ({took}); send-test proves it takes alerts",
            )
        answer = http.post(
            _signed(spec, url), content=PROBE_BODY, headers={"Content-Type": "application/json"}
        )
    except httpx.TimeoutException:
        return Line(
            "FAIL", spec.name, f"{masked}: no answer within 5s (network, proxy or firewall)"
        )
    except httpx.HTTPError as error:
        return Line("FAIL", spec.name, f"{masked}: unreachable ({type(error).__name__})")
    took = _ms(started)
    code = _code(answer)
    if code is None:
        return Line(
            "FAIL",
            spec.name,
            f"{masked}: HTTP {answer.status_code}, not a {spec.type} robot's answer",
        )
    if code in _REFUSED.get(spec.type, set()):
        fix = _FIXES.get((spec.type, code), "")
        return Line("FAIL", spec.name, f"{masked}: refused with {code}: {fix}")
    proven = {
        "dingtalk": "token and 加签 accepted" if spec.secret else "token accepted",
        "wecom": "key accepted",
        "feishu": "token accepted (send-test proves the signature)",
    }.get(spec.type, "reached")
    return Line("ok", spec.name, f"{masked}: {proven}, nothing posted ({took})")


def _signed(spec: ReceiverSpec, url: str) -> str:
    """The URL a real DingTalk send would use (加签 in the query); others as they are."""
    if spec.type != "dingtalk" or spec.secret is None:
        return url
    from lib.notify.dingtalk import dingtalk_sign

    timestamp_ms = int(time.time() * 1000)
    sign = dingtalk_sign(spec.secret.get_secret_value(), timestamp_ms)
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


def _code(answer: httpx.Response) -> int | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("errcode", body.get("code"))
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _ms(started: float) -> str:
    return f"{int((time.monotonic() - started) * 1000)} ms"
