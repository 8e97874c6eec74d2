"""Secrets stay secret on every path; plain http only to loopback; the HTTP trigger needs auth.

The hostile world: every endpoint is a loopback server that answers each request with an
error whose text echoes the whole request back — URL (with the robot's access_token and
sign), headers (Authorization, x-acs-security-token, webhook-signature), body — and, for good
measure, every secret it was told. Runs go through the FC entry, the CLI commands and the
state store; everything they print, log, return, raise or store is captured and searched.
"""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

import pytest

from lib.app.config import load_config
from lib.edges.cli import main as cli_main
from lib.edges.entry import handle, reset
from lib.edges.serve import make_target
from lib.support.errors import AssistwatchError, ConfigError
from lib.support.settings import load_settings
from tests.chaos import LEASE_PASSED
from tests.fakes.cloudassist import CloudAssistantFake
from tests.fakes.scenario import SECRET_IN_OUTPUT, demo_dataset
from tests.fakes.server import LoopbackServer, QuietHandler

ACCESS_KEY_ID = "STS.NUsecurityTestKeyId01"
ACCESS_KEY_SECRET = "sec0AccessKeySecret0never0shown0anywhere"
STS_TOKEN = "CAIS0sts0token0never0shown0anywhere0000000000"
ROBOT_TOKEN = "robot0token0never0shown0anywhere00000000000000000000000000000000"
ROBOT_SECRET = "SECrobot0signing0secret0never0shown0anywhere0000000000000000000"
WEBHOOK_SECRET = "whsec_d2ViaG9vay1zZWNyZXQtbmV2ZXItc2hvd24tYW55d2hlcmU="
SERVE_TOKEN = "serve0token0never0shown0anywhere"
SECRETS = {
    "access key secret": ACCESS_KEY_SECRET,
    "STS token": STS_TOKEN,
    "robot token": ROBOT_TOKEN,
    "robot secret": ROBOT_SECRET,
    "webhook secret": WEBHOOK_SECRET.removeprefix("whsec_"),
    "password in command output": SECRET_IN_OUTPUT,
}


class Echo(LoopbackServer):
    """A hostile loopback server: every answer is an error echoing the request and the secrets
    this endpoint knows (the API knows the key's secret and the STS token; a robot its token
    and signing secret; a webhook its secret)."""

    def __init__(
        self, status: int, *, knows: tuple[str, ...] = (), robot_errcode: int | None = None
    ) -> None:
        super().__init__(bind=True)
        self.status = status
        self.knows = knows
        self.robot_errcode = robot_errcode
        self.bodies: list[str] = []  # what we sent it (message bodies), to search too

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _echo_handler(self)

    @property
    def url(self) -> str:
        return self.root_url

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        self.bodies.append(body.decode("utf-8", "replace"))
        dump = f"{method} {path} {json.dumps(headers)} {body.decode('utf-8', 'replace')}"
        told = " ".join(self.knows)
        echo = f"you sent: {dump}; we know: {told}"
        return json.dumps(
            {
                "RequestId": "ECHO-1",
                "Code": "InternalError" if self.status >= 500 else "InvalidAccessKeyId.NotFound",
                "Message": echo,
                "errcode": self.robot_errcode if self.robot_errcode is not None else self.status,
                "errmsg": echo,
                "detail": echo,
            }
        ).encode()


