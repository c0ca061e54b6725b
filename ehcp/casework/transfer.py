"""A child or young person with a plan moves to another LA (reg 15, SEND Regulations 2014).

The plan moves with the case: the same case id, its history and every piece of advice gathered,
so the new LA never asks for what the case already holds (reg 15(3)(b) lets it rely on the old
advice when its author, the old LA and the family agree, recorded as ``AdviceReused``).

Time limits (legislation.gov.uk, SI 2014/1530 reg 15 as made):

- ``plan_transfer_due`` (reg 15(2)) [V]: the old LA transfers the plan on the day of the move;
  if it did not become aware of the move at least 15 working days before it, within 15 working
  days beginning with the day it became aware (that day is day 1 when it is a working day).
  "At least 15 working days prior" is read as: 15 working days after the day it became aware
  is on or before the day of the move [D].
- ``transfer_notice_due`` (reg 15(4)) [V]: within 6 weeks of the date of the transfer the new
  LA tells the family the plan was transferred, whether it proposes to assess and when it will
  review.
- ``transfer_review_due`` (reg 15(5)): the new LA reviews the plan before the expiry of the
  later of (a) the period of 12 months beginning with the date the plan was made or last
  reviewed [V] and (b) the period of 3 months beginning with the date of the transfer [S: the
  text of (b) was not read in full]. It replaces that period's ``annual_review_due``; a review
  meeting after the transfer meets it.

Reg 16, a change of health commissioning body (the ICB responsible for the child or young
person), as a secondary source states it [S] (its text on legislation.gov.uk could not be read
here, so the paragraph numbers are not given):

- ``commissioning_body_notice_due`` [S]: the old commissioning body notifies the new one. Where
  the change comes with a move between LA areas: on the day of the move, or, if it did not
  become aware of the move at least 15 working days before it, within 15 working days beginning
  with the day it became aware (the reg 15(2) rule). Any other change (a change of GP, a move
  within the LA's area): within 15 working days of becoming aware, counted from that day as day 1
  [D]. Met by ``CommissioningBodyChanged.notified_on``.
- ``health_provision_request_due`` [S]: where it is not practicable for the new body to secure
  the health care provision in the plan, it asks the (new) LA for an EHC needs assessment or a
  review within 15 working days of becoming aware of the change (day 1 as above [D]). Only a
  change recorded with ``provision_practicable`` false has this limit (true: not applicable; not
  yet found: none). Met by ``HealthProvisionReviewRequested``. The LA must comply with the
  request [S]; no period for that is modelled.
"""

from __future__ import annotations

from datetime import date

from ehcp.casework.calendar import Calendar
from ehcp.casework.events import (
    CommissioningBodyChanged,
    HealthProvisionReviewRequested,
    PlanTransferred,
    TransferNoticeGiven,
)
from ehcp.casework.history import CaseHistory
from ehcp.casework.rules.dates import add_weeks, last_day_of_months_starting_with
from ehcp.casework.rules.limits import TimeLimit

TRANSFER_WORKING_DAYS = 15  # reg 15(2)
NOTICE_WEEKS = 6  # reg 15(4)
REVIEW_MONTHS_AFTER_TRANSFER = 3  # reg 15(5)(b)
REVIEW_MONTHS = 12  # reg 15(5)(a), CFA s.44(1)
HEALTH_WORKING_DAYS = 15  # reg 16 [S]

PLAN_TRANSFER = TimeLimit(
    "plan_transfer_due",
    "The old LA transfers the plan on the day of the move, or, if it learnt of the move less "
    "than 15 working days before it, within 15 working days beginning with the day it learnt.",
    "reg 15(2)",
    excusable=False,
)
TRANSFER_NOTICE = TimeLimit(
    "transfer_notice_due",
    "Within 6 weeks of the transfer the new LA tells the family the plan was transferred, "
    "whether it proposes to assess and when it will review the plan.",
    "reg 15(4)",
    excusable=False,
)
TRANSFER_REVIEW = TimeLimit(
    "transfer_review_due",
    "The new LA reviews the plan before the later of 12 months from the plan or last review "
    "and 3 months from the transfer.",
    "reg 15(5)",
    excusable=False,
)

