"""Which advice the LA must seek (reg 6) and when a body must give it (reg 8).

| reg     | advice                                | required when                              |
|---------|---------------------------------------|--------------------------------------------|
| 6(1)(a) | parent or young person                | always                                     |
| 6(1)(b) | educational                           | always                                     |
| 6(1)(c) | medical                               | always                                     |
| 6(1)(d) | psychological                         | always                                     |
| 6(1)(e) | social care                           | always                                     |
| 6(1)(f) | anyone else the LA thinks appropriate | LA discretion (AdditionalAdviceAdded)      |
| 6(1)(g) | preparation for adulthood             | in or beyond year 9                        |
| 6(1)(h) | anyone the family reasonably requests | on request (AdditionalAdviceAdded)         |
| 6(2)    | vision/hearing specialist teacher     | the child has a vision/hearing impairment  |
| policy  | Virtual School Head                   | looked after, if the LA's policy says so   |

Reg 6(4): existing advice may be used instead of a new request when its author, the LA and the
parent or young person all agree it is sufficient; never for 6(1)(a).

Reg 8(1): a body must give advice within 6 weeks of the date it receives the request. The only
exceptions are reg 8(2)(a)-(c); there is none for school holidays or for a body with no prior
involvement.
"""

from __future__ import annotations

from datetime import date

from ehcp.casework.events import AdviceType
from ehcp.casework.rules.dates import add_weeks, age_on

ALWAYS_REQUIRED: tuple[AdviceType, ...] = (
    AdviceType.PARENT_OR_YOUNG_PERSON,  # reg 6(1)(a)
    AdviceType.EDUCATIONAL,  # reg 6(1)(b)
    AdviceType.MEDICAL,  # reg 6(1)(c)
    AdviceType.PSYCHOLOGICAL,  # reg 6(1)(d)
    AdviceType.SOCIAL_CARE,  # reg 6(1)(e)
)
PFA_FROM_YEAR_GROUP = 9  # reg 6(1)(g): "in or beyond year 9"
REUSE_NEVER_ALLOWED = frozenset({AdviceType.PARENT_OR_YOUNG_PERSON})  # reg 6(4)
ADVICE_WEEKS = 6  # reg 8(1)

ADVICE_RULE_TEXT = "A body asked for advice must give it within 6 weeks of receiving the request."
ADVICE_DEADLINE_REGULATION = "reg 8(1); exceptions reg 8(2)(a)-(c)"


def year_group_from_birth(date_of_birth: date, on: date) -> int:
    """The usual national curriculum year for a date of birth (reception = 0).

    A child starts reception in the September after turning 4, so the year group is the age
    on the 31 August that began the school year, minus 4. Used only when no year group was
    recorded.
    """
    year_start = date(on.year if on.month >= 9 else on.year - 1, 8, 31)
    return age_on(date_of_birth, year_start) - 4


def year_group_on(recorded: int | None, recorded_on: date, on: date) -> int | None:
    """The year group on ``on`` for a pupil recorded in ``recorded`` on ``recorded_on``.

    Pupils move up a year each 1 September; used so a re-assessment years after the request
    judges reg 6(1)(g) on the current year, not the one recorded at the start.
    """
    if recorded is None:
        return None
    moves = sum(
        1 for year in range(recorded_on.year, on.year + 1) if recorded_on < date(year, 9, 1) <= on
    )
    return recorded + moves


def needs_preparation_for_adulthood(year_group: int | None, date_of_birth: date, on: date) -> bool:
    """Reg 6(1)(g): advice on preparing for adulthood when in or beyond year 9.

    Uses the recorded year group; if there is none (not at school, or post-school), the usual
    year group for the child's age on ``on``.
    """
    group = year_group if year_group is not None else year_group_from_birth(date_of_birth, on)
    return group >= PFA_FROM_YEAR_GROUP


def required_advice(
    *,
    year_group: int | None,
    date_of_birth: date,
    on: date,
    vision_impairment: bool,
    hearing_impairment: bool,
    looked_after: bool,
    virtual_school_head_for_looked_after: bool,
) -> tuple[AdviceType, ...]:
    """The advice types reg 6 (and the VSH policy) require, besides 6(1)(f)/(h) additions.

    Args:
        year_group: recorded national curriculum year, or None.
        date_of_birth: the child's date of birth.
        on: the date the requirement is judged (the decision to assess).
        vision_impairment: reg 6(2).
        hearing_impairment: reg 6(2).
        looked_after: the child is looked after on ``on``.
        virtual_school_head_for_looked_after: the LA policy switch.
    """
    required = list(ALWAYS_REQUIRED)
    if needs_preparation_for_adulthood(year_group, date_of_birth, on):
        required.append(AdviceType.PREPARATION_FOR_ADULTHOOD)
    if vision_impairment or hearing_impairment:
        required.append(AdviceType.VISION_HEARING_SPECIALIST)
    if looked_after and virtual_school_head_for_looked_after:
        required.append(AdviceType.VIRTUAL_SCHOOL_HEAD)
    return tuple(required)


def reuse_allowed(advice_type: AdviceType) -> bool:
    """Reg 6(4) reuse is never allowed for the parent or young person's own advice, 6(1)(a)."""
    return advice_type not in REUSE_NEVER_ALLOWED


def advice_due_on(received_by_body_on: date) -> date:
    """6 weeks from the date the body received the LA's request (reg 8(1))."""
    return add_weeks(received_by_body_on, ADVICE_WEEKS)
