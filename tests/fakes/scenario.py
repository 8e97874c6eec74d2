"""The demo scenario: what ``make demo`` and the end-to-end tests serve from the fake.

``demo_dataset(now)`` builds, all in region-agnostic ECS data (the fake serves any RegionId):

==  =================================================  ==========================================
#   what happened (created ≈ minutes before ``now``)    first run with the default 1 h lookback
==  =================================================  ==========================================
1   seed 003's sample: ``CommandTestName`` Success on   nothing: Success, whatever its ErrorCode
    i-bp1i7gg30r52z2em0001 *with* ErrorCode
    InstanceNotExists (-50 min)
2   seed 004's sample: ``CommandTestName`` Failed,      ALERT command ExitCodeNonzero, exit 1,
    ExitCodeNonzero, exit 1, empty output (-45 min)     on i-bp1i7gg30r52z2em0001
3   seed 000/001's sample: file ``test.txt`` Success    nothing
    with ErrorCode InstanceNotExists (-44 min)
4   ``hotfix.sh`` on "db-1": ClientNotRunning           ALERT agent: ClientNotRunning on db-1
    (Aborted); the agent there reports "false" (-40)    (DescribeCloudAssistantStatus says false)
5   file ``nginx.conf`` to "web-1", "web-2": web-2      ALERT file FileAlreadyExists on web-2
    Failed FileAlreadyExists, web-1 Success (-35 min)   (web-1: nothing)
6   ``migrate.sh`` on "app-1": Failed, ExitCodeNonzero  ALERT command ExitCodeNonzero, exit 2; the
    exit 2, a psql stderr tail with password=hunter2    output contains ``password=hunter2``, which
    (-30 min)                                           must be redacted in every message
7   ``rollout.sh`` over "node-1".."node-5": node-1,     ALERT ×3 command ExitCodeNonzero (exit 3) on
    node-2, node-3 Failed (exit 3), node-4, node-5      node-1, node-2, node-3: one group (invoke
    Success; overall PartialFailed (-25 min)            id), one message listing the three
8   ``backup.sh`` on "db-2": Timeout,                   ALERT command ExecutionTimeout on db-2
    ExecutionTimeout (-20 min)
9   ``uptime`` on web-1, web-2; ``df -h`` on app-1;     nothing (successes)
    file ``motd`` to web-1, web-2 (-15..-5 min)
10  ``yum-update.sh`` on "web-2": Running (-2 min)      nothing (not terminal yet)
11  ``cleanup.sh`` on "old-1": Failed ExitCodeNonzero   nothing: finished 3 h ago, before the
    finished 3 h ago                                    lookback; recorded as baseline only
==  =================================================  ==========================================

So a first run tells **8 alerts** (rows 2, 4, 5, 6, 7×3, 8) in **6 groups** by invoke id, and
a second run with nothing new tells nothing. ``EXPECTED_ALERTS`` lists them as data. Every
instance named above has an agent status: all "true" except db-1's. Instance ids come from
:func:`~tests.fakes.dataset.instance_id` (stable for a name), invoke ids are fixed below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.fakes.dataset import (
    Dataset,
    agent,
    command,
    file_invoke_id,
    file_send,
    instance_id,
    invoke_id,
    run,
    target,
)

__all__ = [
    "EXPECTED_ALERTS",
    "MIGRATE_OUTPUT",
    "SECRET_IN_OUTPUT",
    "ExpectedAlert",
    "demo_dataset",
]

SEED_INSTANCE = "i-bp1i7gg30r52z2em0001"
SEED_FILE_INSTANCE = "i-uf614fhehhz0001"
SECRET_IN_OUTPUT = "hunter2"

MIGRATE_OUTPUT = """\
+ ./migrate.sh --env prod --to 2024_06_01_add_index
[migrate] loading config /etc/app/prod.env
[migrate] connecting to db-prod.internal:5432 as app
psql: error: connection to server at "db-prod.internal" (10.0.3.15), port 5432 failed: \
FATAL:  password authentication failed for user "app"
[migrate] retrying with DATABASE_URL=postgres://app@db-prod.internal:5432/app password=hunter2
psql: error: connection to server at "db-prod.internal" (10.0.3.15), port 5432 failed: \
FATAL:  password authentication failed for user "app"
[migrate] giving up after 2 attempts
migrate.sh: line 42: migration aborted, exit 2
"""

ROLLOUT_OUTPUT = """\
[rollout] pulling registry.cn-hangzhou.aliyuncs.com/shop/api:1.42.0
Error response from daemon: manifest for registry.cn-hangzhou.aliyuncs.com/shop/api:1.42.0 \
not found: manifest unknown
[rollout] image pull failed, keeping 1.41.3
"""

# Fixed ids, so tests can name what they expect.
ID_SEED_OK = "t-hz0jdfwd9f0001"
ID_SEED_FAILED = "t-hz0jdfwd9f0002"
ID_SEED_FILE = "f-hz0jdfwd9f0001"
ID_CLIENT = invoke_id("demo-hotfix")
ID_FILE_EXISTS = file_invoke_id("demo-nginx-conf")
ID_MIGRATE = invoke_id("demo-migrate")
ID_ROLLOUT = invoke_id("demo-rollout")
ID_BACKUP = invoke_id("demo-backup")
ID_OLD = invoke_id("demo-cleanup-3h")


@dataclass(frozen=True)
class ExpectedAlert:
    """One alert a first run must produce."""

    kind: str  # "command" | "file"
    invoke_id: str
    instance_id: str
    status: str  # per-instance status
    error_code: str
    exit_code: int | None = None


EXPECTED_ALERTS: tuple[ExpectedAlert, ...] = (
    ExpectedAlert("command", ID_SEED_FAILED, SEED_INSTANCE, "Failed", "ExitCodeNonzero", 1),
    ExpectedAlert("command", ID_CLIENT, instance_id("db-1"), "Aborted", "ClientNotRunning"),
    ExpectedAlert("file", ID_FILE_EXISTS, instance_id("web-2"), "Failed", "FileAlreadyExists"),
    ExpectedAlert("command", ID_MIGRATE, instance_id("app-1"), "Failed", "ExitCodeNonzero", 2),
    *(
        ExpectedAlert(
            "command", ID_ROLLOUT, instance_id(f"node-{n}"), "Failed", "ExitCodeNonzero", 3
        )
        for n in (1, 2, 3)
    ),
    ExpectedAlert("command", ID_BACKUP, instance_id("db-2"), "Timeout", "ExecutionTimeout"),
)


def demo_dataset(now: datetime) -> Dataset:
    """The scenario above, relative to ``now`` (timezone-aware)."""

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    ds = Dataset()
    ds.add(
        # 1. seed 003's sample: a Success that still carries an ErrorCode.
        command(
            invoke=ID_SEED_OK,
            name="CommandTestName",
            created=ago(50),
            content="rpm -qa | grep vsftpd",
            description="testDescription",
            username="test",
            working_dir="/home/",
            cmd_id="c-hz0jdfwcsr0001",
            tags={"owner": "zhangsan"},
            instances=[
                run(
                    SEED_INSTANCE,
                    "Success",
                    error_code="InstanceNotExists",
                    error_info="the specified instance does not exists",
                    output="OutPutTestmsg",
                )
            ],
        ),
        # 2. seed 004's sample: ExitCodeNonzero with an empty output.
        command(
            invoke=ID_SEED_FAILED,
            name="CommandTestName",
            created=ago(45),
            content="rpm -qa | grep vsftpd",
            cmd_id="c-hz0jdfwcsr0001",
            instances=[run(SEED_INSTANCE, "Failed", error_code="ExitCodeNonzero", exit_code=1)],
        ),
        # 3. seed 000/001's sample file send.
        file_send(
            invoke=ID_SEED_FILE,
            name="test.txt",
            created=ago(44),
            target_dir="/home/user",
            file_owner="test",
            file_group="test",
            file_mode="777",
            description="This is a test file.",
            content='#!/bin/bash\necho "Current User is :"\necho $(ps | grep "$$" | awk \'{print $2}\')',
            tags={"owner": "zhangsan"},
            targets=[
                target(
                    SEED_FILE_INSTANCE,
                    "Success",
                    error_code="InstanceNotExists",
                    error_info="the instance is not running when create task",
                )
            ],
        ),
        # 4. the agent on db-1 is down.
        command(
            invoke=ID_CLIENT,
            name="hotfix.sh",
            created=ago(40),
            content="systemctl restart app",
            instances=[run("db-1", "Aborted", error_code="ClientNotRunning")],
        ),
        # 5. a config file that already exists on one of two instances.
        file_send(
            invoke=ID_FILE_EXISTS,
            name="nginx.conf",
            created=ago(35),
            target_dir="/etc/nginx",
            content="worker_processes auto;\n",
            targets=[
                target("web-1"),
                target("web-2", "Failed", error_code="FileAlreadyExists"),
            ],
        ),
        # 6. a migration that fails and prints a password into its output.
        command(
            invoke=ID_MIGRATE,
            name="migrate.sh",
            created=ago(30),
            content="cd /srv/app && ./migrate.sh --env prod --to 2024_06_01_add_index",
            timeout=600,
            instances=[
                run(
                    "app-1",
                    "Failed",
                    error_code="ExitCodeNonzero",
                    exit_code=2,
                    output=MIGRATE_OUTPUT,
                )
            ],
        ),
        # 7. a rollout over five nodes: three fail, two succeed.
        command(
            invoke=ID_ROLLOUT,
            name="rollout.sh",
            created=ago(25),
            content="/opt/shop/rollout.sh 1.42.0",
            tags={"team": "shop"},
            instances=[
                *(
                    run(
                        f"node-{n}",
                        "Failed",
                        error_code="ExitCodeNonzero",
                        exit_code=3,
                        output=ROLLOUT_OUTPUT,
                    )
                    for n in (1, 2, 3)
                ),
                run("node-4", output="[rollout] api 1.42.0 healthy\n"),
                run("node-5", output="[rollout] api 1.42.0 healthy\n"),
            ],
        ),
        # 8. a backup that runs past its timeout.
        command(
            invoke=ID_BACKUP,
            name="backup.sh",
            created=ago(20),
            content="/usr/local/bin/backup.sh --full",
            timeout=600,  # it timed out ten minutes later, before "now"
            instances=[
                run(
                    "db-2",
                    "Timeout",
                    error_code="ExecutionTimeout",
                    output="[backup] dumping 412 GB ...\n",
                    started=ago(20) + timedelta(seconds=1),
                    finished=ago(20) + timedelta(seconds=601),
                )
            ],
        ),
        # 9. successes that must not alert.
        command(
            invoke=invoke_id("demo-uptime"),
            name="uptime",
            created=ago(15),
            content="uptime",
            instances=[
                run("web-1", output=" 10:01:02 up 12 days,  load average: 0.10, 0.08, 0.05\n"),
                run("web-2", output=" 10:01:02 up 3 days,  load average: 0.32, 0.20, 0.11\n"),
            ],
        ),
        command(
            invoke=invoke_id("demo-df"),
            name="df -h",
            created=ago(10),
            content="df -h /",
            instances=[run("app-1", output="/dev/vda1  40G  18G  20G  48% /\n")],
        ),
        file_send(
            invoke=file_invoke_id("demo-motd"),
            name="motd",
            created=ago(5),
            target_dir="/etc",
            content="Welcome. Changes go through the shop-infra repo.\n",
            targets=[target("web-1"), target("web-2")],
        ),
        # 10. still running.
        command(
            invoke=invoke_id("demo-yum-update"),
            name="yum-update.sh",
            created=ago(2),
            content="yum -y update",
            instances=[run("web-2", "Running")],
        ),
        # 11. a failure from before the lookback: baseline only.
        command(
            invoke=ID_OLD,
            name="cleanup.sh",
            created=ago(181),
            content="/opt/cleanup.sh",
            instances=[
                run(
                    "old-1",
                    "Failed",
                    error_code="ExitCodeNonzero",
                    exit_code=1,
                    output="rm: cannot remove '/data/tmp': Device or resource busy\n",
                    started=ago(181) + timedelta(seconds=1),
                    finished=ago(180),
                )
            ],
        ),
    )
    healthy = ["web-1", "web-2", "app-1", "db-2", "old-1", *(f"node-{n}" for n in range(1, 6))]
    for name in healthy:
        ds.add(agent(name, last_heartbeat=now - timedelta(seconds=30)))
    ds.add(agent(SEED_INSTANCE, last_heartbeat=now - timedelta(seconds=30)))
    ds.add(agent(SEED_FILE_INSTANCE, last_heartbeat=now - timedelta(seconds=30)))
    ds.add(agent("db-1", online=False, last_heartbeat=now - timedelta(minutes=47)))
    return ds
