"""Test data builders: synthetic cases that read like real ones (no real personal data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from itertools import count
from zoneinfo import ZoneInfo

from ehcp.casework.calendar import Calendar
from ehcp.casework.events import (
    AdviceRequested,
    AdviceSubmitted,
    AdviceType,
    CaseEvent,
    DecisionToAssessMade,
    RequestForAssessmentReceived,
)

CASE = "CASE-TEST-0001"
LONDON = ZoneInfo("Europe/London")
_ids = count(1)

# England and Wales bank holidays from the real library, so worked dates match a real calendar.
REAL_CALENDAR = Calendar()


def next_id(prefix: str = "ev") -> str:
    """A fresh event id."""
    return f"{prefix}-{next(_ids):05d}"


def london(day: date, at: time = time(10, 0)) -> datetime:
    """A London wall-clock moment on ``day``."""
    return datetime.combine(day, at, tzinfo=LONDON)


def request_received(
    on: date,
    *,
    at: time = time(10, 0),
    date_of_birth: date = date(2016, 5, 14),
    year_group: int | None = 4,
    vision: bool = False,
    hearing: bool = False,
    looked_after: bool = False,
    setting_id: str | None = "SCH-100001",
    early_years: bool = False,
    event_id: str | None = None,
) -> RequestForAssessmentReceived:
    """A request for assessment delivered on ``on`` at ``at`` London time."""
    return RequestForAssessmentReceived(
        event_id=event_id or next_id(),
        case_id=CASE,
        received_at=london(on, at),
        date_of_birth=date_of_birth,
        year_group=year_group,
        vision_impairment=vision,
        hearing_impairment=hearing,
        looked_after=looked_after,
        setting_id=setting_id,
        setting_is_early_years=early_years,
    )


def decided(on: date) -> DecisionToAssessMade:
    """The LA decided to assess on ``on``."""
    return DecisionToAssessMade(event_id=next_id(), case_id=CASE, occurred_on=on)


def requested(
    request_id: str,
    advice_type: AdviceType,
    sent_on: date,
    *,
    agency_id: str = "AGENCY-1",
    received_by_body_on: date | None = None,
) -> AdviceRequested:
    """An advice request."""
    return AdviceRequested(
        event_id=next_id(),
        case_id=CASE,
        request_id=request_id,
        advice_type=advice_type,
        agency_id=agency_id,
        sent_on=sent_on,
        received_by_body_on=received_by_body_on,
    )


def submitted(
    contribution_id: str,
    advice_type: AdviceType,
    on: date,
    request_id: str | None = None,
    agency_id: str | None = None,
) -> AdviceSubmitted:
    """Advice submitted."""
    return AdviceSubmitted(
        event_id=next_id(),
        case_id=CASE,
        contribution_id=contribution_id,
        advice_type=advice_type,
        submitted_on=on,
        request_id=request_id,
        agency_id=agency_id,
    )


def all_core_requests(sent_on: date) -> list[CaseEvent]:
    """Requests for every always-required advice (reg 6(1)(a)-(e)), sent on one day."""
    return [
        requested(f"REQ-{t.value}", t, sent_on, received_by_body_on=sent_on)
        for t in (
            AdviceType.PARENT_OR_YOUNG_PERSON,
            AdviceType.EDUCATIONAL,
            AdviceType.MEDICAL,
            AdviceType.PSYCHOLOGICAL,
            AdviceType.SOCIAL_CARE,
        )
    ]


__all__ = ["CASE", "REAL_CALENDAR", "UTC", "london"]
