"""``make package`` (scripts/package.py): what the FC code zip holds and how it loads.

The registry is not used here: the zip's ``python/`` is filled from this environment's
installed distributions (the same dependency closure pip resolves, minus the exclusions),
and this interpreter stands in for FC's as both the target and the compiler.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from scripts.package import (
    EXCLUDED,
    CompilerError,
    ShadowError,
    build,
    find_compiler,
    runtime_requirements,
    without_excluded,
)
from tests.fakes.ots import FakeTableStore

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def _closure(requirements: Sequence[str]) -> list[str]:
    """Installed distributions ``requirements`` need, dependencies included, minus EXCLUDED."""
    wanted = [Requirement(text) for text in requirements]
    seen: dict[str, str] = {}
    while wanted:
        req = wanted.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen or name in EXCLUDED:
            continue
        dist = distribution(req.name)
        seen[name] = dist.metadata["Name"]
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                wanted.append(dep)
    return sorted(seen.values())


def copy_installed(target: Path, python_version: str, requirements: Sequence[str]) -> None:
    """An offline installer: copy the installed files of the requirements' closure."""
    for name in _closure(requirements):
        dist = distribution(name)
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if ".." in file.parts or "__pycache__" in file.parts or not source.is_file():
                continue
            dest = target / file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """The zip, built for this interpreter and compiled by it, unpacked read-only."""
    base = tmp_path_factory.mktemp("package")
    output = base / "fc.zip"
    requirements = runtime_requirements(["ots", "routing"])
    names = build(output, HERE, requirements, sys.executable, installer=copy_installed)
    code = base / "code"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(code)
    for path in code.rglob("*"):  # chmod -R a-w, as /code is on FC
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield code, names
    for path in code.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def run_in(code: Path, script: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter that sees only the zip (and the stdlib), as on FC."""
    prelude = f"import sys; sys.path[:0] = [{str(code)!r}, {str(code / 'python')!r}]\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # FC cannot write them either (root ignores a-w)
    return subprocess.run(
        [sys.executable, "-S", *flags, "-c", prelude + script],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_zip_carries_unchecked_hash_bytecode_of_the_target_version(
    extracted: tuple[Path, list[str]],
) -> None:
    # GIVEN the zip built with an interpreter of the target version
    code, names = extracted
    # THEN every shipped module of ours has its .pyc beside it, of that version only
    for module in ("handler", "lib/support/settings", "lib/state/ots", "lib/app/paging"):
        folder, _, stem = f"./{module}".rpartition("/")
        assert f"{folder}/__pycache__/{stem}.{TAG}.pyc".removeprefix("./") in names
    assert all(name.endswith(f".{TAG}.pyc") for name in names if name.endswith(".pyc"))
    assert any(name.startswith("python/pydantic/__pycache__/") for name in names)
    # AND structlog, the logger every run uses, is shipped as a runtime dependency
    assert any(name.startswith("python/structlog/__pycache__/") for name in names)
    # AND each is hash-based and unchecked: zip timestamps are never compared
    for pyc in (code / "__pycache__" / f"handler.{TAG}.pyc", *code.glob("lib/**/*.pyc")):
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == UNCHECKED_HASH, pyc


def test_handler_imports_from_a_read_only_copy_without_compiling_anything(
    extracted: tuple[Path, list[str]],
) -> None:
    # GIVEN the unpacked, read-only zip
    code, _ = extracted
    # WHEN a fresh interpreter imports the handler and a poll's modules, verbosely
    out = run_in(code, "import handler, lib.app.paging, lib.state.ots, httpx, tablestore", "-v")
    assert out.returncode == 0, out.stderr[-2000:]
    # THEN every module from the zip came from a .pyc ("code object from" names the file
    # the code was loaded from: the .py when it had to be compiled)
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", out.stderr, re.MULTILINE)
    ours = [path for path in loaded if path.startswith(str(code))]
    assert any(path.endswith(f"handler.{TAG}.pyc") for path in ours)
    assert any("/python/pydantic/" in path for path in ours)
    compiled = [path for path in ours if not path.endswith(".pyc")]
    assert compiled == []


def test_without_a_compiler_the_zip_ships_sources_only(tmp_path: Path) -> None:
    # GIVEN no interpreter to compile with
    output = tmp_path / "fc.zip"
    # WHEN the zip is built
    names = build(output, HERE, [], None, installer=lambda *_: None)
    # THEN it holds the code, no bytecode (not even this interpreter's leftovers)
    assert "handler.py" in names
    assert "lib/support/settings.py" in names
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]


def test_the_table_store_state_works_from_the_zip_without_numpy_or_aiohttp(
    extracted: tuple[Path, list[str]],
) -> None:
    # GIVEN the zip (tablestore and its dependencies, numpy left out) and a Table Store
    code, names = extracted
    assert any(name.startswith("python/tablestore/") for name in names)
    assert not [name for name in names if name.startswith(("python/numpy", "python/enum"))]
    with FakeTableStore(
        instance="assistwatch", access_key_id="LTAIfakeZip01", access_key_secret="zip-s3cret"
    ) as fake:
        fake.create_table("state", ttl=86_400)
        # WHEN the ots:// store claims, confirms and reads back a claim there
        script = f"""
import json
from pydantic import SecretStr
from lib.support.credentials import Credentials
from lib.core.claims import ClaimKey
from lib.state.ots import OtsStore
store = OtsStore("assistwatch", "state", endpoint={fake.endpoint!r},
    credentials=lambda: Credentials("LTAIfakeZip01", SecretStr("zip-s3cret"), None))
key = ClaimKey(fingerprint="fp-1", firing=1, receiver="ops")
now = 1_800_000_000.0
outcomes = [store.claim(key, {{"text": "x"}}, "run-1", 900.0, now).name]
confirmed = store.confirm(key, "run-1", now)
outcomes.append(store.claim(key, {{"text": "x"}}, "run-2", 900.0, now + 1).name)
print(json.dumps({{"outcomes": outcomes, "confirmed": confirmed,
    "pending": len(store.pending(now + 3600)),
    "heavy": sorted(m for m in ("numpy", "aiohttp", "asyncio") if m in sys.modules)}}))
"""
        out = run_in(code, script)
    # THEN it works through the real SDK, and neither numpy nor aiohttp was loaded
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {
        "outcomes": ["WON", "DONE"],
        "confirmed": True,
        "pending": 0,
        "heavy": [],
    }


def test_excluded_distributions_are_left_out_by_name_however_spelled() -> None:
    # GIVEN what pip resolved for the ots extra on an old tablestore
    resolved = ["tablestore==5.4.1", "Enum34==1.1.10", "NumPy==2.2.6", "protobuf==3.20.3"]
    # WHEN the exclusions are applied
    kept, dropped = without_excluded(resolved)
    # THEN numpy and enum34 are dropped, the rest kept in order
    assert kept == ["tablestore==5.4.1", "protobuf==3.20.3"]
    assert dropped == ["Enum34==1.1.10", "NumPy==2.2.6"]


def test_an_interpreter_of_another_version_is_refused() -> None:
    # GIVEN this interpreter named as the compiler for another target version
    other = "3.10" if HERE != "3.10" else "3.12"
    # WHEN the compiler is chosen THEN it is refused, naming both versions
    with pytest.raises(CompilerError, match=rf"is python {HERE}, not {other}"):
        find_compiler(other, sys.executable)
    # AND one that does not run is refused too
    with pytest.raises(CompilerError, match="does not run"):
        find_compiler(HERE, "/nonexistent/python")
    # AND this one is accepted for its own version
    assert find_compiler(HERE, sys.executable) == (sys.executable, "")


def test_a_python_on_path_that_does_not_run_means_no_bytecode_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a PATH whose python3.X is a shim that fails (as pyenv's does for an
    # unselected version)
    shim = tmp_path / "python3.9"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    # WHEN the default compiler is looked up THEN there is none, and the reason names it
    compiler, why = find_compiler("3.9", None, pyenv_root=tmp_path / "no-pyenv")
    assert compiler is None
    assert str(shim) in why
    assert "does not run" in why


def test_a_pyenv_installed_python_of_the_target_version_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no python3.X on PATH, and pyenv holding two patch releases of it
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for patch in ("1", "11"):
        bindir = tmp_path / "versions" / f"{version}.{patch}" / "bin"
        bindir.mkdir(parents=True)
        (bindir / f"python{version}").symlink_to(sys.executable)
    # WHEN the default compiler is looked up THEN the newest patch release is chosen
    compiler, why = find_compiler(version, None, pyenv_root=tmp_path)
    assert compiler == str(tmp_path / "versions" / f"{version}.11" / "bin" / f"python{version}")
    assert why == ""


def test_the_zips_dependencies_win_over_the_runtimes_own_modules(tmp_path: Path) -> None:
    # GIVEN the zip's layout, whose python/ holds a module the runtime also has on its path
    code = tmp_path / "code"
    (code / "python" / "shadowed").mkdir(parents=True)
    (code / "python" / "shadowed" / "__init__.py").write_text("WHO = 'shipped'\n")
    shutil.copy2(Path(__file__).parents[1] / "handler.py", code / "handler.py")
    shutil.copytree(Path(__file__).parents[1] / "lib", code / "lib")
    runtime = tmp_path / "runtime"
    (runtime / "shadowed").mkdir(parents=True)
    (runtime / "shadowed" / "__init__.py").write_text("WHO = 'runtime'\n")
    # WHEN FC imports the handler with its own modules first on the path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(runtime), str(code)])}
    out = subprocess.run(
        [sys.executable, "-c", "import handler, shadowed; print(shadowed.WHO)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # THEN the shipped version is the one imported
    assert out.stdout.strip() == "shipped"


def test_a_dependency_that_would_shadow_our_lib_is_refused(tmp_path: Path) -> None:
    # GIVEN a dependency that (badly packaged) installs a top-level `lib` package
    def installer(target: Path, *_: Any) -> None:
        (target / "lib").mkdir()
        (target / "lib" / "__init__.py").write_text("")

    # WHEN the zip is built THEN the build stops, naming the clash, and writes no zip
    output = tmp_path / "fc.zip"
    with pytest.raises(ShadowError, match="top-level lib"):
        build(output, HERE, [], None, installer=installer)
    assert not output.exists()


@pytest.mark.parametrize("chosen", [None, ["oss"], ["ots", "oss"]])
def test_every_package_ships_pyyaml_for_a_routing_file(chosen: list[str] | None) -> None:
    """GIVEN `--extra oss` (or any choice) WHEN the extras are chosen THEN routing (PyYAML)
    is among them: a routing file on FC would otherwise fail at import (issue #13)."""
    from scripts.package import package_extras

    extras = package_extras(chosen)
    assert "routing" in extras
    assert any(req.lower().startswith("pyyaml") for req in runtime_requirements(extras))
    # A route's message template (issue #15) needs Jinja2 on FC too.
    assert any(req.lower().startswith("jinja2") for req in runtime_requirements(extras))
    assert set(chosen or ["ots"]) <= set(extras)


def test_a_routing_file_ships_at_the_path_the_templates_name(tmp_path: Path) -> None:
    """GIVEN `make package ROUTING=routing.yaml` WHEN built THEN the zip holds it as
    routing.yaml at its root (/code/routing.yaml on FC), the path template.yml documents."""
    import yaml

    from scripts.package import ROUTING_IN_ZIP

    routing = tmp_path / "mine.yaml"
    routing.write_text("receivers:\n  ops: {type: dingtalk, url: ${OPS_URL}}\n", encoding="utf-8")
    output = tmp_path / "fc.zip"
    names = build(output, HERE, [], None, installer=lambda *_: None, routing=routing)
    assert ROUTING_IN_ZIP in names
    with zipfile.ZipFile(output) as archive:
        assert archive.read(ROUTING_IN_ZIP).decode() == routing.read_text(encoding="utf-8")
    template = yaml.safe_load(Path("template.yml").read_text(encoding="utf-8"))
    assert f"/code/{ROUTING_IN_ZIP}" in template["Parameters"]["RoutingFile"]["Description"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("receivers: [unclosed\n", ":2: "),
        ("- a list\n", ":1: the routing file must be a mapping"),
    ],
)
def test_a_broken_routing_file_stops_the_build_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    """GIVEN a routing file that is not a YAML mapping WHEN `make package ROUTING=...`
    THEN one line names file and line, exit 2, no zip."""
    from scripts.package import main

    routing = tmp_path / "routing.yaml"
    routing.write_text(text, encoding="utf-8")
    output = tmp_path / "fc.zip"
    assert main(["--routing", str(routing), "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"package: ROUTING: {routing}")
    assert expected in err
    assert len(err.splitlines()) == 1
    assert not output.exists()
