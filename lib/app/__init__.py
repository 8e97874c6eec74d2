"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report."""

from __future__ import annotations

from lib.app.core import App, Invocation, RunReport, build_app

__all__ = ["App", "Invocation", "RunReport", "build_app"]
