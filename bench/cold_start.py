"""Cold start: ``import handler`` beside the official ECS SDK's client import, in one run.

Each figure is the median of several fresh interpreters (wall time of the imports and the
process's peak RSS), after one untimed warm-up run of each case. Three environments:

- **FC layout** (the figures the target is about): what ``make package`` ships and FC runs
  — handler.py and lib/ at the root, the runtime dependencies (and the ``ots`` and
  ``routing`` extras the zip carries) in ``python/`` on ``PYTHONPATH``, in a clean
  virtualenv (``.venv-bench-fc``) with nothing else installed; versions pinned to this
  environment's, so both measure the same pydantic and httpx. Chosen, installed and
  compiled by scripts/package.py's own functions (its exclusions, unchecked-hash .pyc
  compiled by this interpreter, standing in for FC's), and run unable to write bytecode,
  as on FC's read-only ``/code``. Built on first use and whenever the requirements change;
  the code is staged and compiled fresh on every run. A second copy without any .pyc is
  what the zip runs when ``make package`` found no interpreter of the target version.
- **dev venv**: this interpreter, with the project's editable-install import finder and the
  dev packages (e.g. click and pygments, which ``import httpx`` picks up when present).
- **the SDK**: ``alibabacloud-ecs20140526`` in its own throwaway ``.venv-bench-sdk``, so it
  never becomes a dependency of the function.

``tests/test_cold_start.py`` checks that ``POLL_MODULES`` holds every module a real timer
poll imports, so the second row cannot drift into flattery.

    make bench            # or: .venv/bin/python bench/cold_start.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import venv
from collections.abc import Sequence
from importlib.metadata import distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # scripts.package, when run as bench/cold_start.py
SDK_ENV = ROOT / ".venv-bench-sdk"
SDK_PACKAGE = "alibabacloud-ecs20140526"
FC_ENV = ROOT / ".venv-bench-fc"
FC_CODE = FC_ENV / "code"  # the zip's root: handler.py, lib/, python/
FC_EXTRAS = ("ots", "routing")  # what `make package` ships by default (template.yml's state)
PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"  # target = compiler, as FC's

# Peak RSS is this process's VmHWM: Linux carries ru_maxrss over exec, so ru_maxrss would
# report the benchmark's own size whenever it is the larger (the old floor row showed that).
PROBE = """
import json, resource, sys, time
start = time.perf_counter()
{imports}
elapsed = time.perf_counter() - start
try:
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": elapsed, "rss_kb": rss_kb}}))
"""

# What a timer poll (file state, a DingTalk robot, as `make demo` runs it) imports on top of
# `handler`: lib's lazily imported modules, httpx and what creating its client pulls in.
# Derived from a real run; tests/test_cold_start.py fails when a poll imports more.
POLL_MODULES = (
    "lib.cloud.aliyun.client",
    "lib.support.credentials",
    "lib.cloud.aliyun.endpoints",
    "lib.cloud.aliyun.params",
    "lib.cloud.aliyun.ratelimit",
    "lib.cloud.aliyun.retry",
    "lib.cloud.aliyun.signer",
    "lib.cloud.cloudassist.api",
    "lib.core.records.ecs",
    "lib.notify.chat",
    "lib.notify.dingtalk",
    "lib.notify.render",
    "lib.notify.retry",
    "lib.app.paging",
    "lib.app.receivers",
    "lib.support.redact",
    "lib.core.silences",
    "lib.state.silences",
    "lib.state.file",
    "lib.core.watches",
    "lib.app.inhibiting",
    "lib.core.inhibition",
    "lib.cloud.instances",
    "lib.core.records.instances",
    "lib.app.fanout",  # every poll asks whether it fans out (or holds its shard's slot)
    "lib.core.shards",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "certifi",
    "encodings.idna",
)
# template.yml keeps the state in Table Store: a deployed poll imports its SDK too.
TABLE_STORE_MODULES = ("lib.state.ots", "tablestore")


def _imports(*modules: str) -> str:
    return "\n".join(f"import {name}" for name in modules)


SDK_CASE = f"{SDK_PACKAGE} client (official SDK)"
CASES: dict[str, tuple[str, str]] = {
    "python -c pass (floor)": ("fc", "pass"),
    "import handler": ("fc", "import handler"),
    "import handler + a poll's modules": ("fc", _imports("handler", *POLL_MODULES)),
    "  … + Table Store state (template.yml)": (
        "fc",
        _imports("handler", *POLL_MODULES, *TABLE_STORE_MODULES),
    ),
    "import handler, zip without .pyc (no python3.X)": ("nopyc", "import handler"),
    "  … + a poll's modules + Table Store, without .pyc": (
        "nopyc",
        _imports("handler", *POLL_MODULES, *TABLE_STORE_MODULES),
    ),
    "import handler (dev venv)": ("dev", "import handler"),
    "import handler + a poll's modules (dev venv)": ("dev", _imports("handler", *POLL_MODULES)),
    SDK_CASE: ("sdk", "from alibabacloud_ecs20140526.client import Client"),
}
ENVIRONMENTS = {
    "fc": "FC layout (clean venv; handler.py, lib/, python/ and the .pyc as `make package` "
    "ships them; no bytecode written, as on FC's read-only /code)",
    "nopyc": "the same without any .pyc: the zip when `make package` had no python3.X",
    "dev": "dev venv (editable install, dev packages)",
    "sdk": f"{SDK_ENV.name} (the SDK only)",
}


def sdk_python() -> Path:
    """The throwaway SDK environment's interpreter, installing the SDK on first use."""
    python = SDK_ENV / "bin" / "python"
    if not python.exists():
        print(f"creating {SDK_ENV.name} with {SDK_PACKAGE} (first run only) …", file=sys.stderr)
        venv.create(SDK_ENV, with_pip=True)
        _pip(python, "install", SDK_PACKAGE)
    return python


