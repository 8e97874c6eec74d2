"""The error-code catalogue explains every code the API references list, and degrades well."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lib.core.catalogue import CATALOGUE, EXIT_CODE_NONZERO, classify, known_codes
from lib.core.findings import Kind

SEEDS = Path(__file__).parents[2] / "shared" / "seeds"

# Which references describe which kind of execution (see shared/seeds and DESIGN).
SEED_KINDS: dict[str, Kind] = {
    "000": "file",  # ECS DescribeSendFileResults, zh
    "001": "file",  # ECS DescribeSendFileResults, en
    "002": "file",  # eflo DescribeSendFileResults
    "003": "command",  # ECS DescribeInvocations
    "004": "command",  # ECS DescribeInvocationResults (its ErrorCode list is cut short)
}

# A field header in any of the references' layouts: "ErrorCodestring", "ErrorCode String …",
# "ErrorCode | String | …", "InstanceIdstring", "Tagsarray<object>".
_FIELD_HEADER = re.compile(
    r"^\s*(?:\|\s*)?([A-Z][A-Za-z]+)\s*\|?\s*"
    r"(?:string|String|integer|Integer|long|Long|boolean|Boolean|array|Array|object)\b"
)
_CODE_ITEM = re.compile(r"\b([A-Z][a-z]+(?:[A-Z][a-z]*)+)\s*[::]")
_SAMPLE_CODE = re.compile(r'"ErrorCode"\s*:\s*"([^"]*)"')


def error_codes_in(text: str) -> set[str]:
    """Every ErrorCode value a reference lists: the ErrorCode field's "Code: meaning" items
    up to the next field, plus the codes its sample responses show."""
    codes: set[str] = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        header = _FIELD_HEADER.match(line)
        if not header or header.group(1) != "ErrorCode":
            continue
        for following in [line[header.end() :], *lines[i + 1 :]]:
            next_header = _FIELD_HEADER.match(following)
            if next_header and next_header.group(1) != "ErrorCode":
                break
            if following.strip() in ("示例", "Examples", "Sample requests"):
                break
            codes.update(_CODE_ITEM.findall(following))
    codes.update(code for code in _SAMPLE_CODE.findall(text) if code)
    return codes


def seed_texts() -> dict[str, str]:
    if not SEEDS.is_dir():
        pytest.skip(f"the API references are not checked out next to the repo ({SEEDS})")
    return {path.name[:3]: path.read_text(encoding="utf-8") for path in SEEDS.glob("*.txt")}


def test_the_seed_extraction_finds_the_codes_each_reference_is_known_to_list():
    """GIVEN the references WHEN codes are extracted THEN well-known ones are found in each
    (so the completeness test below cannot pass by extracting nothing)."""
    texts = seed_texts()
    assert {"ClientNotRunning", "ExitCodeNonzero", "SecurityGroupRuleDenied"} <= error_codes_in(
        texts["003"]
    )
    for seed in ("000", "001"):
        assert {"FileAlreadyExists", "UserGroupNotExists", "InstanceNotExists"} <= (
            error_codes_in(texts[seed])
        )
    assert {"NodeNotExists", "FileAuthorityInvalid"} <= error_codes_in(texts["002"])
    assert "ExitCodeNonzero" in error_codes_in(texts["004"])
    # Status values and the null marker are not codes.
    assert not {"Pending", "Running", "Success", "Null"} & error_codes_in(texts["003"])


def test_every_error_code_in_the_references_is_in_the_catalogue():
    """GIVEN the API references WHEN their ErrorCode lists are re-read THEN the catalogue
    explains every code for the kind of execution the reference is about."""
    missing: dict[str, set[str]] = {}
    for seed, text in seed_texts().items():
        kind = SEED_KINDS.get(seed)
        if kind is None:
            continue
        absent = error_codes_in(text) - known_codes(kind)
        if absent:
            missing[seed] = absent
    assert missing == {}


@pytest.mark.parametrize("kind", ["command", "file"])
def test_every_entry_has_chinese_and_english_text_and_a_hint(kind: Kind):
    for code, entry in CATALOGUE[kind].items():
        assert entry.code == code
        assert entry.category in {"agent", "instance", "command", "file", "timeout"}
        assert all(
            text.strip()
            for text in (entry.explanation_zh, entry.explanation_en, entry.hint_zh, entry.hint_en)
        ), code
        assert re.search(r"[\u4e00-\u9fff]", entry.explanation_zh), code


def test_a_known_code_is_explained_in_the_words_of_its_kind():
    """GIVEN DeliveryTimeout WHEN it is a command or a file THEN each text says which."""
    command = classify(
        status="Aborted", error_code="DeliveryTimeout", exit_code=None, kind="command"
    )
    file = classify(status="Aborted", error_code="DeliveryTimeout", exit_code=None, kind="file")
    assert "命令" in command.explanation_zh
    assert "文件" in file.explanation_zh
    assert command.category == file.category == "timeout"


def test_agent_codes_are_in_the_agent_category():
    """GIVEN a Client* code WHEN classified THEN its category is agent (alerts fold those)."""
    for kind in ("command", "file"):
        for code in known_codes(kind):
            if code.startswith("Client"):
                entry = classify(status="Failed", error_code=code, exit_code=None, kind=kind)
                assert entry.category == "agent", code


def test_a_failed_command_without_a_code_but_a_nonzero_exit_is_exit_code_nonzero():
    entry = classify(status="Failed", error_code="", exit_code=127, kind="command")
    assert entry.code == EXIT_CODE_NONZERO


def test_a_timeout_with_a_nonzero_exit_is_explained_by_its_status():
    """GIVEN Timeout, no code, exit 137 WHEN classified THEN the status explains it."""
    entry = classify(status="Timeout", error_code=None, exit_code=137, kind="command")
    assert entry.code == "Status.Timeout"
    assert entry.category == "timeout"


@pytest.mark.parametrize(
    ("status", "category"),
    [
        ("Invalid", "command"),
        ("Aborted", "agent"),
        ("Failed", "command"),
        ("Error", "command"),
        ("Timeout", "timeout"),
        ("Cancelled", "cancelled"),
        ("Terminated", "cancelled"),
    ],
)
def test_a_failure_without_an_error_code_is_explained_by_its_status(status: str, category: str):
    for kind in ("command", "file"):
        entry = classify(status=status, error_code=None, exit_code=None, kind=kind)
        assert entry.code == f"Status.{status}"
        assert entry.category == category


def test_an_unknown_code_shows_the_raw_code_and_error_info():
    """GIVEN a code nobody catalogued WHEN classified THEN people still see code and info."""
    entry = classify(
        status="Failed",
        error_code="QuotaExceeded.Brand",
        exit_code=None,
        kind="file",
        error_info="too many files today",
    )
    assert entry.code == "QuotaExceeded.Brand"
    assert entry.category == "unknown"
    for text in (entry.explanation_en, entry.explanation_zh):
        assert "QuotaExceeded.Brand" in text
        assert "too many files today" in text


def test_a_huge_error_info_is_cut_short_in_the_explanation():
    entry = classify(
        status="Failed",
        error_code="Brand.New",
        exit_code=None,
        kind="command",
        error_info="x" * 5000,
    )
    assert len(entry.explanation_en) < 400


def test_an_unknown_status_without_a_code_is_named():
    entry = classify(status="Exploded", error_code=None, exit_code=None, kind="command")
    assert entry.category == "unknown"
    assert "Exploded" in entry.explanation_en


def test_a_command_code_on_a_file_send_still_gets_its_explanation():
    entry = classify(status="Timeout", error_code="ExecutionTimeout", exit_code=None, kind="file")
    assert entry.category == "timeout"
