"""``make package``: the FC code zip — handler.py, lib/, and the runtime dependencies.

Dependencies are installed for FC's runtime (linux x86_64, CPython 3.10 by default,
manylinux wheels only) into ``python/`` inside the zip, the directory FC's python runtimes
add to sys.path for code packages and layers. The runtime requirements are read from the
installed project's metadata (pyproject.toml is the one list). Prints the zip's size.
Needs the package registry, not the cloud.

    make package                                     # dist/assistwatch-fc.zip
    .venv/bin/python scripts/package.py --python-version 3.12
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from importlib.metadata import requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {"__pycache__", "bin"}


def runtime_requirements(extras: Sequence[str] = ()) -> list[str]:
    """The runtime dependencies plus those of ``extras`` (e.g. the state backend's SDK)."""
    chosen = []
    for req in requires("assistwatch") or []:
        spec, _, marker = req.partition(";")
        if not marker or any(f'extra == "{extra}"' in marker for extra in extras):
            chosen.append(spec.strip())
    return chosen


def install(target: Path, python_version: str, requirements: list[str]) -> None:
    """Install Linux x86_64 wheels for FC's interpreter into ``target``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        *requirements,
    ]
    subprocess.run(command, check=True)


def files_to_ship(staging: Path) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for the code and the dependencies."""
    chosen = [(ROOT / "handler.py", "handler.py")]
    chosen += [
        (path, path.relative_to(ROOT).as_posix())
        for path in sorted((ROOT / "lib").rglob("*.py"))
        if not SKIP_PARTS & set(path.parts)
    ]
    chosen += [
        (path, f"python/{path.relative_to(staging).as_posix()}")
        for path in sorted(staging.rglob("*"))
        if path.is_file() and not SKIP_PARTS & set(path.relative_to(staging).parts)
    ]
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the FC code zip.")
    parser.add_argument("--python-version", default="3.10", help="FC runtime (3.10 or 3.12)")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "assistwatch-fc.zip")
    parser.add_argument(
        "--extra",
        action="append",
        choices=["ots", "oss", "routing"],
        help="ship this extra's SDK too (repeatable); default: ots and routing, what "
        "template.yml deploys (Table Store state, an optional routing file)",
    )
    args = parser.parse_args()
    # template.yml keeps state in Table Store and may mount a routing file: ship both SDKs.
    requirements = runtime_requirements(args.extra or ["ots", "routing"])
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "python"
        install(staging, args.python_version, requirements)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shipped = files_to_ship(staging)
        with zipfile.ZipFile(args.output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, name in shipped:
                archive.write(path, name)
    size = args.output.stat().st_size
    print(f"{args.output}: {size / 1024 / 1024:.1f} MiB, {len(shipped)} files")
    print(f"runtime python{args.python_version}, dependencies: {', '.join(requirements)}")
    print("handler: handler.handler")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
