"""Ceasing to maintain a plan: CFA 2014 s.45, SEND Regulations 2014 reg 29-31.

- The LA informs and consults the family (and the named institution's head) before deciding
  (reg 31(1)); no period is set for that consultation or for the decision that follows.
- The decision to cease is notified with the right to appeal, its time limits and the
  mediation information (reg 31(2)-(3), reg 32).
- The plan is maintained until the time for appealing has passed or an appeal is determined
  (CFA s.45; explanatory note 247 [S]). The time for appealing is 2 months after the written
  notice of the decision was sent, or 1 month from the issue of a mediation certificate if
  that is later (Tribunal Procedure (First-tier Tribunal) (HESC) Rules 2008, r.20(1)(c) [V]).
  "Within 2 months after" a notice sent on 5 March ends on 5 May; a shorter month clamps to
  its last day (31 December gives the last day of February).
"""

from __future__ import annotations

from datetime import date

from ehcp.casework.rules.dates import add_months
from ehcp.casework.rules.limits import TimeLimit

APPEAL_MONTHS = 2
APPEAL_MONTHS_AFTER_CERTIFICATE = 1

PLAN_MAINTAINED_DURING_APPEAL = TimeLimit(
    name="cessation_appeal_period_ends",
    rule_text=(
        "After deciding to cease the plan the LA must keep maintaining it until the time for "
        "appealing has passed (2 months after the notice, or 1 month after a mediation "
        "certificate if later) or an appeal has been determined; the plan must not cease on "
        "or before this day."
    ),
    regulation=(
        "CFA 2014 s.45 [S]; appeal time limit Tribunal Procedure (HESC) Rules 2008 r.20(1)(c)"
    ),
    excusable=False,
)
CESSATION_NOTICE_RIGHTS = "reg 31(3), reg 32"


def appeal_period_ends(notice_sent_on: date, certificate_on: date | None = None) -> date:
    """The last day to appeal a decision notified on ``notice_sent_on`` (r.20(1)(c)).

    2 months after the written notice was sent, or 1 month from the mediation certificate's
    issue if that is later.
    """
    ends = add_months(notice_sent_on, APPEAL_MONTHS)
    if certificate_on is not None:
        ends = max(ends, add_months(certificate_on, APPEAL_MONTHS_AFTER_CERTIFICATE))
    return ends
