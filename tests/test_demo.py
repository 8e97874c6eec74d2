"""`make demo` as a newcomer reads it: each figure of the run report explained, in their language."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.demo import run_demo

ROOT = Path(__file__).resolve().parents[1]
HAN = re.compile(r"[\u4e00-\u9fff]")


def test_the_english_demo_prints_no_chinese_and_explains_each_figure(tmp_path):
    """GIVEN ASSISTWATCH_LANG=en WHEN make demo runs THEN no Chinese character is printed
    (messages and framing alike) and every non-zero figure of run 1 has its own line."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.fakes.demo"],
        cwd=ROOT,
        env={"ASSISTWATCH_LANG": "en", "PATH": "", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert HAN.findall(completed.stdout) == []
    assert "execution records examined" in completed.stdout
    assert "messages sent" in completed.stdout
    assert "DingTalk received nothing: nothing new." in completed.stdout  # the second run


def test_the_chinese_demo_explains_the_figures_it_reports(tmp_path):
    out = io.StringIO()

    first, second = run_demo(tmp_path / "demo", out, lang="zh")

    text = out.getvalue()
    assert f"{first['records']:>6}  条执行记录被查看" in text
    assert f"{first['messages_sent']:>6}  条消息已发出" in text
    assert f"{first['api_calls']:>6}  次云助手 API 调用" in text
    assert second["messages_sent"] == 0
    assert "没有新的失败" in text


def _printed_serve_env(text: str) -> dict[str, str]:
    """The variables of the `… make serve` line the demo prints (the token left out)."""
    [line] = [line for line in text.splitlines() if line.rstrip().endswith("make serve")]
    return dict(
        part.split("=", 1)
        for part in line.split()
        if "=" in part and not part.startswith("ASSISTWATCH_SERVE_TOKEN")
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_demo_prints_its_links_and_the_make_serve_line_that_opens_them(tmp_path, lang):
    """GIVEN `make demo` in either language WHEN it ends THEN it says, in that language, how to
    act on an alert: the `make serve` line for the demo's state, and the first message's links;
    and a link opened through the FC entry with exactly those variables shows its page, in the
    same language."""
    import json
    from urllib.parse import parse_qsl, urlsplit

    from lib.edges import entry

    out = io.StringIO()
    run_demo(tmp_path / "demo", out, lang=lang)
    text = out.getvalue()
    tail = text[
        text.index("══ " + ("在消息里处理告警" if lang == "zh" else "acting on an alert")) :
    ]
    framing = [line for line in tail.splitlines() if not line.startswith("  ")]
    if lang == "zh":  # the framing is Chinese: no English sentence left in it
        assert all(HAN.search(line) for line in framing), framing
    else:
        assert HAN.findall("\n".join(framing)) == []
    environ = _printed_serve_env(tail)
    assert environ["ASSISTWATCH_STATE_URL"] == f"file://{tmp_path / 'demo' / 'state'}"
    assert environ["ASSISTWATCH_LANG"] == lang
    labels = [line.strip().split(": ", 1) for line in tail.splitlines() if "/act?" in line]
    assert [label for label, _ in labels][-1] == ("告警总览" if lang == "zh" else "Open alerts")
    silence = next(url for label, url in labels if label in {"静默 1 小时", "Silence 1 hour"})
    entry.reset()
    envelope = {
        "version": "v1",
        "rawPath": "/act",
        "body": "",
        "isBase64Encoded": False,
        "headers": {},
        "queryParameters": dict(parse_qsl(urlsplit(silence).query)),
        "requestContext": {"http": {"method": "GET", "path": "/act", "sourceIp": "127.0.0.1"}},
    }
    reply = entry.handle(json.dumps(envelope).encode(), None, environ=environ)
    entry.reset()
    assert isinstance(reply, dict)
    assert reply["statusCode"] == 200
    assert ("静默 1 小时" if lang == "zh" else "Silence 1 hour") in reply["body"]
    assert '<form method="post">' in reply["body"]
