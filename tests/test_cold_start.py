"""Cold start: what ``import handler`` loads, and what the benchmark's poll row must cover.

Both run in fresh interpreters, since this test process has imported everything already.
The figures themselves are measured by ``bench/cold_start.py``, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.cold_start import POLL_MODULES
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.demo import ROBOT_SECRET, ROBOT_TOKEN
from tests.fakes.dingtalk import DingTalkFake
from tests.fakes.scenario import demo_dataset

ROOT = Path(__file__).resolve().parents[1]
MARK = "MODULES "

# Loaded on every cold start for nothing: backends, receivers and the CLI are imported
# only when configured or called. (structlog is loaded: every run logs, issue #12.)
NOT_ON_A_PLAIN_IMPORT = (
    "yaml",
    "jinja2",
    "lib.notify.template",
    "tablestore",
    "alibabacloud_oss_v2",
    "lib.state.ots",
    "lib.state.oss",
    "lib.notify.webhook",
    "lib.notify.wecom",
    "lib.notify.feishu",
    "lib.edges.cli",
    "lib.edges.serve",
)

POLL = f"""
import json, sys
from types import SimpleNamespace
import handler
before = set(sys.modules)
context = SimpleNamespace(request_id="cold-1", function=SimpleNamespace(timeout=60))
timer = json.dumps({{"triggerTime": "2026-11-23T02:00:00Z", "triggerName": "t"}}).encode()
reports = [json.loads(handler.handler(timer, context)) for _ in range(2)]
added = sorted(set(sys.modules) - before)
print({MARK!r} + json.dumps({{"reports": reports, "added": added}}))
"""

LISTED = f"""
import importlib, json, sys
import handler
before = set(sys.modules)
for name in {list(POLL_MODULES)!r}:
    importlib.import_module(name)
print({MARK!r} + json.dumps({{"added": sorted(set(sys.modules) - before)}}))
"""


def fresh_python(code: str, environ: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a new interpreter from the repo root; return what it printed after MARK."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ASSISTWATCH_", "ALIBABA_CLOUD_", "FC_"))
    }
    env.update(environ or {})
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (line,) = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
    return json.loads(line[len(MARK) :])


def test_importing_the_handler_loads_no_backend_receiver_or_logger_a_run_does_not_use() -> None:
    """GIVEN a fresh interpreter WHEN it imports handler THEN no state backend, receiver,
    YAML or CLI module is loaded."""
    loaded = fresh_python(
        f"import handler, json, sys; print({MARK!r} + json.dumps(sorted(sys.modules)))"
    )
    assert "lib.edges.entry" in loaded
    assert sorted(set(NOT_ON_A_PLAIN_IMPORT) & set(loaded)) == []


def test_the_benchmarks_poll_row_imports_every_module_a_real_timer_poll_imports(
    tmp_path: Path,
) -> None:
    """GIVEN the demo's Cloud Assistant and DingTalk robot WHEN a fresh interpreter runs two
    timer polls through handler.handler THEN every module the polls imported is also imported
    by bench/cold_start.py's POLL_MODULES, so the benchmark's second row is not flattered."""
    now = datetime.now(timezone.utc)
    with CloudAssistantFake(dataset=demo_dataset(now)) as cloud, DingTalkFake() as robot:
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": robot.add_robot(ROBOT_TOKEN, secret=ROBOT_SECRET),
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
        }
        polled = fresh_python(POLL, environ)
        told = len(robot.received(ROBOT_TOKEN))
    reports = polled["reports"]
    assert [report["ok"] for report in reports] == [True, True]
    assert told > 0  # the first poll really fetched, decided and sent
    listed = fresh_python(LISTED)
    missing = sorted(set(polled["added"]) - set(listed["added"]))
    assert missing == [], f"add these to POLL_MODULES in bench/cold_start.py: {missing}"
