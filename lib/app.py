"""The pass: trigger → Cloud Assistant → findings → alerts → outbox → receivers → report.

``build_app`` assembles it once per cold start (settings, HTTP client, store, receivers) and
the handler caches it; credentials are never part of the cached app — each run gets them
with its :class:`Invocation`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from lib.alerts import (
    AgentTrack,
    Alert,
    Decision,
    decide,
    fold_agent_faults,
    is_agent_fault,
    resolve_agents,
)
from lib.errors import AssistwatchError, BadInput, ConfigError, StateError
from lib.findings import Finding
from lib.log import get_logger
from lib.outbox import DeliveryTally, Outbox
from lib.routing import route
from lib.settings import Settings, Source
from lib.state.base import Record
from lib.triggers import Poll, Targets, Trigger, Watch

if TYPE_CHECKING:
    import httpx

    from lib.aliyun.client import OpenApiClient
    from lib.aliyun.credentials import Credentials, CurrentCredentials
    from lib.aliyun.ratelimit import RateLimiter
    from lib.cloudassist.api import CloudAssistant
    from lib.health import HealthReporter
    from lib.notify.base import Receiver
    from lib.poll import PollState
    from lib.routing import ExpectedExit, RoutingTable
    from lib.state.base import StateStore

__all__ = ["App", "Invocation", "RunReport", "build_app"]

ECS_VERSION = "2014-05-26"
SELF_ACCOUNT = "self"
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
    silenced: int = 0  # muted by a silence
    expected: int = 0  # exits the routing file expects (not failures)
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
    deadline: float = float("inf")  # time.monotonic() by which a long pass stops paging
    clients: list[OpenApiClient] = field(default_factory=list)
    assistants: dict[str, CloudAssistant] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)  # decided, not yet claimed
    any_told: bool = False
    outbox: Outbox | None = None
    tally: DeliveryTally = field(default_factory=DeliveryTally)
    won: dict[str, list[Alert]] = field(default_factory=dict)  # claimed by this run, to send
    # (record name, state read, state to write, version read): written after the claims
    writes: list[tuple[str, PollState, PollState, str | None]] = field(default_factory=list)
    map_writes: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = field(
        default_factory=list
    )

    def deadline_reached(self) -> bool:
        """True when a long pass must stop paging to claim and send within the timeout."""
        return time.monotonic() > self.deadline


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
        current_credentials: CurrentCredentials | None = None,
        table: RoutingTable | None = None,
        expected: tuple[ExpectedExit, ...] = (),
        health: HealthReporter | None = None,
    ) -> None:
        self.settings = settings
        self.current_credentials = current_credentials
        self.table = table
        self.expected = expected
        self.health = health
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
        if self.current_credentials is not None:
            self.current_credentials.set(invocation.credentials)
        failures: list[BaseException] = []
        try:
            self._run(trigger, invocation, state)
        except AssistwatchError as error:
            state.report.errors.append(str(error))
            failures.append(error)
            raised = error if error.retryable else None
        if self.health is not None:
            self.health.observe([*failures, *state.tally.failures])
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
        state.outbox = Outbox(
            self.store,
            self.receivers,
            owner=invocation.request_id or uuid.uuid4().hex,
            lease_seconds=invocation.timeout_seconds + 60.0,
            clock=lambda: self.clock().timestamp(),
            log=self.log,
            table=self.table,
        )
        # Leave a fifth of the timeout (at least 20 s) to claim, send and write state.
        budget = invocation.timeout_seconds - max(20.0, invocation.timeout_seconds / 5)
        state.deadline = time.monotonic() + max(budget, 1.0)
        try:
            state.outbox.flush_pending(state.tally)
            if isinstance(trigger, Watch):
                raise BadInput(
                    "watch requests are not supported by this version yet; "
                    "ECS invocations are found by the poll without one"
                )
            credentials = invocation.credentials
            if credentials is None:
                raise ConfigError(
                    "this invocation carries no credentials (FC passes them with each invocation); locally set "
                    "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                )
            if isinstance(trigger, Targets):
                self._targets(trigger, invocation, credentials, state)
            else:
                self._poll(trigger, invocation, credentials, state)
            self._attach_output(state, invocation, credentials)
            self._claim(state)
            self._move_states(state)
            state.outbox.deliver(state.won, state.tally)
            pruned = self.store.prune(self.clock().timestamp())
            if pruned:
                state.report.notes.append(f"pruned {pruned} expired state entries")
        finally:
            _merge(state.report, state.tally)

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
            agent_faults: list[Finding] = []
            for source in sources:
                if source.startswith("ecs."):
                    agent_faults += self._poll_source(assistant, source, trigger, state)
            self._agents(assistant, agent_faults, state)

    def _poll_source(
        self, assistant: CloudAssistant, source: Source, trigger: Poll, state: _Pass
    ) -> list[Finding]:
        """Poll one source of one region; return its agent faults (folded per region)."""
        from lib.poll import OVERLAP, PollState, SourcePoll

        name = _poll_name(SELF_ACCOUNT, assistant.region, source, trigger.resource_group_id)
        record = self.store.read(name)
        old = _load(PollState, record, name, state)
        first_run = record.version is None
        now = state.started
        agent_faults: list[Finding] = []
        windows: dict[str, datetime | None] = {}

        def tell(found: list[Finding], periodic: list[Alert]) -> None:
            decision = decide(self._unexpected(found, state), now=now, **windows)
            self._count(decision, state)
            agent_faults.extend(a.finding for a in decision.tell if is_agent_fault(a.finding))
            alerts = [a for a in decision.tell if not is_agent_fault(a.finding)] + periodic
            state.report.alerts += len(alerts)
            state.alerts.extend(alerts)
            state.any_told = state.any_told or bool(alerts)

        def checkpoint(found: list[Finding]) -> None:  # a long pass: claim what it has so far
            tell(found, [])
            self._claim(state)

        poller = SourcePoll(
            assistant,
            account=SELF_ACCOUNT,
            source=source,
            resource_group_id=trigger.resource_group_id,
            include_cancelled=self.settings.include_cancelled,
            log=self.log,
            deadline_reached=state.deadline_reached,
            checkpoint=checkpoint,
        )
        windows.update(baseline_until=now - self.settings.lookback, told_through=old.told_through)
        if old.baseline_until is not None:
            windows["baseline_until"] = old.baseline_until
        if trigger.lookback is not None:  # asked by hand: look again this far back
            windows.update(baseline_until=now - trigger.lookback, told_through=None)
        before, baseline_before = len(state.alerts), state.report.baseline
        result, new = poller.run(old, now=now, lookback=self.settings.lookback)
        state.report.records += result.records
        state.report.notes.extend(result.notes)
        tell(result.findings, result.alerts)
        baseline = state.report.baseline - baseline_before
        if first_run and baseline:
            state.report.notes.append(
                f"first run for {assistant.region} {source}: {baseline} failure(s) "
                f"older than {self.settings.lookback} recorded as the baseline, not sent"
            )
        if result.complete and (first_run or len(state.alerts) > before or agent_faults):
            new.told_through = now - OVERLAP
        if first_run or new != old:
            state.writes.append((name, old, new, record.version))
        return agent_faults

    def _agents(self, assistant: CloudAssistant, faults: list[Finding], state: _Pass) -> None:
        """Fold agent faults into one alert per instance; resolve those whose agent is back."""
        from lib.cloudassist.api import MAX_AGENT_IDS

        name = f"agents/{SELF_ACCOUNT}/{assistant.region}"
        record = self.store.read(name)
        tracks = {
            instance: _load(AgentTrack, Record(value=value, version=record.version), name, state)
            for instance, value in record.value.get("instances", {}).items()
        }
        were_open = sorted(instance for instance, track in tracks.items() if track.open)
        folded, fired = fold_agent_faults(tracks, faults, now=state.started)
        healthy: dict[str, bool] = {}
        for start in range(0, len(were_open), MAX_AGENT_IDS):
            for page in assistant.agent_status_pages(were_open[start : start + MAX_AGENT_IDS]):
                for status in page.instance_cloud_assistant_status_set:
                    healthy[status.instance_id] = status.healthy
        settled, resolved = resolve_agents(folded, healthy, now=state.started)
        state.alerts.extend(fired + resolved)
        state.report.alerts += len(fired) + len(resolved)
        if settled != tracks:
            dump = {instance: track.model_dump(mode="json") for instance, track in settled.items()}
            base = {instance: track.model_dump(mode="json") for instance, track in tracks.items()}
            state.map_writes.append((name, base, dump, record.version))

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
        decision = decide(
            self._unexpected(findings, state),
            now=state.started,
            baseline_until=None,
            told_through=None,
        )
        self._count(decision, state)
        told = [a for a in decision.tell if not is_agent_fault(a.finding)]
        state.report.alerts += len(told)
        state.alerts.extend(told)
        # Agent faults fold exactly as a poll folds them, so event and poll agree.
        self._agents(
            assistant, [a.finding for a in decision.tell if is_agent_fault(a.finding)], state
        )

    def _unexpected(self, findings: list[Finding], state: _Pass) -> list[Finding]:
        """Drop exits the routing file says are expected (e.g. grep's 1): not failures."""
        if not self.expected:
            return findings
        from lib.routing import drop_expected

        kept, expected = drop_expected(findings, self.expected)
        if expected:
            state.report.expected += len(expected)
        return kept

    def _count(self, decision: Decision, state: _Pass) -> None:
        state.report.findings += len(decision.tell) + len(decision.baseline) + len(decision.known)
        state.report.baseline += len(decision.baseline)
        state.report.known += len(decision.known)

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

    def _claim(self, state: _Pass) -> None:
        """Claim every alert decided so far (for every receiver it is routed to)."""
        if state.outbox is None or not state.alerts:
            return
        from lib.silences import apply_silences, list_silences

        now = self.clock().timestamp()
        told, muted = apply_silences(state.alerts, list_silences(self.store, now), now)
        if muted:
            state.report.silenced += len(muted)
            reasons = sorted({silence.reason or silence.id for _, silence in muted})
            state.report.notes.append(f"{len(muted)} alert(s) silenced ({'; '.join(reasons)})")
        routed = route(told, list(self.receivers), self.table)
        for receiver, won in state.outbox.claim(routed, state.tally).items():
            state.won.setdefault(receiver, []).extend(won)
        state.alerts = []

    def _move_states(self, state: _Pass) -> None:
        """After this pass's alerts are claimed, never before: a crash loses nothing."""
        from lib.poll import PollState, merge_maps, merge_poll_states

        def load_poll(record: Record) -> PollState:
            return _load(PollState, record, "poll state", state)

        for name, base, new, version in state.writes:
            self._write_merged(
                name,
                base,
                new,
                version,
                encode=lambda poll: poll.model_dump(mode="json"),
                decode=load_poll,
                merge=merge_poll_states,
            )
        for name, base_map, new_map, version in state.map_writes:
            self._write_merged(
                name,
                base_map,
                new_map,
                version,
                encode=lambda instances: {"instances": instances},
                decode=lambda record: dict(record.value.get("instances", {})),
                merge=merge_maps,
            )

    def _write_merged(
        self,
        name: str,
        base: _T,
        new: _T,
        version: str | None,
        *,
        encode: Callable[[_T], dict[str, Any]],
        decode: Callable[[Record], _T],
        merge: Callable[[_T, _T, _T], _T],
    ) -> None:
        """Write with a version check; when a concurrent run wrote first, merge and retry."""
        for _attempt in range(5):
            if self.store.write(name, encode(new), version):
                return
            current = self.store.read(name)
            theirs = decode(current)
            new = merge(base, new, theirs)
            base, version = theirs, current.version
        raise StateError(f"{name} kept changing under five attempts to update it")


def _merge(report: RunReport, tally: DeliveryTally) -> None:
    report.claimed = tally.claimed
    report.suppressed = tally.suppressed
    report.messages_sent = tally.messages_sent
    report.alerts_sent = tally.alerts_sent
    report.deferred = tally.deferred
    report.redelivered = tally.redelivered
    report.errors.extend(tally.errors)
    report.notes.extend(tally.notes)


def _poll_name(account: str, region: str, source: str, group: str | None) -> str:
    """The poll state's record: keyed by the whole filter (DESIGN "State protocol")."""
    return f"poll/{account}/{region}/{source}/{group or '*'}"


_Model = TypeVar("_Model", bound=BaseModel)
_T = TypeVar("_T")


def _load(model: type[_Model], record: Record, name: str, state: _Pass) -> _Model:
    """Parse a stored record; an unreadable one starts afresh, said in the report."""
    try:
        return model.model_validate(record.value)
    except ValidationError:
        state.report.errors.append(f"state record {name} was unreadable and starts afresh")
        return model()


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

    from lib.aliyun.credentials import CurrentCredentials
    from lib.aliyun.ratelimit import RateLimiter
    from lib.receivers import build_delivery
    from lib.state import open_store

    env = os.environ if environ is None else environ
    http = httpx.Client(transport=transport, timeout=httpx.Timeout(10.0, connect=5.0))
    current = CurrentCredentials()
    chosen_store = store or open_store(
        settings.state_url,
        environ=env,
        namespace=settings.namespace or env.get("FC_FUNCTION_NAME") or "default",
        credentials=current,
        endpoint=settings.ots_endpoint or settings.oss_endpoint,
        region=env.get("FC_REGION") or next(iter(settings.regions), None),
    )
    delivery = build_delivery(settings, http=http, environ=env, sleep=sleep)
    chosen_receivers = receivers if receivers is not None else delivery.receivers
    health = None
    if delivery.fallback is not None and delivery.fallback in chosen_receivers:
        from lib.health import HealthReporter

        health = HealthReporter(
            chosen_receivers[delivery.fallback],
            store=chosen_store,
            clock=(lambda: clock().timestamp()) if clock else None,
            log=get_logger(),
        )
    return App(
        settings,
        http=http,
        store=chosen_store,
        receivers=chosen_receivers,
        limiter=RateLimiter(settings.api_qps),
        clock=clock,
        sleep=sleep,
        current_credentials=current,
        table=delivery.table,
        expected=delivery.expected,
        health=health,
    )
