"""What a person meets on a fresh clone: the first install and `git status` after a local run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lib.support.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    tomllib = pytest.importorskip("tomli")


def test_the_default_local_state_directory_is_ignored_by_git():
    """GIVEN the default ASSISTWATCH_STATE_URL (a directory in the working tree)
    WHEN a person runs the CLI in a clone THEN git does not offer the state files for commit."""
    default = Settings().state_url.removeprefix("file://").strip("/")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()

    assert f"{default}/" in ignored or default in ignored


def test_the_first_install_prints_no_license_deprecation_banner():
    """GIVEN pyproject.toml WHEN pip builds the project THEN setuptools finds the SPDX string
    form of `license` (a TOML table prints a deprecation banner per build step) and the
    build requires a setuptools that understands it (77.0 and later)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    assert isinstance(project["project"]["license"], str)
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools.replace(" ", "") == "setuptools>=77"


def _make(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: stopped below, and only it
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed here")
def test_make_serve_without_a_token_refuses_to_start_and_says_how():
    """GIVEN no ASSISTWATCH_SERVE_TOKEN WHEN make serve THEN nothing listens, exit 2, and
    the line says how to make a token."""
    process = _make("serve", env={})
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "set ASSISTWATCH_SERVE_TOKEN first" in err
    assert "openssl rand -hex 16" in err


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed here")
def test_make_serve_prints_where_it_listens():
    """GIVEN a token WHEN make serve starts THEN its first line is the address to call."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = _make("serve", f"PORT={port}", env={"ASSISTWATCH_SERVE_TOKEN": "t0ken"})
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)

    assert first.startswith(f"assistwatch local FC: http://127.0.0.1:{port}/invoke")
    assert "t0ken" not in first
