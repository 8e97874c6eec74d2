"""Feishu action buttons: what they cost against the markdown links, in one run.

For one alert, a digest of three causes with long output, and one cause on 40 and 300
instances, the Feishu receiver renders the firing message with actions as card buttons (what
it sends) and as markdown links (the form it falls back to, rendered by the shared chat
code); the figures are the parts, the largest serialized body (with the signature fields
added at send time) against the 20,000-byte limit, and the median render time of
``--repeat`` runs, the ratio against the links measured in the same run.

    .venv/bin/python bench/feishu_cards.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from lib.core.links import ActionLinks, Signer  # noqa: E402
from lib.core.notification import Message, Notification  # noqa: E402
from lib.notify.chat import ChatRobot  # noqa: E402
from lib.notify.feishu import MAX_BODY_BYTES, FeishuReceiver  # noqa: E402
from lib.notify.render import RenderOptions, compact_json  # noqa: E402
from tests.factories import make_alert, make_finding, make_notification  # noqa: E402

SIGNATURE_BYTES = 96


def _digest() -> Notification:
    alerts = tuple(
        make_alert(
            make_finding(
                invoke_id=f"t-cause{i}",
                instance_id=f"i-{i:020d}",
                output="x" * 3000 + "\nerror: disk full",
            )
        )
        for i in range(3)
    )
    return Notification(receiver="r", group="digest: 3 groups", alerts=alerts)


def _median_ms(render: Callable[[], list[Message]], repeat: int) -> float:
    def once() -> float:
        start = time.perf_counter()
        render()
        return time.perf_counter() - start

    return statistics.median(once() for _ in range(repeat)) * 1000


def _largest(messages: list[Message]) -> int:
    return max(len(compact_json(m.payload)) + SIGNATURE_BYTES for m in messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    signer = Signer("https://alerts.example.com", b"bench-actions-key-0123456789abcdef")
    options = RenderOptions(actions=ActionLinks(signer, clock=lambda: 1_764_000_000.0))
    robot = FeishuReceiver(
        "feishu",
        SecretStr("https://open.feishu.cn/open-apis/bot/v2/hook/t"),
        http=httpx.Client(),
        options=options,
    )
    cases = {
        "1 alert": make_notification(),
        "3 causes, long output": _digest(),
        "1 cause on 40": make_notification(40),
        "1 cause on 300": make_notification(300),
    }
    print(f"body limit {MAX_BODY_BYTES} bytes; buttons vs markdown links (same run)")
    print(f"{'case':<24}{'form':<9}{'parts':>6}{'largest':>9}{'ms':>8}{'ratio':>7}")
    for name, notification in cases.items():
        cards = robot.render(notification)  # also the warm-up (lazy imports)
        links = ChatRobot.render(robot, notification)
        form = (
            "buttons"
            if any('"tag":"action"' in compact_json(m.payload).decode() for m in cards)
            else "links"
        )
        card_ms = _median_ms(partial(robot.render, notification), args.repeat)
        link_ms = _median_ms(partial(ChatRobot.render, robot, notification), args.repeat)
        print(
            f"{name:<24}{form:<9}{len(cards):>6}{_largest(cards):>9}{card_ms:>8.2f}"
            f"{card_ms / link_ms:>7.2f}"
        )
        print(f"{'':<24}{'links':<9}{len(links):>6}{_largest(links):>9}{link_ms:>8.2f}{1:>7.2f}")


if __name__ == "__main__":
    main()
