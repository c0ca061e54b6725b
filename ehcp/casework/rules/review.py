"""Reviews and amendments of a maintained plan.

- Annual review "within the period of 12 months starting with" the date the plan was made, then
  with the date of the last review (CFA 2014 s.44(1)). The period includes its first day, so it
  ends the day before the anniversary: a plan made on 22 May 2023 is reviewed by 21 May 2024.
- A child under 5: the LA "should consider" reviewing every 3 to 6 months (CoP 9.178); this is
  guidance, so the interval is a policy setting, read the same way (the period of that many
  months starting with the plan or the last review).
- Amendments: at least 15 days to comment (reg 22(2)(c)); final amended plan within 8 weeks of
  sending the proposed amendments (reg 22(3)); combined, at most 12 weeks after the review
  meeting (R (L, M and P) v Devon CC [2022] EWHC 493 (Admin)).
- Phase transfer: reviewed and amended "before 15 February" of the transfer year between school
  phases (reg 18(1)(b)) and "before 31 March" from secondary to post-16 (reg 18(1)(a)), so the
  last compliant days are 14 February and 30 March; at least 5 months before a post-16 to
  post-16 transfer at another time (reg 18(2)).
"""

from __future__ import annotations

from datetime import date, timedelta

from ehcp.casework.events import PhaseTransferKind
from ehcp.casework.rules.dates import (
    add_months,
    add_weeks,
    age_on,
    day_number,
    last_day_of_months_starting_with,
)
from ehcp.casework.rules.limits import TimeLimit

ANNUAL_REVIEW = TimeLimit(
    name="annual_review_due",
    rule_text=(
        "The plan must be reviewed within the 12 months starting with the day it was made, "
        "then with the day of the last review, so by the day before the anniversary (for a "
        "child under 5, every few months as LA policy sets, counted the same way)."
    ),
    regulation="CFA 2014 s.44(1); under 5: CoP 9.178 (guidance, policy interval)",
    excusable=False,
)
AMENDMENT_COMMENT_PERIOD = TimeLimit(
    name="amendment_comment_period_ends",
    rule_text=(
        "The family has at least 15 days to comment on proposed amendments; the amended plan "
        "must not be issued before this day ends."
    ),
    regulation="reg 22(2)(c)",
    excusable=False,
)
AMENDED_PLAN = TimeLimit(
    name="amended_plan_due",
    rule_text=(
        "The final amended plan must be issued within 8 weeks of sending the proposed amendments."
    ),
    regulation="reg 22(3)",
    excusable=False,
)
AMENDED_PLAN_AFTER_REVIEW = TimeLimit(
    name="amended_plan_due_after_review_meeting",
    rule_text=(
        "Where a review leads to amendments, the final amended plan must be issued at most "
        "12 weeks after the review meeting."
    ),
    regulation="reg 20-22 as read in R (L, M and P) v Devon CC [2022] EWHC 493 (Admin)",
    excusable=False,
)
PHASE_TRANSFER = TimeLimit(
    name="phase_transfer_review_due",
    rule_text=(
        "Before a phase transfer the plan must be reviewed and amended: before 15 February of "
        "the transfer year between school phases (by 14 February), before 31 March from "
        "secondary school to post-16 (by 30 March), and at least 5 months before a post-16 to "
        "post-16 transfer."
    ),
    regulation="reg 18(1)(a), 18(1)(b), 18(2)",
    excusable=False,
)

ANNUAL_REVIEW_MONTHS = 12
AMENDMENT_COMMENT_DAYS = 15
UNDER_FIVE_AGE = 5


def review_interval_months(date_of_birth: date | None, anchor: date, under_five_months: int) -> int:
    """Months until the next review from ``anchor`` (plan made or last review).

    12 months (CFA s.44(1)); for a child under 5 on ``anchor``, the policy interval
    (CoP 9.178). Unknown date of birth: 12 months.
    """
    if date_of_birth is not None and age_on(date_of_birth, anchor) < UNDER_FIVE_AGE:
        return min(under_five_months, ANNUAL_REVIEW_MONTHS)
    return ANNUAL_REVIEW_MONTHS


def annual_review_due(
    anchor: date, date_of_birth: date | None = None, under_five_months: int = 6
) -> date:
    """The last day of the review period starting with ``anchor`` (CFA s.44(1)).

    ``anchor`` is the day the plan was made or last reviewed. The period of 12 months (or the
    under-5 policy interval) starting with it ends the day before the anniversary.
    """
    return last_day_of_months_starting_with(
        anchor, review_interval_months(date_of_birth, anchor, under_five_months)
    )


