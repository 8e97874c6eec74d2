"""Routes, grouping and expected exit codes: who hears about what, in how many messages."""

from __future__ import annotations

from lib.core.overrides import Mentions, Overrides
from lib.core.routing import (
    ExpectedExit,
    Matcher,
    Route,
    RoutingTable,
    digest,
    drop_expected,
    group,
    plan,
    route,
)
from tests.factories import make_alert, make_classification, make_finding

CRITICAL = make_classification(code="ClientNotRunning", category="agent", severity="critical")


def test_without_routes_every_receiver_hears_everything_grouped_by_invoke_id() -> None:
    """GIVEN no routing file WHEN 3 alerts of 2 invocations are routed to 2 receivers
    THEN both get all 3, in 2 notifications each."""
    alerts = [
        make_alert(make_finding(instance_id="i-1")),
        make_alert(make_finding(instance_id="i-2")),
        make_alert(make_finding(invoke_id="t-other", instance_id="i-3")),
    ]
    routed = route(alerts, ["dingtalk", "webhook"])
    assert [len(v) for v in routed.values()] == [3, 3]
    assert [len(n.alerts) for n in group("dingtalk", routed["dingtalk"])] == [2, 1]


def test_the_first_matching_route_takes_an_alert_unless_it_continues() -> None:
    """GIVEN prod-critical → oncall (continue), cn-beijing → bj, default → ops
    WHEN routed THEN critical goes to oncall and on to the next match; others by region."""
    table = RoutingTable(
        routes=(
            Route(
                receivers=("oncall",),
                matcher=Matcher(severities=frozenset({"critical"})),
                continue_matching=True,
            ),
            Route(receivers=("bj",), matcher=Matcher(regions=frozenset({"cn-beijing"}))),
        ),
        default_receivers=("ops",),
    )
    critical_bj = make_alert(
        make_finding(region="cn-beijing", instance_id="i-c", classification=CRITICAL)
    )
    plain_bj = make_alert(make_finding(region="cn-beijing", instance_id="i-b"))
    plain_hz = make_alert(make_finding(instance_id="i-h"))
    routed = route([critical_bj, plain_bj, plain_hz], ["oncall", "bj", "ops"], table)
    assert routed == {"oncall": [critical_bj], "bj": [critical_bj, plain_bj], "ops": [plain_hz]}


def test_a_route_matches_command_names_by_glob_source_and_error_code() -> None:
    """GIVEN a route for backup-* commands that exited non-zero on ECS
    WHEN alerts are checked THEN only those match."""
    matcher = Matcher(
        names=("backup-*",),
        sources=frozenset({"ecs.command"}),
        error_codes=frozenset({"ExitCodeNonzero"}),
    )
    assert matcher.matches(make_finding(name="backup-db"))
    assert not matcher.matches(make_finding(name="deploy.sh"))
    assert not matcher.matches(make_finding(name="backup-db", kind="file"))


def test_tag_conditions_use_the_callers_tags_and_fail_when_tags_are_unknown() -> None:
    """GIVEN a route for instances tagged env=prod WHEN tags are known / unknown
    THEN it matches only a prod instance whose tags are known."""
    matcher = Matcher(instance_tags=(("env", "prod"),))
    finding = make_finding(instance_id="i-prod")
    tags = {"i-prod": {"env": "prod"}}
    assert matcher.matches(finding, lambda f: tags.get(f.instance_id, {}))
    assert not matcher.matches(
        make_finding(instance_id="i-dev"), lambda f: tags.get(f.instance_id, {})
    )
    assert not matcher.matches(finding)


def test_send_resolved_off_keeps_resolves_away_from_that_route() -> None:
    """GIVEN a route with send_resolved off WHEN a resolve is routed THEN no one gets it."""
    table = RoutingTable(routes=(Route(receivers=("ops",), send_resolved=False),))
    resolved = make_alert(status="resolved")
    assert route([resolved, make_alert()], ["ops"], table)["ops"] == [make_alert()]


def test_group_by_and_route_overrides_shape_the_notifications() -> None:
    """GIVEN a route grouping by command name that mentions the on-call phone
    WHEN planned THEN one notification per name, each carrying the mention."""
    mention = Overrides(mentions=Mentions(mobiles=("13800138000",)))
    table = RoutingTable(routes=(Route(receivers=("ops",), group_by=("name",), overrides=mention),))
    alerts = [
        make_alert(make_finding(invoke_id=f"t-{n}", instance_id=f"i-{n}", name=name))
        for n, name in enumerate(["a.sh", "a.sh", "b.sh"])
    ]
    planned = plan("ops", alerts, table)
    assert sorted((n.group, len(n.alerts)) for _, n in planned) == [("a.sh", 2), ("b.sh", 1)]
    assert all(overrides == mention for overrides, _ in planned)
    assert len(digest("ops", planned).alerts) == 3


def test_grep_exiting_1_is_not_a_failure_but_grep_timing_out_is() -> None:
    """GIVEN grep's exit code 1 is expected WHEN findings are filtered
    THEN grep exit 1 is dropped; grep exit 2, a timeout, and other commands' 1 stay."""
    rules = [ExpectedExit(codes=frozenset({1}), matcher=Matcher(names=("grep*",)))]
    grep_1 = make_finding(name="grep-errors", exit_code=1)
    grep_2 = make_finding(name="grep-errors", exit_code=2, instance_id="i-2")
    timeout = make_finding(
        name="grep-errors", exit_code=1, error_code="ExecutionTimeout", instance_id="i-3"
    )
    other = make_finding(name="deploy.sh", exit_code=1, instance_id="i-4")
    kept, expected = drop_expected([grep_1, grep_2, timeout, other], rules)
    assert expected == [grep_1]
    assert kept == [grep_2, timeout, other]
