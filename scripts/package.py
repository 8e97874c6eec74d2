"""``make package``: the FC code zip — handler.py, lib/, the runtime dependencies, bytecode.

Dependencies are installed for FC's runtime (linux x86_64, CPython 3.10 by default,
manylinux wheels only) into ``python/`` inside the zip, the directory FC's python runtimes
add to sys.path for code packages and layers. The runtime requirements are read from the
installed project's metadata (pyproject.toml is the one list); pip resolves them, then the
few distributions in :data:`EXCLUDED` are left out, by name and with the reason printed.

``/code`` is read-only on FC, so the runtime can never cache bytecode there: without .pyc in
the zip every cold start compiles every module from source (~150 ms). So the whole tree is
compiled with an interpreter of the target version (``--compile-with``, default
``python3.X`` on PATH) as *unchecked-hash* .pyc, which are used without comparing them to
the sources' timestamps (the zip does not keep those). A .pyc of another version would be
ignored, so any other interpreter is refused; with none, the zip ships sources only and one
line says so. Prints the zip's size. Needs the package registry, not the cloud.

    make package                                     # dist/assistwatch-fc.zip
    .venv/bin/python scripts/package.py --python-version 3.12
    .venv/bin/python scripts/package.py --compile-with ~/.pyenv/versions/3.10.13/bin/python3.10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import requires
from pathlib import Path

__all__ = [
    "EXCLUDED",
    "ROUTING_IN_ZIP",
    "CompilerError",
    "build",
    "check_routing",
    "compile_tree",
    "files_to_ship",
    "find_compiler",
    "install",
    "interpreter_version",
    "package_extras",
    "resolve",
    "runtime_requirements",
    "stage_code",
    "without_excluded",
]

ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {"bin"}

# Distributions a resolved requirement pulls in that the zip must not carry. Each is left
# out by name after pip resolves, and the build prints which and why.
EXCLUDED = {
    # tablestore declares numpy, but only flatbuffers' optional numpy accessors (Table Store
    # time series and SQL results, which lib/state/ots.py never reads) use it; flatbuffers
    # checks for numpy and works without it. Shipped, it costs ~40 ms and ~14 MB at every
    # cold start with ots:// state (flatbuffers imports it when present).
    "numpy": "optional in flatbuffers; only Table Store time series / SQL use it",
    # tablestore <= 6.1 declares the Python 2 backport; in python/ it would shadow the stdlib
    # enum for the whole runtime.
    "enum34": "a Python 2 backport that would shadow the stdlib enum",
}

Installer = Callable[[Path, str, Sequence[str]], None]


class CompilerError(Exception):
    """The interpreter named to compile .pyc cannot produce the target version's bytecode."""


class ShadowError(Exception):
    """A dependency ships a top-level name of our own code (python/ comes first on FC)."""


OWN_NAMES = ("lib", "handler")  # handler.py puts python/ first: these must stay ours


# The zip's root is /code on FC: a routing file shipped by `make package ROUTING=path` is
# read there (template.yml / s.yaml set ASSISTWATCH_CONFIG to it).
ROUTING_IN_ZIP = "routing.yaml"


def package_extras(chosen: Sequence[str] | None) -> list[str]:
    """The extras to ship: default ots (template.yml's state); always routing (PyYAML, and
    Jinja2 for message templates), since any deployment may set ASSISTWATCH_CONFIG and the
    routing file needs them."""
    return sorted({*(chosen or ["ots"]), "routing"})