def _echo_handler(echo: Echo) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status = 200 if echo.robot_errcode is not None else echo.status
            data = echo.answer(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

    return Handler


def context(request_id: str = "req-sec") -> Any:
    return SimpleNamespace(
        request_id=request_id,
        credentials=SimpleNamespace(
            access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET,
            security_token=STS_TOKEN,
        ),
        function=SimpleNamespace(name="assistwatch", timeout=60),
        region="cn-hangzhou",
    )


def leaks(text: str) -> list[str]:
    """The names of the secrets found in ``text``."""
    return [name for name, secret in SECRETS.items() if secret in text]


@pytest.fixture(autouse=True)
def fresh_entry() -> Iterator[None]:
    reset()
    yield
    reset()


@pytest.fixture
def cloud() -> Iterator[CloudAssistantFake]:
    with CloudAssistantFake(
        {ACCESS_KEY_ID: ACCESS_KEY_SECRET},
        security_tokens={ACCESS_KEY_ID: STS_TOKEN},
        dataset=demo_dataset(datetime.now(timezone.utc)),
    ) as fake:
        yield fake


def run_entry(environ: dict[str, str]) -> str:
    """Invoke the FC entry with a timer event; return everything it logged, returned or raised."""
    logs = io.StringIO()
    captured = []
    try:
        answer = handle(
            b'{"triggerTime": "2026-11-23T00:00:00Z"}', context(), environ=environ, stream=logs
        )
        captured.append(answer if isinstance(answer, str) else json.dumps(answer))
    except AssistwatchError as error:  # what FC would record for a retried invocation
        captured += [str(error), repr(error), "".join(traceback.format_exception(error))]
    return logs.getvalue() + "\n".join(captured)


# --- every log and error path, against hostile endpoints ----------------------------------


@pytest.mark.parametrize("status", [500, 503, 403, 400])
def test_a_hostile_cloud_assistant_echoing_secrets_never_gets_them_into_logs_or_reports(
    tmp_path, status
):
    with Echo(status, knows=(ACCESS_KEY_SECRET, STS_TOKEN)) as api:
        # GIVEN a Cloud Assistant endpoint that answers errors quoting our request and secrets
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": api.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": f"{api.url}/robot/send?access_token={ROBOT_TOKEN}",
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
        }
        # WHEN the timer fires
        output = run_entry(environ)
    # THEN the failure is reported, and no secret appears in anything the run produced
    assert "ECHO-1" in output
    assert leaks(output) == []


@pytest.mark.parametrize(
    ("status", "errcode"),
    [(500, None), (403, None), (200, 310000), (200, 130101)],
    ids=["5xx", "403", "sign-not-match", "too-fast"],
)
def test_hostile_receivers_echoing_secrets_never_get_them_into_logs_reports_or_messages(
    tmp_path, cloud, status, errcode
):
    with (
        Echo(status, knows=(ROBOT_TOKEN, ROBOT_SECRET), robot_errcode=errcode) as robot,
        Echo(status, knows=(WEBHOOK_SECRET,)) as hook,
    ):
        # GIVEN a real Cloud Assistant and a robot and a webhook that refuse everything,
        # quoting our request (token, sign, signature) and our secrets back
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": f"{robot.url}/robot/send?access_token={ROBOT_TOKEN}",
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ASSISTWATCH_WEBHOOK_URL": f"{hook.url}/hook",
            "ASSISTWATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ASSISTWATCH_FALLBACK": "webhook",
        }
        # WHEN the timer fires twice (the second redelivers the outbox, reports unhealth)
        output = run_entry(environ) + run_entry(environ)
        sent = robot.bodies + hook.bodies
    # THEN the failures are told, and no secret is in any output nor in any message sent
    assert "dingtalk" in output
    assert leaks(output) == []
    assert sent, "the receivers were never tried"
    assert leaks("\n".join(sent)) == []


def test_wrong_credentials_are_refused_without_showing_them(tmp_path, cloud):
    # GIVEN the real Cloud Assistant fake, which knows another secret for our key id
    cloud._keys.clear()
    environ = {
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
    }
    # WHEN the timer fires THEN the refusal is reported without the secret or the token
    output = run_entry(environ)
    assert "InvalidAccessKeyId" in output
    assert leaks(output) == []


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def hostile_env(monkeypatch, tmp_path) -> Iterator[None]:
    with (
        Echo(503, knows=(ACCESS_KEY_SECRET, STS_TOKEN)) as api,
        Echo(503, knows=(ROBOT_TOKEN, ROBOT_SECRET)) as robot,
        Echo(503, knows=(WEBHOOK_SECRET,)) as hook,
    ):
        for name, value in {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "ALIBABA_CLOUD_SECURITY_TOKEN": STS_TOKEN,
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": api.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": f"{robot.url}/robot/send?access_token={ROBOT_TOKEN}",
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ASSISTWATCH_WEBHOOK_URL": f"{hook.url}/hook",
            "ASSISTWATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }.items():
            monkeypatch.setenv(name, value)
        yield


@pytest.mark.parametrize("command", [["run"], ["check"], ["send-test"]])
def test_cli_commands_against_failing_endpoints_print_no_secret(hostile_env, capsys, command):
    # GIVEN every endpoint fails with 503, quoting our request and secrets
    # WHEN a command runs
    try:
        status = cli_main(command)
    except AssistwatchError as error:  # printed by the interpreter as a traceback
        status = 1
        print("".join(traceback.format_exception(error)))
    # THEN it fails, and nothing on stdout or stderr shows a secret
    out = capsys.readouterr()
    assert status != 0
    assert leaks(out.out + out.err) == []


# --- nothing secret in the state store ----------------------------------------------------


def test_no_credential_token_or_secret_is_ever_written_to_the_state_store(tmp_path, cloud):
    with Echo(200, knows=(ROBOT_TOKEN, ROBOT_SECRET), robot_errcode=130101) as robot:
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": f"{robot.url}/robot/send?access_token={ROBOT_TOKEN}",
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            "ASSISTWATCH_FALLBACK": "dingtalk",
        }
        # GIVEN runs that claim alerts, keep them in the outbox (the robot says 130101),
        # pause the robot, record budgets, watermarks, agent tracks and a health record
        run_entry(environ)
        run_entry(environ)
    # WHEN every file of the store is read
    files = [path for path in (tmp_path / "state").rglob("*") if path.is_file()]
    stored = "\n".join(path.read_text("utf-8", "replace") for path in files)
    # THEN it holds the alerts, and no key, token, secret, or password from command output
    assert files
    assert "ExitCodeNonzero" in stored
    assert leaks(stored) == []
    assert ACCESS_KEY_ID not in stored  # not a secret, but credentials have no business there


