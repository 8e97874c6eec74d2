"""Routing and silencing by instance tags, end to end: a poll, the fake's ListTagResources,
the routing file, the silences in the store, and the receivers people read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from lib.app import App, Invocation, RunReport, build_app
from lib.core.notification import Message
from lib.core.triggers import Poll
from lib.state.file import FileStore
from lib.state.silences import add_silence
from lib.support.credentials import Credentials
from lib.support.settings import load_settings
from tests.factories import RecordingReceiver
from tests.fakes.cloudassist import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, CloudAssistantFake
from tests.fakes.dataset import Dataset, command, run

NOW = datetime.now(timezone.utc).replace(microsecond=0)

ROUTING = """\
receivers:
  - {name: oncall, type: console}
  - {name: team, type: console}
default_receivers: [team]
routes:
  - match: {instance_tags: {env: prod}}
    receivers: [oncall]
"""


class Inbox(RecordingReceiver):
    """A receiver that keeps the instance ids it was told about."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.instances: list[str] = []

    def send(self, message: Message) -> None:
        self.instances += [alert.finding.instance_id for alert in self.covered(message)]


@pytest.fixture
def dataset() -> Dataset:
    # Two failures of one deploy: one on a prod instance, one on a dev instance
    ds = Dataset()
    ds.add(
        command(
            created=NOW - timedelta(minutes=5),
            name="deploy.sh",
            invoke="deploy",
            instances=[
                run("i-prod", "Failed", error_code="ExitCodeNonzero"),
                run("i-dev", "Failed", error_code="ExitCodeNonzero"),
            ],
        )
    )
    ds.tag("i-prod", {"env": "prod", "team": "db"})
    ds.tag("i-dev", {"env": "dev"})
    return ds


@pytest.fixture
def cloud(dataset: Dataset) -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake(dataset=dataset) as server:
        yield server


def watcher(cloud: CloudAssistantFake, tmp_path: Path, routing: str | None = ROUTING) -> App:
    env = {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_SHOW_OUTPUT": "false",
    }
    if routing is not None:
        path = tmp_path / "routing.yaml"
        path.write_text(routing, encoding="utf-8")
        env["ASSISTWATCH_CONFIG"] = str(path)
    inboxes = {name: Inbox(name) for name in ("oncall", "team")}
    return build_app(
        load_settings(env),
        store=FileStore(tmp_path / "state"),
        receivers=inboxes,
        sleep=lambda _: None,
        environ=env,
    )


def poll(app: App) -> RunReport:
    credentials = Credentials(DEMO_ACCESS_KEY_ID, SecretStr(DEMO_ACCESS_KEY_SECRET))
    return app.run(Poll(origin="timer"), Invocation("run-1", credentials))


def told(app: App) -> dict[str, list[str]]:
    return {name: sorted(inbox.instances) for name, inbox in app.receivers.items()}  # type: ignore[attr-defined]


def test_a_route_on_instance_tags_takes_the_prod_failures(cloud, tmp_path):
    # GIVEN a route sending env=prod alerts to the on-call robot, the rest to the team
    app = watcher(cloud, tmp_path)
    # WHEN the poll finds a deploy failing on a prod and a dev instance
    report = poll(app)
    # THEN on-call hears about prod, the team about dev
    assert told(app) == {"oncall": ["i-prod"], "team": ["i-dev"]}
    # AND the tags of both instances were read in one call
    assert cloud.count("ListTagResources") == 1
    assert report.ok


def test_a_silence_on_a_tag_mutes_only_those_instances(cloud, tmp_path):
    # GIVEN a silence on env=dev (e.g. `assistwatch silence add --match tag:env=dev`)
    app = watcher(cloud, tmp_path, routing=None)
    add_silence(
        app.store,
        {"instance_tags": {"env": "dev"}},
        reason="dev rebuild",
        duration_seconds=3600,
        now=datetime.now(timezone.utc).timestamp(),
    )
    # WHEN the poll finds both failures
    report = poll(app)
    # THEN only prod is told (to everyone: no routing file) and the dev one is counted silenced
    assert told(app) == {"oncall": ["i-prod"], "team": ["i-prod"]}
    assert report.silenced == 1


def test_without_tag_read_permission_alerts_take_the_default_route_and_the_report_says_why(
    cloud, tmp_path
):
    # GIVEN a role without ecs:ListTagResources
    cloud.fail_next(code="Forbidden.RAM", status=403, action="ListTagResources")
    app = watcher(cloud, tmp_path)
    # WHEN the poll finds both failures
    report = poll(app)
    # THEN nothing is lost: both go to the default receiver
    assert told(app) == {"oncall": [], "team": ["i-dev", "i-prod"]}
    # AND the report names the missing permission
    assert any("ecs:ListTagResources" in note for note in report.notes)


def test_without_tag_conditions_no_tags_are_read(cloud, tmp_path):
    # GIVEN routes on other fields only
    app = watcher(cloud, tmp_path, routing=ROUTING.replace("instance_tags: {env: prod}", "name: x"))
    # WHEN the poll runs THEN it never asks for tags
    poll(app)
    assert cloud.count("ListTagResources") == 0
    assert told(app) == {"oncall": [], "team": ["i-dev", "i-prod"]}


def test_an_expected_exit_rule_on_a_tag_applies_to_those_instances_only(cloud, tmp_path):
    # GIVEN exit 1 is expected on dev instances (their smoke test "fails" by design)
    routing = "expected_exit_codes:\n  - match: {instance_tags: {env: dev}}\n    codes: [1]\n"
    app = watcher(cloud, tmp_path, routing=routing)
    # WHEN the poll finds both instances exiting 1
    report = poll(app)
    # THEN only prod is a failure, told to everyone; dev's exit is counted as expected
    assert told(app) == {"oncall": ["i-prod"], "team": ["i-prod"]}
    assert report.expected == 1
