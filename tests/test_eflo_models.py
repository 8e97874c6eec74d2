"""Lingjun (eflo) file-send answers parse, and their failures are keyed by the id asked for."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lib.core.findings import findings_from_eflo_send_file
from lib.core.records.eflo import EfloSendFileInvocation, EfloSendFileResultsPage

EVENTS = Path(__file__).parent / "events"


def test_eflo_send_file_sample_parses_with_nodes_and_offset_times():
    """GIVEN seed 002's sample (TotalCount as a string, times with +08:00 and a stray
    newline) WHEN parsed THEN nodes, statuses and aware times come out."""
    raw = json.loads((EVENTS / "eflo_describe_send_file_results.json").read_text("utf-8"))
    page = EfloSendFileResultsPage.model_validate(raw)
    assert page.request_id == "4FD06DF0-9167-5C6F-A145-F30CA4A15D54"
    assert page.total_count == 1
    [inv] = page.invocations
    assert inv.invoke_id is None  # the answer does not echo it
    assert (inv.invocation_status, inv.node_count, inv.overwrite) == ("Pending", 3, True)
    assert (inv.name, inv.file_mode, inv.file_owner, inv.file_group) == (
        "test",
        "0644",
        "root",
        "root",
    )
    assert inv.creation_time == datetime(
        2023, 4, 10, 10, 53, 46, 156000, tzinfo=timezone(timedelta(hours=8))
    )
    [node] = inv.invoke_nodes
    assert (node.node_id, node.invocation_status, node.error_code) == (
        "e01-cn-9lb3c15m81j",
        "Success",
        "AccountNotExists",
    )
    assert node.start_time == datetime(2023, 3, 30, 16, 0, tzinfo=timezone.utc)
    # Status decides: the sample's Success node with an ErrorCode is not a finding.
    assert (
        findings_from_eflo_send_file(
            inv, invoke_id="t-asked", account="self", region="cn-wulanchabu"
        )
        == []
    )


def test_a_failed_eflo_node_is_a_file_finding_keyed_by_the_id_asked_for():
    """GIVEN an eflo send that failed on one node with FileAlreadyExists WHEN built with the
    asked invoke id THEN one eflo file finding on that node under that id."""
    inv = EfloSendFileInvocation.model_validate(
        {
            "Name": "hosts",
            "TargetDir": "\t/etc",
            "InvokeNodes": {
                "InvokeNode": [
                    {"NodeId": "e01-a", "InvocationStatus": "Success"},
                    _node("e01-b", "Failed", "FileAlreadyExists"),
                ]
            },
        }
    )
    [finding] = findings_from_eflo_send_file(
        inv, invoke_id="t-asked", account="self", region="cn-wulanchabu"
    )
    assert (finding.provider, finding.kind) == ("eflo", "file")
    assert (finding.invoke_id, finding.instance_id) == ("t-asked", "e01-b")
    assert finding.target_dir == "/etc"
    assert finding.classification.code == "FileAlreadyExists"


def test_eflo_node_codes_are_explained():
    inv = EfloSendFileInvocation.model_validate(
        {"InvokeNodes": {"InvokeNode": [_node("e01-c", "Aborted", "NodeNotRunning")]}}
    )
    [finding] = findings_from_eflo_send_file(inv, invoke_id="t-1", account="self", region="r")
    assert finding.classification.category == "instance"
    assert "灵骏" in finding.classification.explanation_zh


def _node(node_id: str, status: str, code: str) -> dict[str, Any]:
    return {"NodeId": node_id, "InvocationStatus": status, "ErrorCode": code, "ErrorInfo": code}
