"""Cold start: ``import handler`` beside the official ECS SDK's client import, in one run.

Each figure is the median of several fresh interpreters (wall time of the import itself and
the process's peak RSS). The SDK lives in a throwaway virtualenv (``.venv-bench-sdk``),
created on first use, so it never becomes a dependency of the function.

    make bench            # or: .venv/bin/python bench/cold_start.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK_ENV = ROOT / ".venv-bench-sdk"
SDK_PACKAGE = "alibabacloud-ecs20140526"

PROBE = """
import json, resource, sys, time
start = time.perf_counter()
{imports}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

# What a timer run imports on top of ``handler`` (the lazily imported modules of a poll).
POLL_MODULES = """
import handler
import lib.aliyun.client, lib.cloudassist.api, lib.findings, lib.catalogue
import lib.state.file, lib.notify.dingtalk, lib.notify.render
"""

CASES = {
    "python -c pass (floor)": (None, "pass"),
    "import handler": (None, "import handler"),
    "import handler + a poll's modules": (None, POLL_MODULES),
    f"{SDK_PACKAGE} client (official SDK)": (
        "sdk",
        "from alibabacloud_ecs20140526.client import Client",
    ),
}


def sdk_python() -> Path:
    """The throwaway environment's interpreter, installing the SDK on first use."""
    python = SDK_ENV / "bin" / "python"
    if not python.exists():
        print(f"creating {SDK_ENV.name} with {SDK_PACKAGE} (first run only) …", file=sys.stderr)
        venv.create(SDK_ENV, with_pip=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SDK_PACKAGE,
            ],
            check=True,
        )
    return python


def measure(python: Path, imports: str, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        out = subprocess.run(
            [str(python), "-c", PROBE.format(imports=imports.strip())],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "ms": statistics.median(s["seconds"] for s in samples) * 1000,
        "rss_mb": statistics.median(s["rss_kb"] for s in samples) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    ours = Path(sys.executable)
    theirs = sdk_python()
    results = {
        name: measure(theirs if env == "sdk" else ours, imports, args.repeat)
        for name, (env, imports) in CASES.items()
    }
    sdk = results[f"{SDK_PACKAGE} client (official SDK)"]
    print(
        f"cold start, median of {args.repeat} fresh interpreters (python {sys.version.split()[0]})"
    )
    print(f"{'what':44} {'import ms':>10} {'peak RSS MB':>12} {'time/SDK':>9} {'RSS/SDK':>8}")
    for name, figures in results.items():
        print(
            f"{name:44} {figures['ms']:10.1f} {figures['rss_mb']:12.1f} "
            f"{figures['ms'] / sdk['ms']:9.2f} {figures['rss_mb'] / sdk['rss_mb']:8.2f}"
        )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
