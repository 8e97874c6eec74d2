"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report.

``build_app`` assembles it once per cold start (settings, HTTP client, store, receivers) and
the handler caches it; credentials are never part of the cached app — each run gets them
with its :class:`Invocation`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lib.alerts import Alert, Decision, decide
from lib.errors import AssistwatchError, BadInput, ConfigError, StateError
from lib.findings import Finding
from lib.log import get_logger
from lib.outbox import DeliveryTally, Outbox
from lib.routing import route
from lib.settings import Settings, Source
from lib.triggers import Poll, Targets, Trigger, Watch

if TYPE_CHECKING:
    import httpx

    from lib.aliyun.client import OpenApiClient
    from lib.aliyun.credentials import Credentials
    from lib.aliyun.ratelimit import RateLimiter
    from lib.cloudassist.api import CloudAssistant
    from lib.notify.base import Receiver
    from lib.state.base import StateStore

__all__ = ["App", "Invocation", "RunReport", "build_app"]

ECS_VERSION = "2014-05-26"
SELF_ACCOUNT = "self"
# Records can become visible a little after they finish; re-check this much behind the
# previous pass (claims make the overlap free of duplicates).
WATERMARK_OVERLAP = timedelta(minutes=10)
MAX_OUTPUT_FETCHES = 20  # DescribeInvocationResults calls per run to attach output tails


@dataclass(frozen=True)
class Invocation:
    """What FC hands one invocation: request id, short-lived credentials, region, timeout."""

    request_id: str | None = None
    credentials: Credentials | None = None
    region: str | None = None
    timeout_seconds: float = 600.0


class RunReport(BaseModel):
    """The JSON every run returns (and logs as its summary line)."""

    ok: bool = True
    trigger: str = ""
    request_id: str | None = None
    regions: list[str] = Field(default_factory=list)
    records: int = 0  # execution records examined (instance × invocation)
    findings: int = 0  # failed executions among them
    alerts: int = 0  # alerts decided to tell this run
    baseline: int = 0  # old failures recorded silently on a first run
    known: int = 0  # failures an earlier pass already handled
    claimed: int = 0
    suppressed: int = 0  # already told, or being told by a concurrent run
    messages_sent: int = 0
    alerts_sent: int = 0
    deferred: int = 0  # kept in the outbox for the next run
    redelivered: int = 0  # outbox entries from earlier runs delivered now
    api_calls: int = 0
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    duration_ms: int = 0


@dataclass
class _Pass:
    """Mutable bookkeeping for one run."""

    report: RunReport
    started: datetime
    clients: list[OpenApiClient] = field(default_factory=list)
    assistants: dict[str, CloudAssistant] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    watermarks: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)


