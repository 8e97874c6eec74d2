"""Message templates: what drawing with one costs against the built-in message, in one run.

For 1, 30 and 300 failed instances, the DingTalk robot renders the notification the
built-in way and with a routing-file template (one paragraph per alert); the figure is the
median of ``--repeat`` runs and the ratio is against the built-in rendering measured in the
same run. The first line is Jinja2's import in a fresh interpreter (paid only when a
template is configured), against importing the DingTalk receiver alone.

    .venv/bin/python bench/templates.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.core.notification import Notification  # noqa: E402
from lib.core.overrides import TemplateSource  # noqa: E402
from lib.notify.dingtalk import DingTalkReceiver  # noqa: E402
from lib.notify.render import RenderOptions  # noqa: E402
from tests.factories import make_notification  # noqa: E402

TEMPLATE = TemplateSource(
    text="{% for a in alerts %}{{ a.icon }} **{{ a.name }}** on {{ a.code.instance_id }}: "
    "{{ a.explanation }}\n{% for line in a.output %}> {{ line }}\n{% endfor %}\n{% endfor %}",
    where="bench:1",
)


def _import_ms(module: str) -> float:
    code = f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        times.append(float(out.stdout))
    return statistics.median(times) * 1000


def _median_ms(robot: DingTalkReceiver, notification: Notification, repeat: int) -> float:
    def once() -> float:
        start = time.perf_counter()
        robot.render(notification)
        return time.perf_counter() - start

    return statistics.median(once() for _ in range(repeat)) * 1000


def _robot(template: TemplateSource | None) -> DingTalkReceiver:
    import httpx

    return DingTalkReceiver(
        "ops",
        SecretStr("https://oapi.dingtalk.com/robot/send?access_token=bench"),
        None,
        http=httpx.Client(),
        options=RenderOptions(template=template),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = _import_ms("lib.notify.dingtalk")
    jinja = _import_ms("lib.notify.dingtalk, jinja2.sandbox")
    print(
        f"import: dingtalk receiver {base:.1f} ms, with jinja2.sandbox {jinja:.1f} ms "
        f"(+{jinja - base:.1f} ms, only when a template is configured)"
    )
    builtin, templated = _robot(None), _robot(TEMPLATE)
    templated.render(make_notification(1))  # compile once, as the first message would
    print(f"{'alerts':>7} {'built-in ms':>12} {'template ms':>12} {'ratio':>6} {'parts':>6}")
    for count in (1, 30, 300):
        notification = make_notification(count)
        plain = _median_ms(builtin, notification, args.repeat)
        drawn = _median_ms(templated, notification, args.repeat)
        parts = len(templated.render(notification))
        print(f"{count:>7} {plain:>12.2f} {drawn:>12.2f} {drawn / plain:>6.2f} {parts:>6}")


if __name__ == "__main__":
    main()