def test_secrets_in_command_output_are_redacted_before_the_alert_is_stored(tmp_path, cloud):
    with Echo(200, knows=(ROBOT_TOKEN, ROBOT_SECRET), robot_errcode=130101) as robot:
        # GIVEN migrate.sh failed printing password=hunter2, and the robot defers every alert
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_DINGTALK_URL": f"{robot.url}/robot/send?access_token={ROBOT_TOKEN}",
            "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
        }
        # WHEN the timer fires (the alerts wait in the outbox, in the store)
        run_entry(environ)
    # THEN the stored alerts carry the output tail with the password masked
    stored = "\n".join(
        path.read_text("utf-8", "replace")
        for path in (tmp_path / "state").rglob("*")
        if path.is_file()
    )
    assert "password authentication failed" in stored
    assert SECRET_IN_OUTPUT not in stored


# --- https everywhere but loopback --------------------------------------------------------

ENDPOINTS = [
    "ASSISTWATCH_ECS_ENDPOINT",
    "ASSISTWATCH_EFLO_ENDPOINT",
    "ASSISTWATCH_OSS_ENDPOINT",
    "ASSISTWATCH_OTS_ENDPOINT",
]
RECEIVERS = [
    "ASSISTWATCH_DINGTALK_URL",
    "ASSISTWATCH_WEBHOOK_URL",
    "ASSISTWATCH_WECOM_URL",
    "ASSISTWATCH_FEISHU_URL",
]
PLAIN = [
    f"http://oapi.dingtalk.com/robot/send?access_token={ROBOT_TOKEN}",
    f"http://127.0.0.1.evil.example/hook?access_token={ROBOT_TOKEN}",
    f"http://localhost.evil.example/hook?access_token={ROBOT_TOKEN}",
    f"http://10.0.0.8/hook?access_token={ROBOT_TOKEN}",
    f"ftp://127.0.0.1/hook?access_token={ROBOT_TOKEN}",
    f"oapi.dingtalk.com/robot/send?access_token={ROBOT_TOKEN}",
]


@pytest.mark.parametrize("variable", ENDPOINTS + RECEIVERS)
@pytest.mark.parametrize("url", PLAIN)
def test_plain_http_to_anything_but_loopback_is_refused_naming_the_variable(variable, url):
    # GIVEN an endpoint or receiver URL over plain http to a host that is not loopback
    # WHEN the settings are loaded THEN one line names the variable, not the token
    with pytest.raises(ConfigError) as refused:
        load_settings({variable: url})
    message = str(refused.value)
    assert variable in message
    assert "\n" not in message
    assert ROBOT_TOKEN not in message


@pytest.mark.parametrize("variable", ENDPOINTS + RECEIVERS)
@pytest.mark.parametrize(
    "url",
    [
        "https://ecs.cn-hangzhou.aliyuncs.com",
        "http://127.0.0.1:8080/hook",
        "http://127.9.9.9/hook",
        "http://localhost:9000/robot/send?access_token=x",
        "http://[::1]:9000/hook",
    ],
)
def test_https_and_loopback_http_are_accepted(variable, url):
    assert load_settings({variable: url}) is not None


