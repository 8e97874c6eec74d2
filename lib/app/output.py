"""Output tails: the last lines of failed ECS commands, fetched for the alerts that show them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.app.scopes import scope_for

if TYPE_CHECKING:
    from lib.app.context import Context
    from lib.app.run import Pass

__all__ = ["MAX_OUTPUT_FETCHES", "attach_output"]

MAX_OUTPUT_FETCHES = 20  # DescribeInvocationResults calls per run to attach output tails


def attach_output(app: Context, state: Pass) -> None:
    """Fetch the output tail of failed commands (list calls cannot include it)."""
    from lib.core.findings import bounded_output

    if not app.settings.show_output or not state.alerts:
        return
    wanted: dict[tuple[str, str, str], list[int]] = {}
    for index, alert in enumerate(state.alerts):
        finding = alert.finding
        if finding.kind == "command" and finding.provider == "ecs" and finding.output is None:
            key = (finding.account, finding.region, finding.invoke_id)
            wanted.setdefault(key, []).append(index)
    for count, ((account, region, invoke_id), indexes) in enumerate(wanted.items()):
        if count >= MAX_OUTPUT_FETCHES:
            state.report.notes.append(
                f"output fetched for {MAX_OUTPUT_FETCHES} invocations only; "
                f"{len(wanted) - MAX_OUTPUT_FETCHES} shown without output"
            )
            return
        assistant = scope_for(app, account, region, state).assistant
        outputs = {
            result.instance_id: result
            for page in assistant.invocation_result_pages(invoke_id=invoke_id)
            for result in page.results
        }
        for index in indexes:
            alert = state.alerts[index]
            found = outputs.get(alert.finding.instance_id)
            if found is None or found.output is None:
                continue
            finding = alert.finding.model_copy(
                update={"output": bounded_output(found.output), "dropped": found.dropped}
            )
            state.alerts[index] = alert.model_copy(update={"finding": finding})
