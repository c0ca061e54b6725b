"""Working days, the receipt rule and institution closure periods (pure, no clock).

- Working days are Monday to Friday except England and Wales bank holidays, taken from the
  ``holidays`` package (``holidays.country_holidays("GB", subdiv="ENG")``, the
  ``UnitedKingdom`` class with the England subdivision; England and Wales share
  their bank holidays), not a hand-typed list.
- The receipt rule says on which date a delivered request counts as received. By default it is
  the Regulations' plain reading: the London date the LA received it, whatever the day or time
  (reg 5(1), 10(1), 13(2) count from "receiving the request"). Some LAs and advisers count a
  request delivered after a cut-off time (17:00) or on a non-working day from the next working
  day; that is practice, not statute, so it is an opt-in setting (see :class:`ReceiptRule`).
- Closure periods (term dates) are kept per institution, with an LA default for institutions
  whose own term dates are unknown. They decide the reg 10(4)(a)/(b) exceptions.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from ehcp.errors import CaseworkError

LONDON = "Europe/London"


@dataclass(frozen=True, slots=True)
class ReceiptRule:
    """When a request delivered at a given moment counts as received.

    The default is the statutory reading: the request counts on the local date it was
    delivered, weekends, bank holidays and evenings included. ``enabled=True`` opts in to the
    next-working-day practice (policy, not statute).

    Attributes:
        enabled: apply the cut-off and non-working-day practice; if False (the default) the
            request counts on the local calendar date it was delivered.
        cutoff: with ``enabled``, a request delivered strictly after this local time counts
            from the next working day (17:00:00 itself is still the same day).
        timezone: IANA zone the local date (and the cut-off) is read in.
    """

    enabled: bool = False
    cutoff: time = time(17, 0)
    timezone: str = LONDON


@dataclass(frozen=True, slots=True)
class ClosurePeriod:
    """An institution closed ``first_day`` to ``last_day`` inclusive; re-opens the day after."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise CaseworkError("a closure cannot end before it starts")

    @property
    def reopens_on(self) -> date:
        """The first day the institution is open again."""
        return self.last_day + timedelta(days=1)

    @property
    def length_days(self) -> int:
        """Number of closed calendar days."""
        return (self.last_day - self.first_day).days + 1


class Calendar:
    """Working days and closure periods for one LA.

    Args:
        bank_holidays: dates that are not working days besides weekends. Defaults to England
            and Wales bank holidays from the ``holidays`` package (any year, computed lazily).
        institution_closures: closure periods keyed by the LA's institution id.
        la_default_closures: closure periods used for an institution with none of its own.
    """

    __slots__ = ("_bank_holidays", "_institution_closures", "_la_default_closures")

    def __init__(
        self,
        bank_holidays: Container[date] | None = None,
        *,
        institution_closures: Mapping[str, Iterable[ClosurePeriod]] | None = None,
        la_default_closures: Iterable[ClosurePeriod] = (),
    ) -> None:
        self._bank_holidays: Container[date] = (
            bank_holidays
            if bank_holidays is not None
            else holidays.country_holidays("GB", subdiv="ENG")
        )
        self._institution_closures: dict[str, tuple[ClosurePeriod, ...]] = {
            key: tuple(sorted(periods, key=lambda p: p.first_day))
            for key, periods in (institution_closures or {}).items()
        }
        self._la_default_closures = tuple(sorted(la_default_closures, key=lambda p: p.first_day))

    def with_closures(
        self,
        institution_closures: Mapping[str, Iterable[ClosurePeriod]],
        la_default_closures: Iterable[ClosurePeriod] = (),
    ) -> Calendar:
        """Return a new calendar with extra closure periods added (this one is unchanged)."""
        merged: dict[str, list[ClosurePeriod]] = {
            k: list(v) for k, v in self._institution_closures.items()
        }
        for key, periods in institution_closures.items():
            merged.setdefault(key, []).extend(periods)
        return Calendar(
            self._bank_holidays,
            institution_closures={k: set(v) for k, v in merged.items()},
            la_default_closures=set(self._la_default_closures) | set(la_default_closures),
        )

    def is_working_day(self, day: date) -> bool:
        """True on Monday to Friday unless the day is a bank holiday."""
        return day.weekday() < 5 and day not in self._bank_holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        candidate = day + timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += timedelta(days=1)
        return candidate

    def add_working_days(self, day: date, count: int) -> date:
        """The date ``count`` working days after ``day`` (``count`` >= 0)."""
        if count < 0:
            raise CaseworkError("count must not be negative")
        result = day
        for _ in range(count):
            result = self.next_working_day(result)
        return result

    def receipt_date(self, delivered_at: datetime, rule: ReceiptRule) -> date:
        """The date a request delivered at ``delivered_at`` counts as received.

        Args:
            delivered_at: timezone-aware moment of delivery.
            rule: the receipt rule in force.

        Raises:
            CaseworkError: if ``delivered_at`` is naive.
        """
        if delivered_at.tzinfo is None or delivered_at.utcoffset() is None:
            raise CaseworkError("delivery time must be timezone-aware")
        local = delivered_at.astimezone(ZoneInfo(rule.timezone))
        day = local.date()
        if not rule.enabled:
            return day
        if not self.is_working_day(day) or local.time().replace(tzinfo=None) > rule.cutoff:
            return self.next_working_day(day)
        return day

    def closures_for(self, institution_id: str | None) -> tuple[ClosurePeriod, ...]:
        """Closure periods of an institution, else the LA default ones."""
        if institution_id is not None and institution_id in self._institution_closures:
            return self._institution_closures[institution_id]
        return self._la_default_closures


@dataclass(frozen=True, slots=True)
class ClosureWindow:
    """The reg 10(4)(a)/(b) window around a closure of at least 4 continuous weeks.

    Opens one week before the first closed day and ends one week before the institution
    re-opens (both ends inclusive).
    """

    closure: ClosurePeriod
    opens_on: date = field(init=False)
    ends_on: date = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "opens_on", self.closure.first_day - timedelta(weeks=1))
        object.__setattr__(self, "ends_on", self.closure.reopens_on - timedelta(weeks=1))

    def contains(self, day: date) -> bool:
        """True if ``day`` falls in the window."""
        return self.opens_on <= day <= self.ends_on


MIN_CLOSURE_DAYS = 28  # "a continuous period of not less than 4 weeks", reg 10(4)(a)/(b)


def closure_window_containing(
    closures: Iterable[ClosurePeriod], sent_on: date
) -> ClosureWindow | None:
    """The reg 10(4)(a)/(b) window containing ``sent_on``, if any (closures of 4+ weeks only)."""
    for closure in closures:
        if closure.length_days < MIN_CLOSURE_DAYS:
            continue
        window = ClosureWindow(closure)
        if window.contains(sent_on):
            return window
    return None