class App:
    """One assembled watcher. ``run`` is safe to call again and again (warm FC instances)."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.Client,
        store: StateStore,
        receivers: Mapping[str, Receiver],
        limiter: RateLimiter,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.store = store
        self.receivers = dict(receivers)
        self.limiter = limiter
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.sleep = sleep
        self.log = get_logger()

    # -- the run ---------------------------------------------------------------------------

    def run(self, trigger: Trigger, invocation: Invocation) -> RunReport:
        """Run one pass; raise only retryable errors (after the report is logged)."""
        monotonic = time.monotonic()
        state = _Pass(
            report=RunReport(trigger=_describe(trigger), request_id=invocation.request_id),
            started=self.clock(),
        )
        raised: AssistwatchError | None = None
        try:
            self._run(trigger, invocation, state)
        except AssistwatchError as error:
            state.report.errors.append(str(error))
            raised = error if error.retryable else None
        report = state.report
        report.api_calls = sum(client.calls for client in state.clients)
        report.ok = not report.errors
        report.duration_ms = int((time.monotonic() - monotonic) * 1000)
        summary = report.model_dump(exclude={"request_id"})
        if report.ok:
            self.log.info("run finished", **summary)
        else:
            self.log.error("run finished with errors", **summary)
        if raised is not None:
            raise raised
        return report

    def _run(self, trigger: Trigger, invocation: Invocation, state: _Pass) -> None:
        outbox = Outbox(
            self.store,
            self.receivers,
            owner=invocation.request_id or uuid.uuid4().hex,
            lease_seconds=invocation.timeout_seconds + 60.0,
            clock=lambda: self.clock().timestamp(),
            log=self.log,
        )
        tally = DeliveryTally()
        try:
            outbox.flush_pending(tally)
            if isinstance(trigger, Watch):
                raise BadInput(
                    "watch requests are not supported by this version yet; "
                    "ECS invocations are found by the poll without one"
                )
            credentials = invocation.credentials
            if credentials is None:
                raise ConfigError(
                    "no credentials: FC passes them with each invocation; locally set "
                    "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                )
            if isinstance(trigger, Targets):
                self._targets(trigger, invocation, credentials, state)
            else:
                self._poll(trigger, invocation, credentials, state)
            self._attach_output(state, invocation, credentials)
            routed = route(state.alerts, list(self.receivers))
            won = outbox.claim(routed, tally)
            self._move_watermarks(state)
            outbox.deliver(won, tally)
            pruned = self.store.prune(self.clock().timestamp())
            if pruned:
                state.report.notes.append(f"pruned {pruned} expired state entries")
        finally:
            _merge(state.report, tally)

    # -- finding failures ------------------------------------------------------------------

    def _regions(self, wanted: tuple[str, ...], invocation: Invocation) -> list[str]:
        regions = list(wanted) or list(self.settings.regions)
        if not regions and invocation.region:
            regions = [invocation.region]
        if not regions:
            raise ConfigError(
                "no region to watch: set ASSISTWATCH_REGIONS (e.g. cn-hangzhou) or run on FC"
            )
        return regions

    def _assistant(self, region: str, credentials: Credentials, state: _Pass) -> CloudAssistant:
        """One client per region and run: the run's credentials, the app's connections."""
        if region in state.assistants:
            return state.assistants[region]
        from lib.aliyun.client import OpenApiClient
        from lib.aliyun.endpoints import endpoint_for
        from lib.cloudassist.api import CloudAssistant

        endpoint = self.settings.ecs_endpoint or endpoint_for(
            "ecs", region, vpc=self.settings.vpc_endpoints
        )
        client = OpenApiClient(
            self.http,
            endpoint,
            ECS_VERSION,
            credentials,
            limiter=self.limiter,
            sleep=self.sleep,
        )
        state.clients.append(client)
        state.assistants[region] = CloudAssistant(client, region)
        return state.assistants[region]

    def _poll(
        self, trigger: Poll, invocation: Invocation, credentials: Credentials, state: _Pass
    ) -> None:
        regions = self._regions(trigger.regions, invocation)
        state.report.regions = regions
        sources = list(trigger.sources) or list(self.settings.sources)
        for source in sources:
            if source.startswith("eflo."):
                state.report.notes.append(
                    f"{source}: Lingjun nodes have no API that lists invocations; "
                    "they are watched by invoke id (watch requests), not by this poll"
                )
        for region in regions:
            assistant = self._assistant(region, credentials, state)
            for source in sources:
                if source.startswith("ecs."):
                    self._poll_source(assistant, region, source, trigger, state)

    def _poll_source(
        self,
        assistant: CloudAssistant,
        region: str,
        source: Source,
        trigger: Poll,
        state: _Pass,
    ) -> None:
        name = _watermark_name(SELF_ACCOUNT, region, source, trigger.resource_group_id)
        record = self.store.read(name)
        now = state.started
        baseline_until = _time(record.value.get("baseline_until"))
        told_through = _time(record.value.get("told_through"))
        first_run = record.version is None
        if first_run:
            baseline_until = now - self.settings.lookback
        if trigger.lookback is not None:  # asked by hand: look again this far back
            baseline_until, told_through = now - trigger.lookback, None
        findings = list(self._findings(assistant, region, source, trigger, state))
        decision = decide(
            findings, now=now, baseline_until=baseline_until, told_through=told_through
        )
        self._take(decision, state)
        if first_run and decision.baseline:
            state.report.notes.append(
                f"first run for {region} {source}: {len(decision.baseline)} failure(s) older "
                f"than {self.settings.lookback} recorded as the baseline, not sent"
            )
        if first_run or decision.tell:
            kept = record.value.get("baseline_until") if not first_run else None
            value = {
                "baseline_until": kept or (baseline_until or now).isoformat(),
                "told_through": (now - WATERMARK_OVERLAP).isoformat(),
            }
            state.watermarks.append((name, value, record.version))

    def _findings(
        self,
        assistant: CloudAssistant,
        region: str,
        source: Source,
        trigger: Poll,
        state: _Pass,
    ) -> Iterator[Finding]:
        from lib.findings import findings_from_invocation, findings_from_send_file

        include_cancelled = self.settings.include_cancelled
        if source == "ecs.command":
            for page in assistant.invocation_pages(resource_group_id=trigger.resource_group_id):
                for invocation in page.invocations:
                    state.report.records += len(invocation.invoke_instances) or 1
                    yield from findings_from_invocation(
                        invocation,
                        account=SELF_ACCOUNT,
                        region=region,
                        include_cancelled=include_cancelled,
                    )
        elif source == "ecs.file":
            for file_page in assistant.send_file_result_pages(
                resource_group_id=trigger.resource_group_id
            ):
                for sent in file_page.invocations:
                    state.report.records += len(sent.invoke_instances) or 1
                    yield from findings_from_send_file(
                        sent,
                        account=SELF_ACCOUNT,
                        region=region,
                        include_cancelled=include_cancelled,
                    )

    def _targets(
        self, trigger: Targets, invocation: Invocation, credentials: Credentials, state: _Pass
    ) -> None:
        from lib.findings import findings_from_invocation

        region = self._regions((trigger.region,) if trigger.region else (), invocation)[0]
        state.report.regions = [region]
        assistant = self._assistant(region, credentials, state)
        findings: list[Finding] = []
        for target in trigger.targets:
            wanted = set(target.instance_ids)
            for page in assistant.invocation_pages(invoke_id=target.invoke_id):
                for found in page.invocations:
                    state.report.records += len(found.invoke_instances) or 1
                    findings.extend(
                        finding
                        for finding in findings_from_invocation(
                            found,
                            account=SELF_ACCOUNT,
                            region=region,
                            include_cancelled=self.settings.include_cancelled,
                        )
                        if not wanted or finding.instance_id in wanted
                    )
        decision = decide(findings, now=state.started, baseline_until=None, told_through=None)
        self._take(decision, state)

    def _take(self, decision: Decision, state: _Pass) -> None:
        state.report.findings += len(decision.tell) + len(decision.baseline) + len(decision.known)
        state.report.baseline += len(decision.baseline)
        state.report.known += len(decision.known)
        state.report.alerts += len(decision.tell)
        state.alerts.extend(decision.tell)

    def _attach_output(
        self, state: _Pass, invocation: Invocation, credentials: Credentials
    ) -> None:
        """Fetch the output tail of failed commands (list calls cannot include it)."""
        from lib.findings import bounded_output

        if not self.settings.show_output or not state.alerts:
            return
        wanted: dict[tuple[str, str], list[int]] = {}
        for index, alert in enumerate(state.alerts):
            finding = alert.finding
            if finding.kind == "command" and finding.output is None:
                wanted.setdefault((finding.region, finding.invoke_id), []).append(index)
        for count, ((region, invoke_id), indexes) in enumerate(wanted.items()):
            if count >= MAX_OUTPUT_FETCHES:
                state.report.notes.append(
                    f"output fetched for {MAX_OUTPUT_FETCHES} invocations only; "
                    f"{len(wanted) - MAX_OUTPUT_FETCHES} shown without output"
                )
                return
            assistant = self._assistant(region, credentials, state)
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

    # -- state -----------------------------------------------------------------------------

    def _move_watermarks(self, state: _Pass) -> None:
        """After this pass's alerts are claimed: never before, so a crash loses nothing."""
        for name, value, version in state.watermarks:
            self._write_watermark(name, value, version)

    def _write_watermark(self, name: str, value: dict[str, Any], version: str | None) -> None:
        """Write with a version check; on conflict keep the later of the two watermarks."""
        for _attempt in range(5):
            if self.store.write(name, value, version):
                return
            current = self.store.read(name)
            theirs_told = _time(current.value.get("told_through"))
            mine_told = _time(value.get("told_through"))
            told = max((t for t in (mine_told, theirs_told) if t), default=None)
            value = {
                "baseline_until": current.value.get("baseline_until", value["baseline_until"]),
                "told_through": told.isoformat() if told else value["told_through"],
            }
            version = current.version
        raise StateError(f"watermark {name} kept changing under five attempts to move it")


