"""``make demo``: the function end to end against loopback fakes, as an SRE would first see it.

Starts a fake Cloud Assistant (ACS3-verifying, paginated, serving the demo scenario) and a
strict fake DingTalk robot (加签, 20/min, 20,000 bytes), then calls ``handler.handler``'s
code path twice with the same timer event: the first run tells the scenario's failures and
prints the markdown the robot received; the second finds nothing new and sends nothing.
Logs (JSON lines, as FC would collect them) go to ``.demo/assistwatch.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lib.edges.cli.explain import explain, headline
from lib.edges.entry import handle, reset
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.scenario import demo_dataset

__all__ = ["main", "run_demo"]

ROOT = Path(__file__).resolve().parents[2]
TIMER_EVENT = json.dumps(
    {"triggerTime": "2026-11-23T02:00:00Z", "triggerName": "assistwatch-timer", "payload": ""}
).encode()
ROBOT_TOKEN = "demo0robot0token0000000000000000000000000000000000000000000000000"
ROBOT_SECRET = "SECdemo0000000000000000000000000000000000000000000000000000000000"
# The demo's links open against `make serve` (its default port) with the same state and key.
SERVE_URL = "http://127.0.0.1:9000"
ACTIONS_SECRET = "demo0actions0key0000000000000000"


def context(request_id: str) -> Any:
    """What FC's python runtime hands the handler: request id, STS credentials, function."""
    return SimpleNamespace(
        request_id=request_id,
        credentials=SimpleNamespace(
            access_key_id=DEMO_ACCESS_KEY_ID,
            access_key_secret=DEMO_ACCESS_KEY_SECRET,
            security_token=None,
        ),
        function=SimpleNamespace(name="assistwatch", handler="handler.handler", timeout=60),
        region="cn-hangzhou",
    )


