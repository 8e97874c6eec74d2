"""Acting on an alert in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which .ci/run installs) driven by Selenium.

The story: a backup fails; the poll tells the DingTalk robot (the fake); the on-call engineer
opens 静默到恢复 from that message on a phone, confirms on the page, sees the silence on the
operator page from the message's footer link; the next polls (a reminder due, then the
recovery) stay quiet. Run with ``SCREENSHOTS=docs`` to refresh the README's screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from lib.app import Invocation, build_app
from lib.core.triggers import Poll
from lib.state.file import FileStore
from lib.state.silences import list_silences
from lib.support.credentials import Credentials
from lib.support.settings import load_settings
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Dataset
from tests.fakes.dingtalk import DingTalkFake
from tests.test_polling import MovableClock, ago, execute, hourly_backup
from tests.test_serve import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium is not installed (apt-get install chromium chromium-driver; "
    ".ci/run installs them)",
)

SECRET = "browser-test-actions-key-0123456789abcdef"
TOKEN = "robot0token0for0browser"
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0}  # a common phone's CSS viewport
PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 DingTalk/7.6.0"
)


def browser(phone: bool) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    if phone:
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_AGENT}
        )
    else:
        options.add_argument("--window-size=1280,900")
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or ""))


class World:
    """The cloud and robot fakes, the local FC (make serve) and the watcher's polls."""

    def __init__(self, tmp_path: Path) -> None:
        self.ds = Dataset()
        self.backup = hourly_backup(self.ds)
        self.cloud = CloudAssistantFake(dataset=self.ds)  # type: ignore[arg-type]
        self.robot = DingTalkFake()
        self.clock = MovableClock()
        self.state = tmp_path / "state"
        (tmp_path / "src").mkdir()
        self.env = {
            "ASSISTWATCH_STATE_URL": f"file://{self.state}",
            "ASSISTWATCH_ACTIONS_SECRET": SECRET,
            "ASSISTWATCH_SERVE_TOKEN": "serve0token0for0browser",
            "ASSISTWATCH_REPEAT_INTERVAL": "1h",
        }
        self.server = Server(tmp_path / "src", self.env, None)

    def __enter__(self) -> World:
        self.cloud.start()
        self.robot.__enter__()
        self.server.__enter__()
        self.env["ASSISTWATCH_PUBLIC_URL"] = self.server.url  # known once it listens
        settings = load_settings(
            {
                **self.env,
                "ASSISTWATCH_REGIONS": "cn-hangzhou",
                "ASSISTWATCH_ECS_ENDPOINT": self.cloud.url,
                "ASSISTWATCH_DINGTALK_URL": self.robot.add_robot(TOKEN),
            }
        )
        self.app = build_app(
            settings, store=FileStore(self.state), clock=self.clock, sleep=lambda _: None
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__()
        self.robot.__exit__(None, None, None)
        self.cloud.stop()

    def poll(self) -> None:
        credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
        self.app.run(Poll(origin="timer"), Invocation("poll", credentials))

    def messages(self) -> list[str]:
        return [body["markdown"]["text"] for body in self.robot.received(TOKEN)]


def link(text: str, label: str) -> str:
    """The URL of the markdown link ``[label](…)`` in a message."""
    found = re.search(re.escape(f"[{label}](") + r"([^)]+)\)", text)
    assert found, f"no {label} link in the message"
    return found.group(1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with World(tmp_path) as running:
        yield running


@pytest.mark.parametrize("phone", [True, False], ids=["phone", "desktop"])
def test_silence_from_the_message_in_a_browser_and_the_next_polls_stay_quiet(
    world: World, phone: bool
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # GIVEN an hourly backup that failed, and the poll that told DingTalk about it
    world.poll()
    with world.ds.lock:
        execute(world.backup, "Failed", at=ago(5), error_code="ExitCodeNonzero")
    world.poll()
    [message] = world.messages()
    silence_url = link(message, "静默到恢复")
    ops_url = link(message, "告警总览")
    shots = os.environ.get("SCREENSHOTS")
    driver = browser(phone)
    try:
        # WHEN the engineer opens 静默到恢复 from the message
        driver.get(silence_url)
        assert driver.title.startswith("静默到恢复")
        buttons = driver.find_elements(By.TAG_NAME, "button")
        assert [b.text for b in buttons] == ["静默到恢复"]
        if phone:  # the button is on screen without scrolling, and the page does not overflow
            assert buttons[0].location["y"] + buttons[0].size["height"] <= PHONE["height"]
            width = driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= PHONE["width"]
        assert list_silences(FileStore(world.state), world.clock().timestamp()) == []
        driver.find_element(By.ID, "name").send_keys("Zhang San")
        if shots and phone:
            driver.save_screenshot(str(Path(shots) / "actions-confirm.png"))
        buttons[0].click()
        # THEN the page says it is done, and one silence exists, the CLI's kind
        WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: "已完成" in d.find_element(By.TAG_NAME, "h1").text
        )
        [silence] = list_silences(FileStore(world.state), world.clock().timestamp())
        assert silence.created_by == "Zhang San"
        # AND the operator page from the footer link shows it, and the alert as silenced
        driver.get(ops_url)
        page = driver.find_element(By.TAG_NAME, "main").text
        assert silence.id in page
        assert "已静默" in page
        assert world.backup.command_name in page
        # the silence row says which alert it mutes, not only its fingerprint
        row = driver.find_element(By.XPATH, f"//tr[td//code[text()='{silence.id}']]").text
        assert world.backup.command_name in row
        # ids and names keep their width on either screen: each on one line, none clipped
        for text in (world.backup.command_name, silence.id):
            shown = driver.find_element(By.XPATH, f"//td//code[text()='{text}']")
            assert shown.size["height"] < 36, f"{text} wraps"
        if phone:
            width = driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= PHONE["width"]
        if shots and phone:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 390, "height": height, "deviceScaleFactor": 2, "mobile": True},
            )
            driver.save_screenshot(str(Path(shots) / "actions-operator.png"))
    finally:
        driver.quit()
    # WHEN an hour passes (a reminder would be due) and then the backup recovers
    world.clock.offset = timedelta(minutes=61)
    world.poll()
    with world.ds.lock:
        execute(world.backup, "Success", at=world.clock.at(-1))
    world.poll()
    # THEN DingTalk heard nothing more about it
    assert len(world.messages()) == 1