def check_routing(path: Path) -> str | None:
    """Why ``path`` cannot ship as the routing file (unreadable, not YAML, not a mapping),
    or None. The full check (receivers, routes, ${NAME}s set on FC) is `assistwatch check`."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        return f"{path}: cannot read: {error.strerror}"
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        return f"{path}:{line}: {getattr(error, 'problem', None) or 'not valid YAML'}"
    if not isinstance(data, dict):
        return f"{path}:1: the routing file must be a mapping (receivers:, routes:)"
    return None


def runtime_requirements(extras: Sequence[str] = ()) -> list[str]:
    """The runtime dependencies plus those of ``extras`` (e.g. the state backend's SDK)."""
    chosen = []
    for req in requires("assistwatch") or []:
        spec, _, marker = req.partition(";")
        if not marker or any(f'extra == "{extra}"' in marker for extra in extras):
            chosen.append(spec.strip())
    return chosen


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_for(python_version: str) -> list[str]:
    """pip arguments selecting FC's platform: Linux x86_64 CPython wheels of that version."""
    return [
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
    ]


def resolve(
    requirements: Sequence[str], python_version: str, constraints: Path | None = None
) -> list[str]:
    """``name==version`` of every distribution pip would install for ``requirements``."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "package_extras",
            "--quiet",
            "--disable-pip-version-check",
            "--dry-run",
            "--ignore-installed",
            "--report",
            "-",
            "--target",
            tmp,  # with --platform, pip requires --target (nothing is written: --dry-run)
            *_pip_for(python_version),
            *(["--constraint", str(constraints)] if constraints else []),
            *requirements,
        ]
        report = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [
        f"{item['metadata']['name']}=={item['metadata']['version']}"
        for item in json.loads(report)["install"]
    ]


def without_excluded(
    pins: Iterable[str], excluded: Iterable[str] = EXCLUDED
) -> tuple[list[str], list[str]]:
    """(pins to install, pins left out): ``excluded`` names are matched as PyPI does."""
    unwanted = {_canonical(name) for name in excluded}
    kept: list[str] = []
    dropped: list[str] = []
    for pin in pins:
        name = pin.partition("==")[0]
        (dropped if _canonical(name) in unwanted else kept).append(pin)
    return kept, dropped


def install(target: Path, python_version: str, pins: Sequence[str]) -> None:
    """Install exactly ``pins`` (no dependency resolution, no bytecode) into ``target``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "package_extras",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",  # resolve() already chose the set; excluded ones must stay out
        "--no-compile",  # pip would compile for *this* interpreter; compile_tree does FC's
        "--target",
        str(target),
        *_pip_for(python_version),
        *pins,
    ]
    subprocess.run(command, check=True)


def interpreter_version(python: str | Path) -> str | None:
    """``X.Y`` of the interpreter at ``python``, or None if it does not run (e.g. a pyenv
    shim for a version that is not selected exits 127)."""
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and re.fullmatch(r"\d+\.\d+", version) else None


def find_compiler(
    python_version: str, compile_with: str | None, *, pyenv_root: Path | None = None
) -> tuple[str | None, str]:
    """(interpreter to compile with or None, why none) for ``python_version``.

    Without ``compile_with``: ``pythonX.Y`` on PATH, else the newest pyenv-installed X.Y
    (pyenv's PATH shim fails for a version not selected, though the interpreter is there).

    Raises:
        CompilerError: ``compile_with`` was named but is not a ``python_version`` interpreter.
    """
    if compile_with is not None:
        found = interpreter_version(compile_with)
        if found != python_version:
            raise CompilerError(
                f"--compile-with {compile_with} is python {found or '(does not run)'}, "
                f"not {python_version}: its .pyc would be ignored on FC's python{python_version}"
            )
        return compile_with, ""
    name = f"python{python_version}"
    why = f"no {name} on PATH"
    path = shutil.which(name)
    if path is not None:
        found = interpreter_version(path)
        if found == python_version:
            return path, ""
        why = f"{name} on PATH ({path}) {'is ' + found if found else 'does not run'}"
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = sorted(
        root.glob(f"versions/{python_version}.*/bin/{name}"),
        key=lambda p: [int(n) if n.isdigit() else 0 for n in p.parts[-3].split(".")],
    )
    for candidate in reversed(installed):
        if interpreter_version(str(candidate)) == python_version:
            return str(candidate), ""
    return None, f"{why}, nor in pyenv ({root})"