def run_demo(workdir: Path, out: Any = sys.stdout, *, lang: str = "zh") -> list[dict[str, Any]]:
    """Run the demo; return the two run reports (the end-to-end test checks them)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    now = datetime.now(timezone.utc)
    reports: list[dict[str, Any]] = []
    with (
        CloudAssistantFake(dataset=demo_dataset(now)) as cloud,
        DingTalkFake() as dingtalk,
        (workdir / "assistwatch.log").open("w", encoding="utf-8") as log,
    ):
        robot_url = dingtalk.add_robot(ROBOT_TOKEN, secret=ROBOT_SECRET)
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{workdir / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": robot_url,
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ASSISTWATCH_LANG": lang,
            "ASSISTWATCH_PUBLIC_URL": SERVE_URL,
            "ASSISTWATCH_ACTIONS_SECRET": ACTIONS_SECRET,
        }
        words = _WORDS[lang]
        print(words["fakes"].format(cloud=cloud.url, robot=dingtalk.base_url), file=out)
        print(
            words["files"].format(state=workdir / "state", log=workdir / "assistwatch.log"),
            file=out,
        )
        print(file=out)
        reset()
        for run, title in ((1, words["first"]), (2, words["second"])):
            before = len(dingtalk.received(ROBOT_TOKEN))
            answer = handle(TIMER_EVENT, context(f"demo-run-{run}"), environ=environ, stream=log)
            report = json.loads(answer if isinstance(answer, str) else answer["body"])
            reports.append(report)
            received = dingtalk.received(ROBOT_TOKEN)[before:]
            print(f"══ {words['run']} {run}: {title} " + "═" * 40, file=out)
            print(f"{words['report']}: {headline(report, lang)}", file=out)
            for line in explain(report, lang):
                print(f"  {line}", file=out)
            if not received:
                print(words["nothing"] + "\n", file=out)
            for index, body in enumerate(received, 1):
                markdown = body.get("markdown", {})
                print(
                    f"\n── {words['message']} {index}/{len(received)}: {markdown.get('title')}",
                    file=out,
                )
                print(markdown.get("text", ""), file=out)
            print(file=out)
        _how_to_act(dingtalk.received(ROBOT_TOKEN), workdir, out, lang)
    return reports


_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "fakes": "fake Cloud Assistant: {cloud}   fake DingTalk robot: {robot}",
        "files": "state: {state}   logs: {log}",
        "first": "first timer run",
        "second": "second timer run, same data",
        "run": "run",
        "report": "run report",
        "nothing": "DingTalk received nothing: nothing new.",
        "message": "DingTalk message",
        "act": "acting on an alert",
        "act_lead": "Every firing message carries signed links. To open them, serve this state "
        "(another terminal, from this directory):",
        "act_open": "then open a link in a browser: the page shows what it will do and changes "
        "nothing; its button applies it. The last link is the operator page (open alerts, "
        "silences, the last runs), also GET /ops with the serve token:",
    },
    "zh": {
        "fakes": "模拟云助手: {cloud}   模拟钉钉机器人: {robot}",
        "files": "状态: {state}   日志: {log}",
        "first": "第一次定时运行",
        "second": "第二次定时运行，数据相同",
        "run": "运行",
        "report": "运行报告",
        "nothing": "钉钉没有收到消息：没有新的失败。",
        "message": "钉钉消息",
        "act": "在消息里处理告警",
        "act_lead": "每条告警消息都带有签名链接。要打开它们，用这份状态启动本地 FC"
        "（另开一个终端，在本目录下）：",
        "act_open": "然后在浏览器里打开链接：页面说明将要做什么，打开本身不做任何改动；"
        "点页面上的按钮才执行。最后一个链接是告警总览（未恢复的告警、静默、最近的运行），"
        "也可以带上 serve token 访问 GET /ops：",
    },
}


def _how_to_act(received: list[dict[str, Any]], workdir: Path, out: Any, lang: str) -> None:
    """Print the first message's action links and how to open them against `make serve`,
    in the demo's language (the pages then speak it too: ASSISTWATCH_LANG is in the command)."""
    import re

    text = next((b.get("markdown", {}).get("text", "") for b in received), "")
    links = re.findall(r"\[([^\]]+)\]\(" + re.escape(SERVE_URL) + r"(/act\?[^)]+)\)", text)
    if not links:
        return
    words = _WORDS[lang]
    print(f"══ {words['act']} " + "═" * 40, file=out)
    print(words["act_lead"], file=out)
    print(
        f"  ASSISTWATCH_STATE_URL=file://{workdir / 'state'} ASSISTWATCH_LANG={lang} "
        f"ASSISTWATCH_PUBLIC_URL={SERVE_URL} ASSISTWATCH_ACTIONS_SECRET={ACTIONS_SECRET} "
        "ASSISTWATCH_SERVE_TOKEN=$(openssl rand -hex 16) make serve",
        file=out,
    )
    print(words["act_open"], file=out)
    for label, path in links[:6]:
        print(f"  {label}: {SERVE_URL}{path}", file=out)


def _summary(report: dict[str, Any]) -> str:
    keys = (
        *("records", "findings", "alerts", "baseline", "known", "suppressed"),
        *("messages_sent", "alerts_sent", "deferred", "redelivered", "api_calls"),
    )
    figures = ", ".join(f"{key}={report.get(key)}" for key in keys)
    return f"report: ok={report.get('ok')} {figures}"


def main() -> int:
    """``make demo``: the language from the argument, else ``ASSISTWATCH_LANG``, else zh."""
    lang = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ASSISTWATCH_LANG", "zh")
    if lang not in _WORDS:
        print(f"make demo: ASSISTWATCH_LANG must be zh or en, not {lang!r}", file=sys.stderr)
        return 2
    reports = run_demo(ROOT / ".demo", lang=lang)
    second = reports[-1]
    healthy = all(report["ok"] for report in reports) and second["messages_sent"] == 0
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
