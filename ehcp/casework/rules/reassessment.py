"""Re-assessment of an EHC plan: reg 27 SEND Regulations 2014."""

from __future__ import annotations

from datetime import date

from ehcp.casework.rules.dates import add_weeks
from ehcp.casework.rules.limits import TimeLimit

REASSESSMENT_PLAN = TimeLimit(
    name="reassessment_plan_due",
    rule_text=(
        "After a re-assessment the LA must issue the plan within 14 weeks of giving notice of "
        "its decision to re-assess."
    ),
    regulation="reg 27(2); exceptions reg 27(3)",
    excusable=True,
)


def reassessment_plan_due(notice_on: date) -> date:
    """14 weeks from the notice of the decision to re-assess (reg 27(2))."""
    return add_weeks(notice_on, 14)
