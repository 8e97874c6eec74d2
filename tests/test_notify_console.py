"""ConsoleReceiver: what the demo and local runs print."""

from __future__ import annotations

import io

import pytest

from lib.notify.console import ConsoleReceiver
from lib.notify.render import RenderOptions
from tests.factories import make_notification


def test_console_prints_a_header_line_and_the_markdown() -> None:
    """GIVEN a console receiver on a buffer WHEN a notification is sent
    THEN the buffer holds a header line with the receiver and title, then the body."""
    buffer = io.StringIO()
    console = ConsoleReceiver(stream=buffer, options=RenderOptions(lang="en"))
    (message,) = console.render(make_notification(2, output="token=abcdefghijklmnopqrstuvwxyz"))
    console.send(message)
    printed = buffer.getvalue()
    first_line = printed.splitlines()[0]
    assert first_line.startswith("===== [console] assistwatch deploy.sh: 2 failed (msg_")
    assert "i-bp1i7gg30r52z2e00001" in printed
    assert "abcdefghijklmnopqrstuv" not in printed


def test_console_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN no stream WHEN sending THEN the message appears on stdout."""
    console = ConsoleReceiver()
    (message,) = console.render(make_notification(1))
    console.send(message)
    assert "命令 `deploy.sh` 执行失败" in capsys.readouterr().out