@pytest.mark.parametrize("url", PLAIN)
def test_the_routing_file_refuses_plain_http_receivers_too(tmp_path, url):
    # GIVEN a routing file whose webhook receiver is plain http to a remote host
    path = tmp_path / "routing.yaml"
    path.write_text(f"receivers:\n  - name: ops\n    type: webhook\n    url: '{url}'\n")
    # WHEN it is loaded THEN it is refused, naming file and line, not showing the token
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={})
    assert "routing.yaml:" in str(refused.value)
    assert ROBOT_TOKEN not in str(refused.value)


def test_cli_check_refuses_a_plain_http_endpoint_without_showing_the_token(monkeypatch, capsys):
    monkeypatch.setenv(
        "ASSISTWATCH_DINGTALK_URL",
        f"http://oapi.dingtalk.com/robot/send?access_token={ROBOT_TOKEN}",
    )
    status = cli_main(["check"])
    out = capsys.readouterr()
    assert status != 0
    assert "ASSISTWATCH_DINGTALK_URL" in out.out + out.err
    assert ROBOT_TOKEN not in out.out + out.err


# --- the HTTP trigger refuses unauthenticated calls ---------------------------------------


@pytest.fixture
def shim(tmp_path, cloud) -> Iterator[Any]:
    from functions_framework import create_app

    environ = {
        "ASSISTWATCH_SERVE_TOKEN": SERVE_TOKEN,
        "ASSISTWATCH_REGIONS": "cn-hangzhou",
        "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
        "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
    }
    target = make_target(environ=environ, stdout=io.StringIO())
    source = tmp_path / "shim_target.py"
    source.write_text("from tests.test_security import SHIMS\n\nfc = SHIMS[-1]\n")
    SHIMS.append(target)
    yield create_app("fc", str(source)).test_client()  # type: ignore[no-untyped-call]
    SHIMS.remove(target)


SHIMS: list[Any] = []  # functions-framework loads its target by name from a source file
FC = {
    "x-fc-request-id": "req-shim",
    "x-fc-access-key-id": ACCESS_KEY_ID,
    "x-fc-access-key-secret": ACCESS_KEY_SECRET,
    "x-fc-security-token": STS_TOKEN,
    "x-fc-region": "cn-hangzhou",
}


@pytest.mark.parametrize("path", ["/invoke", "/", "/poll"])
@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"authorization": "Bearer "}, ""),
        ({"authorization": f"Bearer {SERVE_TOKEN[:-1]}"}, ""),
        ({"authorization": f"Bearer {SERVE_TOKEN}x"}, ""),
        ({"authorization": f"Basic {SERVE_TOKEN}"}, ""),
        ({"authorization": SERVE_TOKEN}, ""),
        ({"x-api-key": SERVE_TOKEN}, ""),
        ({}, f"?token={SERVE_TOKEN}"),
    ],
    ids=["none", "empty", "prefix", "longer", "basic", "bare", "other-header", "query"],
)
def test_the_http_trigger_refuses_unauthenticated_calls_and_runs_nothing(
    shim, cloud, path, headers, query
):
    # GIVEN the local FC shim with a token, on the real entry and a real Cloud Assistant
    # WHEN a poll is asked for without the token as a Bearer credential
    reply = shim.post(f"{path}{query}", data=b'{"action": "poll"}', headers={**FC, **headers})
    # THEN it is refused with 401, nothing runs, and the reply does not echo what was offered
    assert reply.status_code == 401
    assert cloud.calls == []
    assert SERVE_TOKEN not in reply.get_data(as_text=True)


def test_the_http_trigger_runs_for_the_token_holder(shim, cloud):
    reply = shim.post(
        "/invoke",
        data=b'{"action": "poll"}',
        headers={**FC, "authorization": f"Bearer {SERVE_TOKEN}"},
    )
    assert reply.status_code == 200
    assert cloud.calls != []
    assert leaks(reply.get_data(as_text=True)) == []


