"""One FC invocation in a process of its own, for bench/reliability_procs.py to SIGKILL.

It builds the real app from a JSON spec (state store, Cloud Assistant and DingTalk fakes on
loopback, the world's clock), runs one timer poll or one watch request, and prints the run
report as one JSON line. Besides the app, two things are its own:

- a journal file: every claim / take-over (fingerprint → invoke id, instance) and every
  confirm is appended (one ``write`` each, unbuffered) the moment the store answered, so
  the parent can tell a resend before any confirm (allowed) from one after (a bug) even
  when this process is killed at any instant;
- the HTTP client's read timeout (``read_timeout``): a DingTalk fake answering later than
  that is a real late answer — the message was taken, the client timed out.

    python bench/reliability_child.py SPEC_JSON      # exit 0 ok, 1 raised, 2 failed report
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the repo's lib
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from lib.app import Invocation, build_app  # noqa: E402
from lib.core.claims import ClaimKey  # noqa: E402
from lib.core.triggers import Poll, Trigger, Watch  # noqa: E402
from lib.state.base import Claim, ClaimOutcome, Record  # noqa: E402
from lib.support.credentials import Credentials  # noqa: E402
from lib.support.errors import AssistwatchError  # noqa: E402
from lib.support.settings import load_settings  # noqa: E402

__all__ = ["JournalingStore", "main", "run_once"]


class JournalingStore:
    """A StateStore that appends claims, take-overs and confirms to a journal file."""

    def __init__(self, inner: Any, path: str) -> None:
        self.inner = inner
        # Unbuffered: each line is one write(2), in the file once it returns, whatever
        # happens to this process next.
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _note(self, *fields: str) -> None:
        os.write(self._fd, (json.dumps([time.time(), *fields]) + "\n").encode())

    def _owns(self, key: ClaimKey, payload: dict[str, Any]) -> None:
        finding = payload.get("finding", {}) if isinstance(payload, dict) else {}
        self._note(
            "claim",
            f"{key.fingerprint}/{key.firing}/{key.status}",
            str(finding.get("invoke_id")),
            str(finding.get("instance_id")),
        )

    def claim(
        self, key: ClaimKey, payload: dict[str, Any], owner: str, lease_seconds: float, now: float
    ) -> ClaimOutcome:
        outcome: ClaimOutcome = self.inner.claim(key, payload, owner, lease_seconds, now)
        if outcome is ClaimOutcome.WON:
            self._owns(key, payload)
        return outcome

    def take_over(self, claim: Claim, owner: str, lease_seconds: float, now: float) -> bool:
        taken = bool(self.inner.take_over(claim, owner, lease_seconds, now))
        if taken:
            self._owns(claim.key, claim.payload)
        return taken

    def confirm(self, key: ClaimKey, owner: str, now: float) -> bool:
        done = bool(self.inner.confirm(key, owner, now))
        if done:
            self._note("confirm", f"{key.fingerprint}/{key.firing}/{key.status}")
        return done

    def release(self, key: ClaimKey, owner: str, error: str, now: float) -> bool:
        return bool(self.inner.release(key, owner, error, now))

    def pending(self, now: float, receiver: str | None = None) -> list[Claim]:
        claims: list[Claim] = self.inner.pending(now, receiver)
        return claims

    def read(self, name: str) -> Record:
        record: Record = self.inner.read(name)
        return record

    def write(self, name: str, value: dict[str, Any], expected_version: str | None) -> bool:
        return bool(self.inner.write(name, value, expected_version))

    def prune(self, now: float) -> int:
        return int(self.inner.prune(now))


class ReadTimeout(httpx.BaseTransport):
    """An httpx transport whose requests wait at most ``seconds`` for an answer."""

    def __init__(self, seconds: float) -> None:
        self.inner = httpx.HTTPTransport()
        self.seconds = seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = dict(request.extensions.get("timeout", {}))
        timeouts["read"] = self.seconds
        request.extensions["timeout"] = timeouts
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _store(spec: dict[str, Any], credentials: Credentials) -> Any:
    if spec["backend"] == "file":
        from lib.state.file import FileStore

        return FileStore(Path(spec["state_dir"]))
    from lib.state import open_store

    return open_store(
        spec["state_url"],
        environ={},
        namespace=spec["namespace"],
        credentials=lambda: credentials,
        endpoint=spec["state_endpoint"],
        region="cn-hangzhou",
    )


def run_once(spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run one invocation as ``spec`` says; (exit status, what to print)."""
    credentials = Credentials(spec["access_key_id"], SecretStr(spec["access_key_secret"]))
    started, base = time.monotonic(), float(spec["now"])

    def clock() -> datetime:
        return datetime.fromtimestamp(base + time.monotonic() - started, timezone.utc)

    settings = load_settings(
        {
            "ASSISTWATCH_REGIONS": "cn-hangzhou",
            "ASSISTWATCH_ECS_ENDPOINT": spec["cloud_url"],
            "ASSISTWATCH_EFLO_ENDPOINT": spec["cloud_url"],
            "ASSISTWATCH_LOOKBACK": "2h",
            "ASSISTWATCH_SHOW_OUTPUT": "true",
            "ASSISTWATCH_DINGTALK_URL": spec["robot_url"],
            "ASSISTWATCH_DINGTALK_SECRET": spec["robot_secret"],
        }
    )
    skip: Callable[[float], None] = lambda _: None  # noqa: E731 - backoffs are not waited
    app = build_app(
        settings,
        transport=ReadTimeout(float(spec["read_timeout"])),
        store=JournalingStore(_store(spec, credentials), spec["journal"]),
        clock=clock,
        sleep=skip,
        environ={},
    )
    trigger: Trigger = Poll(origin="timer")
    if spec.get("watch"):
        trigger = Watch("eflo", "cn-hangzhou", tuple(spec["watch"]), "command")
    invocation = Invocation(spec["request_id"], credentials, timeout_seconds=60.0)
    try:
        report = app.run(trigger, invocation)
    except AssistwatchError as error:
        return 1, {"raised": str(error)}
    finally:
        app.http.close()
    return (0 if report.ok else 2), report.model_dump(mode="json")


def main(argv: list[str] | None = None) -> int:
    """Read the spec (a JSON argument), run, print the outcome as one JSON line."""
    from lib.support.log import configure

    configure(open(os.devnull, "w"))  # noqa: SIM115 - the process ends with this run
    spec = json.loads((argv or sys.argv[1:])[0])
    status, outcome = run_once(spec)
    sys.stdout.write(json.dumps(outcome, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