def runtime_requirements(extras: Sequence[str]) -> list[str]:
    """The project's runtime dependencies plus ``extras``' (as scripts/package.py reads them)."""
    chosen = []
    for req in requires("assistwatch") or []:
        spec, _, marker = req.partition(";")
        if not marker or any(f'extra == "{extra}"' in marker for extra in extras):
            chosen.append(spec.strip())
    return sorted(chosen)


def _pins() -> list[str]:
    """This environment's versions, as pip constraints (the project itself excluded)."""
    pins = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "assistwatch"
    }
    return sorted(pins, key=str.lower)


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args], check=True
    )


def fc_python() -> Path:
    """The clean FC-layout environment: dependencies installed once, the code staged fresh."""
    from scripts.package import (
        EXCLUDED,
        compile_tree,
        install,
        resolve,
        stage_code,
        without_excluded,
    )

    python = FC_ENV / "bin" / "python"
    requirements = runtime_requirements(FC_EXTRAS)
    # Excluded ones are never installed; pinning them could make resolution impossible
    # (this venv's numpy has no manylinux2014 wheel).
    constraints, _ = without_excluded(_pins(), EXCLUDED)
    stamp = FC_ENV / "installed.txt"
    wanted = "\n".join([*requirements, "# constraints", *constraints]) + "\n"
    if not python.exists():
        print(f"creating {FC_ENV.name} (first run only) …", file=sys.stderr)
        venv.create(FC_ENV, with_pip=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"installing {', '.join(requirements)} into {FC_ENV.name} …", file=sys.stderr)
        shutil.rmtree(FC_CODE, ignore_errors=True)
        FC_CODE.mkdir(parents=True)
        pins = FC_ENV / "constraints.txt"
        pins.write_text("\n".join(constraints) + "\n")
        # The same choice as `make package`: pip resolves, EXCLUDED is left out.
        chosen, _ = without_excluded(resolve(requirements, PYTHON_VERSION, constraints=pins))
        install(FC_CODE / "python", PYTHON_VERSION, chosen)
        compile_tree(FC_CODE / "python", python)
        stamp.write_text(wanted)
    shutil.rmtree(FC_CODE / "lib", ignore_errors=True)
    shutil.rmtree(FC_CODE / "__pycache__", ignore_errors=True)
    stage_code(FC_CODE)
    compile_tree(FC_CODE / "lib", python)
    compile_tree(FC_CODE / "handler.py", python)
    _nopyc_code()
    return python


def _nopyc_code() -> Path:
    """A copy of the same tree with no .pyc at all (sources only, as without python3.X)."""
    tree = FC_ENV / "nopyc"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(FC_CODE, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tree


def _sample(python: Path, where: str, imports: str) -> dict[str, float]:
    """One fresh interpreter: its import time (s) and peak RSS (KiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    cwd = ROOT
    if where in ("fc", "nopyc"):
        cwd = FC_CODE if where == "fc" else FC_ENV / "nopyc"
        env["PYTHONPATH"] = str(cwd / "python")  # FC puts /code/python on sys.path
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # /code is read-only on FC: no .pyc is ever written
    out = subprocess.run(
        [str(python), "-c", PROBE.format(imports=imports.strip())],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    sample: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return sample


def measure_all(
    pythons: dict[str, Path], cases: dict[str, tuple[str, str]], repeat: int
) -> dict[str, dict[str, float]]:
    """Median import time and peak RSS of every case over ``repeat`` fresh interpreters.

    Round-robin: each round runs every case once, so a slow spell of this shared machine
    slows ours and the SDK's alike instead of skewing one ratio (the SDK's own median moved
    from 341 to 567 ms between sequential runs). One untimed round first warms the disk
    cache.
    """
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for round_ in range(repeat + 1):
        for name, (where, imports) in cases.items():
            sample = _sample(pythons[where], where, imports)
            if round_:
                samples[name].append(sample)
    return {
        name: {
            "ms": statistics.median(s["seconds"] for s in taken) * 1000,
            "rss_mb": statistics.median(s["rss_kb"] for s in taken) / 1024,
        }
        for name, taken in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    pythons = {"fc": fc_python(), "dev": Path(sys.executable), "sdk": sdk_python()}
    pythons["nopyc"] = pythons["fc"]
    results = measure_all(pythons, CASES, args.repeat)
    sdk = results[SDK_CASE]
    print(
        f"cold start, median of {args.repeat} fresh interpreters per case, cases run round-robin "
        f"(python {sys.version.split()[0]})"
    )
    for key, text in ENVIRONMENTS.items():
        print(f"  [{key}] {text}")
    print(
        f"{'what':52} {'env':>4} {'import ms':>10} {'peak RSS MB':>12} {'time/SDK':>9} {'RSS/SDK':>8}"
    )
    for name, figures in results.items():
        print(
            f"{name:52} {CASES[name][0]:>4} {figures['ms']:10.1f} {figures['rss_mb']:12.1f} "
            f"{figures['ms'] / sdk['ms']:9.2f} {figures['rss_mb'] / sdk['rss_mb']:8.2f}"
        )
    if args.json:
        print(json.dumps({name: {"env": CASES[name][0], **f} for name, f in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