@pytest.mark.parametrize("backend", ["file", "oss", "ots"])
def test_no_backend_is_handed_a_credential_or_a_receiver_secret(tmp_path, backend):
    from tests.chaos import World
    from tests.fakes.cloudassist import DEMO_ACCESS_KEY_SECRET
    from tests.fakes.dingtalk import DingTalkFake

    world = World.start(tmp_path / "state", backend=backend)
    try:
        with DingTalkFake(clock=lambda: world.now.timestamp()) as robot:  # noqa: PLW0108
            world.env = {
                "ASSISTWATCH_DINGTALK_URL": robot.add_robot(ROBOT_TOKEN, secret=ROBOT_SECRET),
                "ASSISTWATCH_DINGTALK_SECRET": ROBOT_SECRET,
            }
            # GIVEN a run that claims, is told 130101 (robot paused, alerts kept), then one
            # that delivers the outbox
            robot.throttle(ROBOT_TOKEN, 600)
            stores = [world.store(), world.store()]
            world.run(world.app(stores[0], people=False))
            world.now += LEASE_PASSED
            world.run(world.app(stores[1], people=False))
            assert len(robot.received(ROBOT_TOKEN)) > 0
    finally:
        world.stop()
    # WHEN everything the app handed the store is read
    handed = "\n".join(line for store in stores for line in store.handed)
    # THEN alerts are there, and no key secret, robot token or signing secret
    assert "ExitCodeNonzero" in handed
    for secret in (DEMO_ACCESS_KEY_SECRET, ROBOT_TOKEN, ROBOT_SECRET):
        assert secret not in handed


def test_hostile_feishu_and_wecom_robots_echoing_their_tokens_never_get_them_into_logs(
    tmp_path, cloud
):
    feishu_hook = "0f9e" * 9
    feishu_secret = "lark" + "5b7d" * 6
    wecom_key = "wc" + "3a1c" * 8
    with (
        Echo(500, knows=(feishu_hook, feishu_secret)) as lark,
        Echo(500, knows=(wecom_key,)) as wecom,
    ):
        # GIVEN a Feishu bot and a WeCom robot (set by env) that refuse everything, quoting
        # their URLs (which carry the token) and the signing secret back
        environ = {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": cloud.url,
            "ASSISTWATCH_STATE_URL": f"file://{tmp_path / 'state'}",
            "ASSISTWATCH_FEISHU_URL": f"{lark.url}/open-apis/bot/v2/hook/{feishu_hook}",
            "ASSISTWATCH_FEISHU_SECRET": feishu_secret,
            "ASSISTWATCH_WECOM_URL": f"{wecom.url}/cgi-bin/webhook/send?key={wecom_key}",
        }
        # WHEN the timer fires
        output = run_entry(environ)
        assert lark.bodies, "the bot was never tried"
        assert wecom.bodies, "the robot was never tried"
    # THEN no token nor secret appears in anything the run produced
    assert [s for s in (feishu_hook, feishu_secret, wecom_key) if s in output] == []


def test_every_configured_robot_url_and_secret_is_masked_in_any_log_line(tmp_path):
    # GIVEN robots set by env (Feishu, WeCom) and by the routing file (a DingTalk robot)
    import httpx

    from lib.app.receivers import build_delivery
    from lib.support.log import configure, get_logger

    feishu = "https://open.feishu.cn/open-apis/bot/v2/hook/" + "6c1d" * 9
    wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + "8e2b" * 9
    file_secret = "SEC" + "4d6f" * 10
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "receivers:\n  - name: ops\n    type: dingtalk\n"
        "    url: https://oapi.dingtalk.com/robot/send?access_token=${OPS_TOKEN}\n"
        "    secret: ${OPS_SECRET}\n",
        encoding="utf-8",
    )
    environ = {"OPS_TOKEN": "a1b2" * 16, "OPS_SECRET": file_secret}
    settings = load_settings(
        {
            "ASSISTWATCH_FEISHU_URL": feishu,
            "ASSISTWATCH_WECOM_URL": wecom,
            "ASSISTWATCH_CONFIG": str(routing),
        }
    )
    with httpx.Client() as http:
        build_delivery(settings, http=http, environ=environ)
    # WHEN any of them turns up in a log line (an exception quoting a request, say)
    stream = io.StringIO()
    configure(stream)
    try:
        get_logger().error("unexpected", detail=f"{feishu} {wecom} {file_secret}")
    finally:
        configure(None)
    # THEN none is readable
    assert [s for s in (feishu, wecom, file_secret, "a1b2" * 16) if s in stream.getvalue()] == []
