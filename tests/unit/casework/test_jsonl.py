"""The JSON-lines event format: parse, dump, round-trip and clear errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ehcp.casework.events import AdviceRequested, AdviceType, RequestForAssessmentReceived
from ehcp.casework.jsonl import dumps, parse_lines
from ehcp.errors import ValidationError

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "case-summer-closure.jsonl"

GOOD = (
    '{"type": "AdviceRequested", "event_id": "ev-1", "case_id": "C-1", "request_id": "R-1", '
    '"advice_type": "MEDICAL", "agency_id": "ICB-1", "sent_on": "2025-06-23"}'
)


def test_parse_advice_requested() -> None:
    """A line becomes the named frozen event with ISO dates and enum names converted."""
    [event] = parse_lines([GOOD])
    assert event == AdviceRequested(
        event_id="ev-1",
        case_id="C-1",
        request_id="R-1",
        advice_type=AdviceType.MEDICAL,
        agency_id="ICB-1",
        sent_on=date(2025, 6, 23),
    )


def test_example_file_round_trips() -> None:
    """The documented example parses, and dumping then parsing gives the same events."""
    events = parse_lines(EXAMPLE.read_text(encoding="utf-8").splitlines())
    assert len(events) == 10
    assert isinstance(events[0], RequestForAssessmentReceived)
    assert parse_lines(dumps(events).splitlines()) == events


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"type": "AdviceAsked"}', "line 2: field 'type': unknown event type 'AdviceAsked'"),
        (
            GOOD.replace('"MEDICAL"', '"DENTAL"'),
            "line 2: AdviceRequested: field 'advice_type' must be one of",
        ),
        (
            GOOD.replace('"2025-06-23"', '"23/06/2025"'),
            "line 2: AdviceRequested: field 'sent_on' must be an ISO date",
        ),
        (
            GOOD.replace('"agency_id": "ICB-1", ', ""),
            "line 2: AdviceRequested: field 'agency_id' is required",
        ),
        (
            GOOD.replace('"R-1"', "7"),
            "line 2: AdviceRequested: field 'request_id' must be a string",
        ),
        (GOOD.replace('"sent_on"', '"sent"'), "line 2: AdviceRequested: unknown field 'sent'"),
        ("[1, 2]", "line 2: an event must be a JSON object"),
    ],
)
def test_bad_lines_name_line_and_field(line: str, message: str) -> None:
    """Bad input raises ValidationError naming the line number and the field."""
    with pytest.raises(ValidationError) as caught:
        parse_lines(["# comment line", line])
    assert str(caught.value).startswith(message)


def test_naive_datetime_is_refused() -> None:
    """A received_at without a UTC offset is refused: the receipt rule needs a real moment."""
    line = json.dumps(
        {
            "type": "RequestForAssessmentReceived",
            "event_id": "e",
            "case_id": "c",
            "received_at": "2025-05-12T16:20:00",
            "date_of_birth": "2014-03-09",
            "year_group": 6,
        }
    )
    with pytest.raises(ValidationError, match="received_at"):
        parse_lines([line])


def test_domain_refusal_becomes_validation_error() -> None:
    """A reg 6(4) reuse of the family's own advice is reported as a ValidationError on its line."""
    line = json.dumps(
        {
            "type": "AdviceReused",
            "event_id": "e",
            "case_id": "c",
            "reuse_id": "r",
            "advice_type": "PARENT_OR_YOUNG_PERSON",
            "source_contribution_id": "x",
            "occurred_on": "2025-02-01",
            "author_agreed": True,
            "la_agreed": True,
            "family_agreed": True,
        }
    )
    with pytest.raises(ValidationError, match=r"line 1: AdviceReused: .*6\(1\)\(a\)"):
        parse_lines([line])
