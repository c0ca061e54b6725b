"""Time limits of the EHC needs assessment: reg 5, reg 10 and reg 13 SEND Regulations 2014.

All clocks start on the date the LA received the request (after the receipt rule), and all
are calendar days. Exceptions (reg 5(4), 10(4), 13(3)) excuse these limits; they never move them.
"""

from __future__ import annotations

from datetime import date, timedelta

from ehcp.casework.rules.dates import add_weeks, day_number
from ehcp.casework.rules.limits import TimeLimit

DECISION_TO_ASSESS = TimeLimit(
    name="decision_to_assess_due",
    rule_text="The LA must tell the family whether it will assess within 6 weeks of the request.",
    regulation="reg 5(1) (refusal notice reg 4(1)); exceptions reg 5(4)",
    excusable=True,
)
DECISION_NOT_TO_ISSUE = TimeLimit(
    name="decision_not_to_issue_due",
    rule_text=(
        "If, after assessing, the LA decides not to issue a plan it must tell the family "
        "within 16 weeks of the request."
    ),
    regulation="reg 10(1); exceptions reg 10(4)",
    excusable=True,
)
LATEST_DRAFT_PLAN = TimeLimit(
    name="latest_draft_plan_due",
    rule_text=(
        "Derived: the draft plan must be served by day 125 (140 - 15) for the family's 15 days "
        "to end before the 20-week limit."
    ),
    regulation="derived from reg 13(1) and 13(2); exceptions reg 13(3)",
    excusable=True,
)
DRAFT_COMMENT_PERIOD = TimeLimit(
    name="draft_comment_period_ends",
    rule_text=(
        "The family has at least 15 days to comment on the draft plan, the day it is served "
        "being day 1; the final plan must not be issued before this day."
    ),
    regulation="reg 13(1)",
    excusable=False,
)
FINAL_PLAN = TimeLimit(
    name="final_plan_due",
    rule_text="The final EHC plan must be issued within 20 weeks (140 days) of the request.",
    regulation="reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)",
    excusable=True,
)

FINAL_PLAN_DAYS = 140
DRAFT_COMMENT_DAYS = 15


def decision_to_assess_due(received_on: date) -> date:
    """6 weeks from receipt of the request (reg 5(1))."""
    return add_weeks(received_on, 6)


def decision_not_to_issue_due(received_on: date) -> date:
    """16 weeks from receipt of the request (reg 10(1))."""
    return add_weeks(received_on, 16)


def final_plan_due(received_on: date) -> date:
    """20 weeks, i.e. 140 days, from receipt of the request (reg 13(2))."""
    return add_weeks(received_on, 20)


def latest_draft_plan_due(received_on: date) -> date:
    """Day 125 after receipt: the last day to serve the draft if the 20 weeks are to hold.

    Derived from reg 13(1) (15 days to comment) and reg 13(2) (140 days): 140 - 15 = 125.
    """
    return received_on + timedelta(days=FINAL_PLAN_DAYS - DRAFT_COMMENT_DAYS)


def draft_comment_period_ends(served_on: date) -> date:
    """Day 15 of the comment period, the day the draft is served being day 1 (reg 13(1))."""
    return day_number(served_on, DRAFT_COMMENT_DAYS)
