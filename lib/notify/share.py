"""How many of the targeted instances failed: "3 of 200 instances" — 3 of 3 is another incident.

The total is the invocation's own (``Finding.targeted``, read from the answer the failures
came from, lib.core.findings.targeted_count); the failed count is the firing alerts of the
message. Said only when every invocation in the message knows its total: an unknown total
leaves the message as it was. Kept apart from :mod:`lib.notify.render` and
:mod:`lib.notify.signatures`, which call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lib.core.alerts import Alert

__all__ = ["Share", "failed_share"]

# (instances, nodes); a zh noun starts with its measure word ("200 台实例中的 3 台")
_NOUNS = {"zh": ("台实例", "个节点"), "en": ("instances", "nodes")}


@dataclass(frozen=True)
class Share:
    """``failed`` of ``targeted`` instances (nodes, for Lingjun) failed."""

    failed: int
    targeted: int
    nodes: bool = False

    def of(self, lang: str) -> str:
        """``3 of 200 instances`` / ``200 台实例中的 3 台``."""
        noun = _NOUNS["zh" if lang == "zh" else "en"][self.nodes]
        if lang == "zh":
            return f"{self.targeted} {noun}中的 {self.failed} {noun[0]}"
        return f"{self.failed} of {self.targeted} {noun}"

    def failed_text(self, lang: str) -> str:
        """``3 of 200 instances failed`` / ``200 台实例中的 3 台失败``."""
        return f"{self.of(lang)}失败" if lang == "zh" else f"{self.of(lang)} failed"


def failed_share(alerts: Sequence[Alert]) -> Share | None:
    """The share of the message's firing execution failures, or None when it is not known.

    None when there is no firing alert, when a firing alert is an agent alert, a missed run
    or a reminder (their count is not "how many failed"), or when an invocation among them
    does not know its total. Several invocations of one message add up.
    """
    firing = [alert for alert in alerts if alert.status == "firing"]
    if not firing or any(a.subject != "execution" or a.reminder for a in firing):
        return None
    totals: dict[tuple[str, str, str, str], int] = {}
    failed: set[tuple[str, str, str, str, str]] = set()
    for alert in firing:
        finding = alert.finding
        invocation = (finding.account, finding.provider, finding.region, finding.invoke_id)
        if finding.targeted is None:
            return None
        totals[invocation] = max(totals.get(invocation, 0), finding.targeted)
        failed.add((*invocation, finding.instance_id))
    targeted = sum(totals.values())
    if len(failed) > targeted:  # cannot be: a total we do not trust is not shown
        return None
    nodes = all(alert.finding.provider == "eflo" for alert in firing)
    return Share(failed=len(failed), targeted=targeted, nodes=nodes)
