"""Exception grounds: when a time limit need not be met. They excuse; they never move a date.

LA limits (decision to assess reg 5(4), decision not to issue reg 10(4), final plan reg 13(3),
re-assessment reg 27(3)) are excused by the reg 10(4) grounds:

- (a) the LA asked a school or post-16 head teacher/principal for advice in the window that opens
  one week before the first day of a closure of at least 4 continuous weeks and ends one week
  before the institution re-opens (derived from the request's sent date and closure periods);
- (b) the same for an early years provider's SEN lead (derived likewise);
- (c) exceptional personal circumstances of the child, parent or young person (recorded);
- (d) the child, parent or young person absent from the area for at least 4 continuous weeks
  (recorded).

A body's 6 weeks for advice (reg 8(1)) are excused only by reg 8(2)(a)-(c), recorded against
the request: exceptional circumstances, absence of at least 4 continuous weeks during the 6
weeks, or a missed appointment for an examination or test. There is no school-holiday ground
and no ground for a health body with no prior involvement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from ehcp.casework.calendar import ClosurePeriod, closure_window_containing
from ehcp.casework.events import (
    ABSENCE_GROUNDS,
    GROUND_REGULATION,
    AdviceRequested,
    AdviceType,
    ExceptionGround,
)
from ehcp.casework.model import ExceptionInForce

MIN_ABSENCE_DAYS = 28  # "at least 4 continuous weeks", reg 10(4)(d) and 8(2)(b)


def absence_qualifies(
    ground: ExceptionGround, starts_on: date, ends_on: date | None, as_of: date
) -> bool:
    """Absence grounds hold only for 4+ continuous weeks; other grounds always qualify.

    An absence still open on ``as_of`` counts as qualifying (it may yet reach 4 weeks).
    """
    if ground not in ABSENCE_GROUNDS or ends_on is None or ends_on > as_of:
        return True
    return (ends_on - starts_on).days + 1 >= MIN_ABSENCE_DAYS


def derived_closure_exception(
    request: AdviceRequested, closures: Iterable[ClosurePeriod], *, early_years: bool
) -> ExceptionInForce | None:
    """Reg 10(4)(a)/(b): an educational advice request sent in a closure window.

    Args:
        request: the advice request (only EDUCATIONAL requests to a head teacher, principal
            or early years SEN lead count).
        closures: the recipient institution's closure periods (or the LA default).
        early_years: the recipient is an early years provider, giving ground (b) not (a).
    """
    if request.advice_type is not AdviceType.EDUCATIONAL:
        return None
    window = closure_window_containing(closures, request.sent_on)
    if window is None:
        return None
    ground = ExceptionGround.REG_10_4_B if early_years else ExceptionGround.REG_10_4_A
    return ExceptionInForce(
        exception_id=f"derived:{ground.value}:{request.request_id}",
        ground=ground,
        regulation=GROUND_REGULATION[ground],
        starts_on=request.sent_on,
        ends_on=window.closure.reopens_on - timedelta(days=1),
        request_id=request.request_id,
        derived=True,
        qualifies=True,
    )


def overlaps(exception: ExceptionInForce, window_start: date, window_end: date) -> bool:
    """True if a qualifying exception applied on any day from ``window_start`` to ``window_end``."""
    if not exception.qualifies:
        return False
    ends = exception.ends_on if exception.ends_on is not None else date.max
    return exception.starts_on <= window_end and ends >= window_start


def excuses_la_limit(exception: ExceptionInForce, clock_start: date, due_on: date) -> bool:
    """Whether an exception excuses an LA limit running from ``clock_start`` to ``due_on``.

    Derived (a)/(b) grounds count when the request was sent within the clock's run; recorded
    (c)/(d) grounds when they applied at some point during it.
    """
    if exception.ground in (
        ExceptionGround.REG_8_2_A,
        ExceptionGround.REG_8_2_B,
        ExceptionGround.REG_8_2_C,
    ):
        return False
    if exception.derived:
        return clock_start <= exception.starts_on <= due_on
    return overlaps(exception, clock_start, due_on)


def excuses_advice_deadline(
    exception: ExceptionInForce, request_id: str, body_received: date, due_on: date, as_of: date
) -> bool:
    """Whether a reg 8(2) ground excuses one body's 6 weeks (``body_received`` to ``due_on``).

    The ground must be recorded against that request and apply during the 6 weeks. For an
    absence (8(2)(b)) that has ended, at least 4 continuous weeks of it must fall within them.
    """
    if exception.request_id != request_id or exception.ground not in (
        ExceptionGround.REG_8_2_A,
        ExceptionGround.REG_8_2_B,
        ExceptionGround.REG_8_2_C,
    ):
        return False
    if not overlaps(exception, body_received, due_on):
        return False
    if exception.ground is ExceptionGround.REG_8_2_B and exception.ends_on is not None:
        if exception.ends_on > as_of:
            return True  # still running: it may yet reach 4 weeks
        inside = (min(exception.ends_on, due_on) - max(exception.starts_on, body_received)).days + 1
        return inside >= MIN_ABSENCE_DAYS
    return True
