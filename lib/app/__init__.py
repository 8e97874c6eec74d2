"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report.

Where each step lives:

- ``core``: the App and its run (dispatch, report summary); ``build``: ``build_app``
- ``context``: what every step is given (the App's parts); ``run``: Invocation, Scope, the
  pass's bookkeeping, RunReport
- ``scopes``: regions, accounts (assumed roles), one Cloud Assistant client per pair
- ``polling``: the timer poll; ``events``: task events; ``watching``: watches and Lingjun
- ``telling``: findings → this pass's alerts; ``agents``: agent alerts; ``reminding``: reminders
- ``paging``: one source in one region, paged without blind spots
- ``tagging``: instance tags; ``output``: output tails; ``state``: claims and state writes
- ``outbox``: claim, send, confirm, redeliver; ``health``: "assistwatch unhealthy"
- ``config``: the routing file; ``receivers``: receivers from env and file
"""

from __future__ import annotations

from lib.app.build import build_app
from lib.app.core import App
from lib.app.run import Invocation, RunReport

__all__ = ["App", "Invocation", "RunReport", "build_app"]