def compile_tree(tree: Path, python: str | Path) -> None:
    """Compile every .py under ``tree`` with ``python`` into unchecked-hash .pyc."""
    command = [str(python), "-m", "compileall", "-q", "-j", "0"]
    command += ["--invalidation-mode", "unchecked-hash", str(tree)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode:
        # A file its own interpreter cannot compile cannot be imported either (e.g. a
        # Python 2 leftover in a dependency): say so, ship the rest.
        failed = [line for line in out.stdout.splitlines() if line.startswith("***")]
        print(f"note: {len(failed) or 'some'} files did not compile: {'; '.join(failed)[:300]}")


def stage_code(tree: Path) -> None:
    """Copy handler.py and lib/ (sources only) into ``tree``, the zip's root."""
    shutil.copy2(ROOT / "handler.py", tree / "handler.py")
    for path in sorted((ROOT / "lib").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        dest = tree / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def files_to_ship(tree: Path, python_version: str) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip): everything staged, .pyc only of the target version."""
    tag = f".cpython-{python_version.replace('.', '')}.pyc"
    chosen = []
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree)
        if not path.is_file() or SKIP_PARTS & set(relative.parts):
            continue
        if ("__pycache__" in relative.parts or path.suffix == ".pyc") and not (
            path.parent.name == "__pycache__" and path.name.endswith(tag)
        ):
            continue
        chosen.append((path, relative.as_posix()))
    return chosen


def build(
    output: Path,
    python_version: str,
    requirements: Sequence[str],
    compiler: str | Path | None,
    *,
    installer: Installer | None = None,
    routing: Path | None = None,
) -> list[str]:
    """Write the zip to ``output``; returns the names it holds.

    ``installer(target, python_version, requirements)`` fills ``python/``; default: pip
    resolves, :data:`EXCLUDED` is left out, the rest is installed as resolved.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "code"
        (tree / "python").mkdir(parents=True)
        (installer or _install_resolved)(tree / "python", python_version, requirements)
        clash = [
            name
            for name in OWN_NAMES
            if (tree / "python" / name).exists() or (tree / "python" / f"{name}.py").exists()
        ]
        if clash:
            raise ShadowError(
                f"a dependency ships a top-level {', '.join(clash)}, which would shadow ours "
                "(python/ comes first on the path): pin another version of it"
            )
        stage_code(tree)
        if routing is not None:
            shutil.copyfile(routing, tree / ROUTING_IN_ZIP)
        if compiler is not None:
            compile_tree(tree, compiler)
        shipped = files_to_ship(tree, python_version)
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, name in shipped:
                archive.write(path, name)
    return [name for _, name in shipped]


def _install_resolved(target: Path, python_version: str, requirements: Sequence[str]) -> None:
    pins, dropped = without_excluded(resolve(requirements, python_version))
    for pin in dropped:
        print(f"left out {pin}: {EXCLUDED[_canonical(pin.partition('==')[0])]}")
    install(target, python_version, pins)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the FC code zip.")
    parser.add_argument("--python-version", default="3.10", help="FC runtime (3.10 or 3.12)")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "assistwatch-fc.zip")
    parser.add_argument(
        "--extra",
        action="append",
        choices=["ots", "oss", "routing"],
        help="ship this extra's SDK too (repeatable); default ots (template.yml's Table "
        "Store state); routing (PyYAML) is always shipped",
    )
    parser.add_argument(
        "--routing",
        type=Path,
        metavar="PATH",
        help=f"ship this routing file as /code/{ROUTING_IN_ZIP} (set the template's "
        f"RoutingFile / s.yaml's ASSISTWATCH_CONFIG to /code/{ROUTING_IN_ZIP})",
    )
    parser.add_argument(
        "--compile-with",
        metavar="PATH",
        help="a python of --python-version to compile .pyc with (default: python3.X on PATH)",
    )
    args = parser.parse_args(argv)
    requirements = runtime_requirements(package_extras(args.extra))
    if args.routing is not None and (problem := check_routing(args.routing)) is not None:
        print(f"package: ROUTING: {problem}", file=sys.stderr)
        return 2
    try:
        compiler, why_not = find_compiler(args.python_version, args.compile_with)
    except CompilerError as error:
        print(f"package: {error}", file=sys.stderr)
        return 2
    if compiler is None:
        print(
            f"warning: {why_not}: the zip ships no .pyc, so every FC cold start compiles "
            f"the code from source (~150 ms); install python{args.python_version} and pass "
            "--compile-with PATH (or put it on PATH)"
        )
    try:
        names = build(
            args.output, args.python_version, requirements, compiler, routing=args.routing
        )
    except ShadowError as error:
        print(f"package: {error}", file=sys.stderr)
        return 2
    size = args.output.stat().st_size
    pyc = sum(name.endswith(".pyc") for name in names)
    print(f"{args.output}: {size / 1024 / 1024:.1f} MiB, {len(names)} files ({pyc} .pyc)")
    print(f"runtime python{args.python_version}, dependencies: {', '.join(requirements)}")
    if compiler is not None:
        print(f"bytecode: unchecked-hash .pyc compiled by {compiler}")
    print("handler: handler.handler")
    if args.routing is not None:
        print(f"routing file: {args.routing} as /code/{ROUTING_IN_ZIP}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
