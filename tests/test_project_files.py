"""What a person meets on a fresh clone: the first install and `git status` after a local run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lib.settings import Settings

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