COMMISSIONING_BODY_NOTICE = TimeLimit(
    "commissioning_body_notice_due",
    "The old health commissioning body notifies the new one: with a move to another LA on the "
    "day of the move (or within 15 working days of learning of it, if it learnt less than 15 "
    "working days before); otherwise within 15 working days of learning of the change.",
    "reg 16 [S]",
    excusable=False,
)
HEALTH_PROVISION_REQUEST = TimeLimit(
    "health_provision_request_due",
    "Where the new commissioning body cannot practicably secure the plan's health care "
    "provision, it asks the LA for an assessment or a review within 15 working days of "
    "learning of the change.",
    "reg 16 [S]",
    excusable=False,
)


def nth_working_day_from(calendar: Calendar, first: date, n: int) -> date:
    """Working day ``n`` of a period beginning with ``first`` (``first`` is day 1 if working)."""
    day = first if calendar.is_working_day(first) else calendar.next_working_day(first)
    return calendar.add_working_days(day, n - 1)


def plan_transfer_due(calendar: Calendar, moved_on: date, became_aware_on: date | None) -> date:
    """Reg 15(2): the day of the move, or the 15th working day from the day the LA learnt of it."""
    if became_aware_on is None or calendar.add_working_days(
        became_aware_on, TRANSFER_WORKING_DAYS
    ) <= moved_on:
        return moved_on
    return nth_working_day_from(calendar, became_aware_on, TRANSFER_WORKING_DAYS)


def transfer_notice_due(transferred_on: date) -> date:
    """Reg 15(4): 6 weeks from the date of the transfer."""
    return add_weeks(transferred_on, NOTICE_WEEKS)


def transfer_review_due(anchor: date, transferred_on: date) -> date:
    """Reg 15(5): the later of the last days of 12 months from ``anchor`` and 3 months from the
    transfer (``anchor``: the day the plan was made or last reviewed)."""
    return max(
        last_day_of_months_starting_with(anchor, REVIEW_MONTHS),
        last_day_of_months_starting_with(transferred_on, REVIEW_MONTHS_AFTER_TRANSFER),
    )


def transfers(history: CaseHistory) -> list[PlanTransferred]:
    """The case's transfers, in order."""
    return history.of_kind(PlanTransferred)


def notices(history: CaseHistory) -> list[date]:
    """The days the new LA gave its reg 15(4) notice."""
    return [n.occurred_on for n in history.of_kind(TransferNoticeGiven)]


def owning_la(history: CaseHistory) -> str | None:
    """The LA the plan was last transferred to, or None if never transferred."""
    moved = transfers(history)
    return moved[-1].to_la if moved else None


def commissioning_body_notice_due(calendar: Calendar, change: CommissioningBodyChanged) -> date:
    """Reg 16 [S]: with an LA move, the reg 15(2) rule; otherwise the 15th working day beginning
    with the day the old body became aware (the day of the change if not known)."""
    if change.with_la_move:
        return plan_transfer_due(calendar, change.occurred_on, change.old_body_aware_on)
    aware = change.old_body_aware_on or change.occurred_on
    return nth_working_day_from(calendar, aware, HEALTH_WORKING_DAYS)


def new_body_aware_on(change: CommissioningBodyChanged) -> date:
    """The day the new body became aware of the change: as recorded, else the day it was
    notified, else the day of the change."""
    return change.new_body_aware_on or change.notified_on or change.occurred_on


def health_provision_request_due(calendar: Calendar, change: CommissioningBodyChanged) -> date:
    """Reg 16 [S]: the 15th working day beginning with the day the new body became aware."""
    return nth_working_day_from(calendar, new_body_aware_on(change), HEALTH_WORKING_DAYS)


def commissioning_changes(history: CaseHistory) -> list[CommissioningBodyChanged]:
    """The case's changes of health commissioning body, in order."""
    return history.of_kind(CommissioningBodyChanged)


def health_requests(history: CaseHistory) -> list[date]:
    """The days a new commissioning body asked the LA for an assessment or a review."""
    return [r.occurred_on for r in history.of_kind(HealthProvisionReviewRequested)]
