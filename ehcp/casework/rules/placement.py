"""Placement: the school or college named in section I (CFA 2014 s.38-40, reg 13(1), 22(2)).

- With the draft plan (or proposed amendments) the family may, within at least 15 days
  beginning with the day it was served, ask for a particular school or college to be named
  (CFA s.38(2)(b)(ii), (4) [V]; reg 13(1)(a)(i) [V]; reg 22(2)(b)-(c) [V]).
- A request made in that period obliges the LA to consult the institution (s.39(2)) and to
  name it unless it is unsuitable for the child's age, ability, aptitude or SEN, or the
  child's attendance would be incompatible with the efficient education of others or the
  efficient use of resources (s.39(3)-(4) [S: Bill text]). Otherwise (no request in time) the
  LA names a school it thinks appropriate after consulting it (s.40 [V]).
- The consulted institution "should" reply within 15 days (CoP 9.79 [S], guidance): a policy
  setting, default 15 days, the day consulted not counted.
"""

from __future__ import annotations

from datetime import date, timedelta

from ehcp.casework.rules.limits import TimeLimit

CONSULTATION_RESPONSE = TimeLimit(
    name="institution_consultation_response_due",
    rule_text=(
        "A school or college consulted about being named in the plan should reply within "
        "15 days (LA policy setting, from the SEND Code of Practice)."
    ),
    regulation="CFA 2014 s.39(2), 40(3); period CoP 9.79 (guidance, policy)",
    excusable=False,
)


def consultation_response_due(consulted_on: date, days: int) -> date:
    """``days`` days after the consultation was sent (CoP 9.79 [S], policy)."""
    return consulted_on + timedelta(days=days)