def _merge(report: RunReport, tally: DeliveryTally) -> None:
    report.claimed = tally.claimed
    report.suppressed = tally.suppressed
    report.messages_sent = tally.messages_sent
    report.alerts_sent = tally.alerts_sent
    report.deferred = tally.deferred
    report.redelivered = tally.redelivered
    report.errors.extend(tally.errors)


def _watermark_name(account: str, region: str, source: str, group: str | None) -> str:
    return f"watermark/{account}/{region}/{source}/{group or '*'}"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _describe(trigger: Trigger) -> str:
    if isinstance(trigger, Poll):
        return f"poll ({trigger.origin})"
    if isinstance(trigger, Targets):
        return f"event ({len(trigger.targets)} invocation(s))"
    return f"watch ({len(trigger.invoke_ids)} invocation(s))"


def build_app(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    store: StateStore | None = None,
    clock: Callable[[], datetime] | None = None,
    receivers: Mapping[str, Receiver] | None = None,
    sleep: Callable[[float], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> App:
    """Assemble the watcher once; every seam can be injected (tests, demo, benchmarks)."""
    import httpx

    from lib.aliyun.ratelimit import RateLimiter
    from lib.receivers import build_receivers
    from lib.state import open_store

    http = httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
    chosen_store = store or open_store(settings.state_url, environ=environ)
    chosen_receivers = receivers if receivers is not None else build_receivers(settings, http=http)
    return App(
        settings,
        http=http,
        store=chosen_store,
        receivers=chosen_receivers,
        limiter=RateLimiter(settings.api_qps),
        clock=clock,
        sleep=sleep,
    )
