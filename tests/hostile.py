"""A hostile tenant's corpus: what the cloud may hand us in every free field, one attack a line.

Shared by the per-receiver injection stories (tests/test_notify_injection.py) and the
receiver contract, which sends it over HTTP to each strict fake.
"""

from __future__ import annotations

from lib.core.catalogue import classify
from lib.core.notification import Notification
from tests.factories import make_alert, make_finding

__all__ = [
    "HEADING_NAME",
    "HOSTILE",
    "HOSTILE_LINES",
    "INSTANCE",
    "INVOKE",
    "ODD_DIR",
    "ODD_FILE",
    "hostile_notification",
]

HEADING_NAME = "deploy.sh`\n\n### INJECTED HEADING"
# What a tenant can put in every field the cloud hands us, one attack a line.
HOSTILE_LINES = [
    "### INJECTED HEADING",
    "# h1",
    "> quoted",
    "- listed",
    "* starred",
    "+ plussed",
    "1. numbered",
    "2) numbered",
    "===",
    "---",
    "```",
    "~~~",
    "[click](http://evil.example/a)",
    "![pixel](http://evil.example/p.png)",
    "\\[escaped\\](http://evil.example/b)",
    "<http://evil.example/auto>",
    '<at id=all></at> <at user_id="ou_boss"></at>',
    "<@all> <@zhangsan>",
    '<font color="warning">red</font>',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden -->",
    "\\<at id=all></at>",
    "**bold** and __strong__ and _it_ and ~~struck~~",
    "`code` and ``double``",
    "| a | b |",
    "|---|---|",
    "@13800001111 @所有人 @all",
    "\x1b[31mRED\x1b[0m \x1b]8;;http://evil.example\x07osc link\x1b]8;;\x07",
    "\u202egnp.exe\u202c \u2066isolated\u2069 \u200fmark",
    "nul\x00 bell\x07 backspace\x08 vt\x0b ff\x0c del\x7f c1\x9b",
    "crlf\r\n## CRLF HEADING",
    "ls\u2028## LS HEADING",
    "nel\x85## NEL HEADING",
    "lone \ud800 surrogate",
]
HOSTILE = "\n".join(HOSTILE_LINES)
INSTANCE = "i-bp1i7gg30r52z2e0hst1"
INVOKE = "t-hz0jdfwd9f0bad"
# Names and paths that look like markup but are what an engineer must copy exactly.
ODD_DIR = "/opt/my_app (v2)/conf.d/"
ODD_FILE = "app_[prod]*.conf"


def hostile_notification() -> Notification:
    """A command and a file send, every free field hostile; an unknown error code too."""
    command = make_finding(
        instance_id=INSTANCE,
        invoke_id=INVOKE,
        name=HEADING_NAME,
        error_info=HOSTILE,
        output=HOSTILE,
    )
    weird_code = make_finding(
        instance_id="i-bp1i7gg30r52z2e0hst2",
        invoke_id=INVOKE,
        name=HEADING_NAME,
        error_code="Evil.[x](http://evil.example)<@all>",
        error_info="## CODE HEADING <at id=all></at>",
        status="Failed",
        output="> x",
        classification=classify(
            status="Failed",
            error_code="Evil.[x](http://evil.example)<@all>",
            error_info="## CODE HEADING\n<at id=all></at>",
            exit_code=None,
            kind="command",
        ),
    )
    file = make_finding(
        kind="file",
        instance_id="i-bp1i7gg30r52z2e0hst3",
        invoke_id="f-hz0jdfwd9f0bad",
        name=ODD_FILE,
        target_dir=ODD_DIR,
        exit_code=None,
        error_info=HOSTILE,
        output=None,
    )
    alerts = tuple(make_alert(f) for f in (command, weird_code, file))
    return Notification(receiver="ops", group=HEADING_NAME, alerts=alerts)
