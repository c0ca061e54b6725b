"""Required advice (reg 6) and the body's 6 weeks (reg 8(1))."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ehcp.casework.events import AdviceType
from ehcp.casework.rules import advice

CORE = set(advice.ALWAYS_REQUIRED)


def _required(
    *,
    year_group: int | None = 4,
    vision_impairment: bool = False,
    hearing_impairment: bool = False,
    looked_after: bool = False,
    virtual_school_head_for_looked_after: bool = True,
) -> set[AdviceType]:
    return set(
        advice.required_advice(
            year_group=year_group,
            date_of_birth=date(2016, 5, 14),
            on=date(2025, 3, 1),
            vision_impairment=vision_impairment,
            hearing_impairment=hearing_impairment,
            looked_after=looked_after,
            virtual_school_head_for_looked_after=virtual_school_head_for_looked_after,
        )
    )


@pytest.mark.parametrize(
    ("overrides", "extra"),
    [
        ({}, set()),
        ({"year_group": 8}, set()),
        ({"year_group": 9}, {AdviceType.PREPARATION_FOR_ADULTHOOD}),
        ({"year_group": 12}, {AdviceType.PREPARATION_FOR_ADULTHOOD}),
        ({"hearing_impairment": True}, {AdviceType.VISION_HEARING_SPECIALIST}),
        ({"vision_impairment": True}, {AdviceType.VISION_HEARING_SPECIALIST}),
        ({"looked_after": True}, {AdviceType.VIRTUAL_SCHOOL_HEAD}),
        ({"looked_after": True, "virtual_school_head_for_looked_after": False}, set()),
    ],
)
def test_required_advice_table(overrides: dict[str, Any], extra: set[AdviceType]) -> None:
    """Reg 6(1)(a)-(e) always; 6(1)(g) from year 9; 6(2) for vision/hearing; VSH by policy."""
    assert _required(**overrides) == CORE | extra


@pytest.mark.parametrize(
    ("dob", "on", "group"),
    [
        (date(2012, 1, 10), date(2025, 10, 1), 9),
        (date(2012, 1, 10), date(2025, 7, 1), 8),
        (date(2011, 9, 1), date(2025, 10, 1), 9),  # oldest in the year
        (date(2011, 8, 31), date(2025, 10, 1), 10),  # youngest in the year above
        (date(2021, 5, 1), date(2025, 10, 1), 0),  # reception
    ],
)
def test_year_group_from_birth(dob: date, on: date, group: int) -> None:
    """Without a recorded year group, the usual English year for the child's age is used."""
    assert advice.year_group_from_birth(dob, on) == group


def test_preparation_for_adulthood_without_year_group_uses_age() -> None:
    """A 16-year-old not on a school roll is beyond year 9, so reg 6(1)(g) applies."""
    assert advice.needs_preparation_for_adulthood(None, date(2009, 2, 1), date(2025, 10, 1))
    assert not advice.needs_preparation_for_adulthood(None, date(2015, 2, 1), date(2025, 10, 1))


def test_reuse_never_allowed_for_family_views() -> None:
    """Reg 6(4) reuse cannot replace the parent or young person's own advice (6(1)(a))."""
    assert not advice.reuse_allowed(AdviceType.PARENT_OR_YOUNG_PERSON)
    assert advice.reuse_allowed(AdviceType.PSYCHOLOGICAL)


@pytest.mark.parametrize(
    ("received_by_body", "due"),
    [(date(2025, 6, 25), date(2025, 8, 6)), (date(2025, 12, 22), date(2026, 2, 2))],
)
def test_advice_due_six_weeks_from_body_receipt(received_by_body: date, due: date) -> None:
    """Reg 8(1): advice is due 6 weeks from the date the body received the request."""
    assert advice.advice_due_on(received_by_body) == due


@pytest.mark.parametrize(
    ("recorded", "recorded_on", "on", "expected"),
    [
        (8, date(2025, 3, 1), date(2025, 8, 31), 8),
        (8, date(2025, 3, 1), date(2025, 9, 1), 9),  # moves up on 1 September
        (6, date(2023, 1, 10), date(2025, 10, 1), 9),  # three Septembers later
        (None, date(2025, 3, 1), date(2026, 3, 1), None),
    ],
)
def test_year_group_moves_up_each_september(
    recorded: int | None, recorded_on: date, on: date, expected: int | None
) -> None:
    """A recorded year group advances each 1 September, so reg 6(1)(g) is judged on the current
    year."""
    assert advice.year_group_on(recorded, recorded_on, on) == expected
