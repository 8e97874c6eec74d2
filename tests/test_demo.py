"""`make demo` as a newcomer reads it: each figure of the run report explained, in their language."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

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
