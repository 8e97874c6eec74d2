"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report."""

from __future__ import annotations

from lib.app.build import build_app
from lib.app.core import App
from lib.app.run import Invocation, RunReport

__all__ = ["App", "Invocation", "RunReport", "build_app"]
