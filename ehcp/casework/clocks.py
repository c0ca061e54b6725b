"""A clock's status as of a date: the two shapes every statutory date takes.

- :func:`time_limit`: a step to be done on or before a due date (PENDING, MET, MISSED or
  NOT_APPLICABLE), excused by the exceptions that apply when the limit is excusable.
- :func:`not_before`: a period the next step must not cut short (the family's 15 days).
"""

from __future__ import annotations

from datetime import date

from ehcp.casework.history import CaseHistory
from ehcp.casework.model import DateStatus, ExceptionInForce, StatutoryDate
from ehcp.casework.rules.exceptions import excuses_la_limit
from ehcp.casework.rules.limits import TimeLimit

__all__ = ["not_before", "time_limit"]


def time_limit(
    history: CaseHistory,
    exceptions: tuple[ExceptionInForce, ...],
    limit: TimeLimit,
    start: date,
    due: date,
    completed_on: date | None,
    *,
    not_applicable: bool = False,
) -> StatutoryDate:
    """A limit to be met on or before ``due``; excusable limits list the exceptions that apply."""
    excusing = (
        tuple(e.exception_id for e in exceptions if excuses_la_limit(e, start, due))
        if limit.excusable
        else ()
    )
    if not_applicable:
        status = DateStatus.NOT_APPLICABLE
    elif completed_on is not None:
        status = DateStatus.MET if completed_on <= due else DateStatus.MISSED
    elif history.as_of > due:
        status = DateStatus.MISSED
    else:
        status = DateStatus.PENDING
    return StatutoryDate(
        name=limit.name,
        due_on=due,
        rule_text=limit.rule_text,
        regulation=limit.regulation,
        status=status,
        completed_on=completed_on,
        excused=bool(excusing),
        exception_ids=excusing,
        clock_started_on=start,
    )


def not_before(
    history: CaseHistory, limit: TimeLimit, start: date, ends: date, next_step_on: date | None
) -> StatutoryDate:
    """A period the next step must not cut short (the family's 15 days to comment)."""
    if next_step_on is not None:
        status = DateStatus.MET if next_step_on > ends else DateStatus.MISSED
    elif history.as_of > ends:
        status = DateStatus.MET
    else:
        status = DateStatus.PENDING
    return StatutoryDate(
        name=limit.name,
        due_on=ends,
        rule_text=limit.rule_text,
        regulation=limit.regulation,
        status=status,
        completed_on=next_step_on,
        excused=False,
        exception_ids=(),
        clock_started_on=start,
    )
