"""The manager overview's SEN2 timeliness: new plans issued within 20 weeks per calendar year,
including and excluding cases where the "20-week exceptions apply" flag is set (issue #9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from ehcp.clock import FixedClock
from ehcp.readmodel import views
from ehcp.readmodel.store import open_engine
from tests import readmodel_records as rr
from tests.workspace_support import seed

CLOCK = FixedClock(datetime(2027, 3, 1, 9, tzinfo=UTC))


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A read model with plans of LA 886 issued in 2026 and 2027, and one of LA 999."""
    engine = open_engine("sqlite://")
    seed(engine,
         *(rr.referral(case, "886") for case in ("A", "B", "C", "D", "E", "F")),
         rr.referral("X", "999"),
         rr.status("A", final_issued=date(2026, 5, 20)),  # on time (due 1 June 2026)
         rr.status("B", final_issued=date(2026, 7, 1), exceptions_apply=True),  # late, excused
         rr.status("C", final_issued=date(2026, 8, 3)),  # late
         rr.status("D", final_issued=date(2027, 1, 4), exceptions_apply=True),
         rr.status("E"),  # no plan yet
         rr.status("F", version=2),  # written before v3: no issue date known
         rr.status("X", final_issued=date(2026, 5, 1)))
    yield engine
    engine.dispose()


def _series(engine: Engine, la: str = "886") -> views.Series:
    return next(s for s in views.overview(engine, la, CLOCK) if s.key == "plans-20-weeks")


def test_plans_are_counted_by_calendar_year_of_issue_both_ways(engine: Engine) -> None:
    """2026: 3 issued, 1 within 20 weeks; excluding the excused case, 2 issued, 1 within."""
    series = _series(engine)
    assert series.columns == views.SEN2_COLUMNS
    assert series.rows == (
        (2026, 3, 1, 33.3, 2, 1, 50.0),
        (2027, 1, 0, 0.0, 0, 0, ""),  # only an excused plan: no figure excluding exceptions
    )


def test_the_chart_shows_both_percentages_and_skips_an_empty_one(engine: Engine) -> None:
    """Bars: each year including and excluding exceptions, none without plans to count."""
    assert _series(engine).chart == (
        ("2026 including exceptions", 33.3), ("2026 excluding exceptions", 50.0),
        ("2027 including exceptions", 0.0))


def test_another_las_plans_are_not_counted(engine: Engine) -> None:
    """LA 999 sees its one plan only."""
    assert _series(engine, "999").rows == ((2026, 1, 1, 100.0, 1, 1, 100.0),)