def amendment_comment_period_ends(proposed_on: date) -> date:
    """Day 15 of the comments on proposed amendments, day 1 being the day sent (reg 22(2)(c))."""
    return day_number(proposed_on, AMENDMENT_COMMENT_DAYS)


def amended_plan_due(proposed_on: date) -> date:
    """8 weeks from sending the proposed amendments (reg 22(3))."""
    return add_weeks(proposed_on, 8)


def amended_plan_due_after_review_meeting(meeting_on: date) -> date:
    """12 weeks from the review meeting (Devon CC [2022] EWHC 493)."""
    return add_weeks(meeting_on, 12)


def phase_transfer_review_due(transfer_on: date, kind: PhaseTransferKind) -> date:
    """The last day on which the plan can be reviewed and amended before a phase transfer (reg 18).

    Reg 18(1) requires it "before" 15 February (school phases, 18(1)(b)) or "before" 31 March
    (secondary to post-16, 18(1)(a)) of the calendar year of transfer, so the last compliant
    day is 14 February or 30 March. A post-16 to post-16 transfer needs it "at least five
    months before" the transfer (reg 18(2)): the day 5 months earlier still complies.
    """
    if kind is PhaseTransferKind.SCHOOL_PHASE:
        return date(transfer_on.year, 2, 15) - timedelta(days=1)
    if kind is PhaseTransferKind.SECONDARY_TO_POST_16:
        return date(transfer_on.year, 3, 31) - timedelta(days=1)
    return add_months(transfer_on, -5)


# -- The review meeting and what follows it (reg 20, 21) -------------------------------------
#
# "At least two weeks' notice of the date of the meeting must be given" (reg 20(3), 21(3)) and
# the advice is circulated "at least two weeks in advance of the review meeting" (reg 20(4),
# 21(4)): notice given on 1 May is two weeks' notice of a meeting on 15 May, so the last
# compliant day is the meeting date less 14 days. The report follows "within two weeks of the
# review meeting" (reg 20(7), 21(7)) and the LA's decision within four weeks of it (reg 20(10),
# 21(8)), counted like every "within N weeks of" limit: the same weekday N weeks on.

REVIEW_NOTICE_DAYS = 14
REVIEW_INVITATIONS = TimeLimit(
    name="review_invitations_due",
    rule_text=(
        "Those invited to the review meeting must have at least two weeks' notice of its date: "
        "notice given by this day (the meeting date less 14 days)."
    ),
    regulation="reg 20(3) (attends a school or institution), 21(3) (does not)",
    excusable=False,
)
REVIEW_ADVICE_CIRCULATED = TimeLimit(
    name="review_advice_circulated_due",
    rule_text=(
        "The advice and information gathered for the review must be circulated to those "
        "invited at least two weeks before the meeting."
    ),
    regulation="reg 20(4), 21(4)",
    excusable=False,
)
REVIEW_REPORT = TimeLimit(
    name="review_report_due",
    rule_text=(
        "The review report, with its recommendations on amendments, must be prepared and sent "
        "within two weeks of the review meeting."
    ),
    regulation="reg 20(7)-(8), 21(7)",
    excusable=False,
)
REVIEW_DECISION = TimeLimit(
    name="review_decision_due",
    rule_text=(
        "Within four weeks of the review meeting the LA must decide whether to keep the plan "
        "as it is, amend it or cease to maintain it, and notify the family."
    ),
    regulation="reg 20(10), 21(8)",
    excusable=False,
)


def review_invitations_due(meeting_on: date) -> date:
    """The last day to give two weeks' notice of a meeting on ``meeting_on`` (reg 20(3), 21(3))."""
    return meeting_on - timedelta(days=REVIEW_NOTICE_DAYS)


def review_advice_circulated_due(meeting_on: date) -> date:
    """The last day to circulate advice two weeks before the meeting (reg 20(4), 21(4))."""
    return meeting_on - timedelta(days=REVIEW_NOTICE_DAYS)


def review_report_due(meeting_on: date) -> date:
    """Two weeks from the review meeting (reg 20(7), 21(7))."""
    return add_weeks(meeting_on, 2)


def review_decision_due(meeting_on: date) -> date:
    """Four weeks from the review meeting (reg 20(10), 21(8))."""
    return add_weeks(meeting_on, 4)
