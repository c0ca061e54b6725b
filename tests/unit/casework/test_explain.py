"""Explaining an assessment: JSON keys, text, and the ``explain`` click command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner

from cli.casework_cmd import explain
from ehcp.casework.engine import evaluate
from ehcp.casework.explain import render_text, to_json
from ehcp.casework.jsonl import parse_lines
from ehcp.casework.model import CaseAssessment

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "case-summer-closure.jsonl"
TOP_KEYS = {
    "format_version",
    "case_id",
    "as_of",
    "stage",
    "received_on",
    "next_alert_due_on",
    "timeliness",
    "statutory_dates",
    "advice",
    "exceptions",
    "alerts",
    "facts",
    "sen_support",
    "care",
    "delegations",
}


def _assessment() -> CaseAssessment:
    events = parse_lines(EXAMPLE.read_text(encoding="utf-8").splitlines())
    return evaluate(events, date(2025, 8, 7))


def test_to_json_has_stable_keys_and_is_serialisable() -> None:
    """to_json returns the documented top-level keys and survives json.dumps."""
    data = to_json(_assessment())
    assert set(data) == TOP_KEYS
    assert json.loads(json.dumps(data)) == data
    assert data["stage"] == "ASSESSING"
    assert data["exceptions"][0]["ground"] == "REG_10_4_A"


def test_render_text_names_regulations() -> None:
    """The text explanation states each date with its regulation and the alerts."""
    text = render_text(_assessment())
    assert "final_plan_due" in text
    assert "reg 13(2)" in text
    assert "ADVICE_OVERDUE" in text


def test_cli_explain_text_and_json() -> None:
    """`explain EVENTS_FILE --as-of DATE [--json]` prints the assessment."""
    runner = CliRunner()
    text = runner.invoke(explain, [str(EXAMPLE), "--as-of", "2025-08-07"])
    assert text.exit_code == 0, text.output
    assert "Stage: assessing" in text.output
    as_json = runner.invoke(explain, [str(EXAMPLE), "--as-of", "2025-08-07", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["as_of"] == "2025-08-07"


def test_cli_requires_as_of_and_reports_bad_lines(tmp_path: Path) -> None:
    """Without --as-of the command fails; a bad line gives a clear error, not a traceback."""
    runner = CliRunner()
    assert runner.invoke(explain, [str(EXAMPLE)]).exit_code != 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "Nope"}\n', encoding="utf-8")
    result = runner.invoke(explain, [str(bad), "--as-of", "2025-08-07"])
    assert result.exit_code == 1
    assert "line 1" in result.output
