"""The exception grounds of a case: recorded ones (reg 10(4)(c)/(d), reg 8(2)) and derived ones.

Recorded grounds come from ``TimescaleExceptionRecorded`` (ended by ``TimescaleExceptionEnded``).
Reg 10(4)(a)/(b) are derived from each educational advice request's sent date and the recipient
institution's closure periods (or the LA default). See ``rules/exceptions.py`` for the rules.
"""

from __future__ import annotations

from datetime import date

from ehcp.casework.events import (
    GROUND_REGULATION,
    AdviceRequested,
    TimescaleExceptionEnded,
    TimescaleExceptionRecorded,
)
from ehcp.casework.history import CaseHistory
from ehcp.casework.model import ExceptionInForce
from ehcp.casework.rules.exceptions import absence_qualifies, derived_closure_exception
from ehcp.errors import CaseworkError


def case_exceptions(history: CaseHistory) -> tuple[ExceptionInForce, ...]:
    """Every exception ground of the case, recorded or derived, ordered by start date and id.

    Raises:
        CaseworkError: if an exception is ended before it started.
    """
    ended: dict[str, date] = {}
    for end in history.of_kind(TimescaleExceptionEnded):
        ended[end.exception_id] = end.ends_on
    found: dict[str, ExceptionInForce] = {}
    for rec in history.of_kind(TimescaleExceptionRecorded):
        if rec.exception_id in found:
            continue
        ends_on = ended.get(rec.exception_id, rec.ends_on)
        if ends_on is not None and ends_on < rec.starts_on:
            raise CaseworkError(f"exception {rec.exception_id} ends before it starts")
        found[rec.exception_id] = ExceptionInForce(
            exception_id=rec.exception_id,
            ground=rec.ground,
            regulation=GROUND_REGULATION[rec.ground],
            starts_on=rec.starts_on,
            ends_on=ends_on,
            request_id=rec.request_id,
            derived=False,
            qualifies=absence_qualifies(rec.ground, rec.starts_on, ends_on, history.as_of),
        )
    request = history.request
    for req in history.of_kind(AdviceRequested):
        early_years = (
            request is not None
            and request.setting_is_early_years
            and req.agency_id == request.setting_id
        )
        derived = derived_closure_exception(
            req, history.calendar.closures_for(req.agency_id), early_years=early_years
        )
        if derived is not None and derived.exception_id not in found:
            found[derived.exception_id] = derived
    return tuple(sorted(found.values(), key=lambda e: (e.starts_on, e.exception_id)))
