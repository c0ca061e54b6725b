"""Local policy: the settings an LA chooses where the law leaves a choice (or is unverified).

Everything here is policy, not statute; the law's own limits live in ``rules/`` and cannot
be configured. See ``docs/casework-rules.md`` for which is which.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ehcp.casework.calendar import Calendar, ClosurePeriod, ReceiptRule
from ehcp.errors import CaseworkError


@dataclass(frozen=True, slots=True)
class Policy:
    """An LA's casework policy.

    Attributes:
        due_soon_days: days before a due date at which "due soon" / "at risk" alerts fire,
            one alert per threshold crossed (default 10 then 5).
        under_five_review_months: review interval for a child under 5, 3 to 6 months
            (CoP 9.178 is guidance: "should consider"); default 6.
        virtual_school_head_for_looked_after: ask the Virtual School Head for advice when the
            child is looked after (policy, not in reg 6); default True.
        receipt_rule: when a delivered request counts as received; default the statutory
            reading (the date it was delivered), with the next-working-day practice opt-in.
        la_default_closures: closure periods for institutions without their own term dates.
        advice_request_grace_days: days after the decision to assess before required advice
            that has not been requested raises ADVICE_NOT_REQUESTED; default 0.
        institution_consultation_days: days a school or college consulted about being named
            in the plan has to reply (CoP 9.79 says it "should" reply within 15 days:
            guidance, so a setting); default 15.
        notional_sen_threshold_pounds: the additional support a mainstream school is expected
            to meet from its notional SEN budget before top-up funding (DfE high needs funding
            guidance, not statute); default 6,000.
    """

    due_soon_days: tuple[int, ...] = (10, 5)
    under_five_review_months: int = 6
    virtual_school_head_for_looked_after: bool = True
    receipt_rule: ReceiptRule = ReceiptRule()  # noqa: RUF009 - frozen, so sharing is safe
    la_default_closures: tuple[ClosurePeriod, ...] = ()
    advice_request_grace_days: int = 0
    institution_consultation_days: int = 15
    notional_sen_threshold_pounds: int = 6000

    def __post_init__(self) -> None:
        if not 3 <= self.under_five_review_months <= 6:
            raise CaseworkError("under_five_review_months must be 3 to 6 (CoP 9.178)")
        if any(d < 0 for d in self.due_soon_days):
            raise CaseworkError("due_soon_days must not be negative")
        if self.notional_sen_threshold_pounds < 0:
            raise CaseworkError("notional_sen_threshold_pounds must not be negative")
        if self.advice_request_grace_days < 0:
            raise CaseworkError("advice_request_grace_days must not be negative")
        if not 1 <= self.institution_consultation_days <= 60:
            raise CaseworkError("institution_consultation_days must be 1 to 60")
        # Sorted largest first so the last threshold is the most urgent.
        object.__setattr__(
            self, "due_soon_days", tuple(sorted(set(self.due_soon_days), reverse=True))
        )

    def calendar(self) -> Calendar:
        """A default calendar (England and Wales bank holidays) with this policy's LA closures.

        Built once per set of closures and shared: a calendar is never changed after it is built
        (``Calendar.with_closures`` returns a new one), and building one set up the bank holidays
        again on every evaluation.
        """
        return _calendar(self.la_default_closures)


@functools.lru_cache(maxsize=64)
def _calendar(la_default_closures: tuple[ClosurePeriod, ...]) -> Calendar:
    return Calendar(la_default_closures=la_default_closures)
