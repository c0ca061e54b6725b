"""Disputes: mediation (CFA s.53-55, SEND Regulations 2014 reg 32-42) and Tribunal orders (reg 44).

Mediation [S unless marked]:
- the family contacts the mediation adviser within 2 months after the written notice of the
  decision was sent (reg 33 [V]);
- where the issues include health care provision, the LA tells the responsible commissioning
  body within 3 working days of being told (working days: not weekends or England bank
  holidays);
- the LA arranges the mediation to take place within 30 days of being told the family wishes
  to mediate;
- the adviser issues the certificate within 3 working days of the mediation ending;
- a mediation agreement on an appealable issue is complied with in the reg 44 periods as if
  it were a Tribunal order (reg 42(2) [V]); anything else it requires within 2 weeks of the
  agreement (reg 42(3) [V]); the parties may agree other periods in writing (reg 42(5) [V],
  not modelled).

Tribunal orders, reg 44(2) [S: its text as quoted by two secondary sources]: assess - notify
within 2 weeks, then a decision not to issue within 10 weeks or the final plan within 14
weeks of the order; make and maintain a plan - draft within 5 weeks, final within 11 weeks;
amend the plan - within 5 weeks; only the named school or college (section I) - within 2
weeks; cease, or continue to maintain - immediately (no clock). The reg 44(3) exceptions are
not modelled, so these limits are never excused.
"""

from __future__ import annotations

from datetime import date, timedelta

from ehcp.casework.calendar import Calendar
from ehcp.casework.events import OrderKind
from ehcp.casework.rules.dates import add_weeks
from ehcp.casework.rules.limits import TimeLimit

MEDIATION_DAYS = 30
WORKING_DAYS_TO_ACT = 3

MEDIATION_HEALTH_NOTICE = TimeLimit(
    name="mediation_health_body_notice_due",
    rule_text=(
        "Where the mediation issues include health care provision, the LA must tell the "
        "responsible commissioning body within 3 working days of learning the family wishes "
        "to mediate."
    ),
    regulation="regs 35-39 [S] (paragraph not verified)",
    excusable=False,
)
MEDIATION_HELD = TimeLimit(
    name="mediation_due",
    rule_text=(
        "The LA must arrange for the mediation to take place within 30 days of being told "
        "the family wishes to mediate."
    ),
    regulation="regs 35-39 [S] (paragraph not verified)",
    excusable=False,
)
MEDIATION_CERTIFICATE = TimeLimit(
    name="mediation_certificate_due",
    rule_text=(
        "The mediation adviser must issue the mediation certificate within 3 working days "
        "of the mediation ending."
    ),
    regulation="regs 35-39 [S] (paragraph not verified); CFA s.55(5)",
    excusable=False,
)
TRIBUNAL_RESPONSE = TimeLimit(
    name="tribunal_response_due",
    rule_text="The LA must send its response to the appeal by the date the Tribunal set.",
    regulation="Tribunal Procedure (HESC) Rules 2008 r.21 and the Tribunal's directions",
    excusable=False,
)

ORDER_ASSESSMENT_NOTICE = TimeLimit(
    name="order_assessment_notice_due",
    rule_text=(
        "Ordered to assess or re-assess, the LA must notify the family within 2 weeks of the "
        "order that it will do so."
    ),
    regulation="reg 44(2)(b)",
    excusable=False,
)
ORDER_DECISION_NOT_TO_ISSUE = TimeLimit(
    name="order_decision_not_to_issue_due",
    rule_text=(
        "After an ordered assessment, a decision not to issue a plan must be notified with "
        "reasons within 10 weeks of the order."
    ),
    regulation="reg 44(2)(b)(i)",
    excusable=False,
)
ORDER_ASSESSMENT_PLAN = TimeLimit(
    name="order_assessment_plan_due",
    rule_text="After an ordered assessment, the final plan within 14 weeks of the order.",
    regulation="reg 44(2)(b)(ii)",
    excusable=False,
)
ORDER_DRAFT_PLAN = TimeLimit(
    name="order_draft_plan_due",
    rule_text="Ordered to make and maintain a plan, the LA issues the draft within 5 weeks.",
    regulation="reg 44(2)(c)(i)",
    excusable=False,
)
ORDER_FINAL_PLAN = TimeLimit(
    name="order_final_plan_due",
    rule_text="Ordered to make and maintain a plan, the LA issues the final plan within 11 weeks.",
    regulation="reg 44(2)(c)(ii)",
    excusable=False,
)
ORDER_AMENDED_PLAN = TimeLimit(
    name="order_amended_plan_due",
    rule_text="Ordered to amend the plan, the LA issues the amended plan within 5 weeks.",
    regulation="reg 44(2)(e)",
    excusable=False,
)
ORDER_NAMED_INSTITUTION = TimeLimit(
    name="order_named_institution_due",
    rule_text=(
        "Ordered only to change the school or college named in section I, the LA issues the "
        "amended plan within 2 weeks."
    ),
    regulation="reg 44(2)(f)",
    excusable=False,
)
AGREEMENT_ACTION = TimeLimit(
    name="mediation_agreement_action_due",
    rule_text=(
        "What a mediation agreement requires, on a matter the family could not appeal, must "
        "be done within 2 weeks of the agreement."
    ),
    regulation="reg 42(3)",
    excusable=False,
)

#: The limits each order sets, with their periods in weeks from the order.
ORDER_LIMITS: dict[OrderKind, tuple[tuple[TimeLimit, int], ...]] = {
    OrderKind.ASSESS: (
        (ORDER_ASSESSMENT_NOTICE, 2),
        (ORDER_DECISION_NOT_TO_ISSUE, 10),
        (ORDER_ASSESSMENT_PLAN, 14),
    ),
    OrderKind.MAKE_AND_MAINTAIN_PLAN: ((ORDER_DRAFT_PLAN, 5), (ORDER_FINAL_PLAN, 11)),
    OrderKind.AMEND_PLAN: ((ORDER_AMENDED_PLAN, 5),),
    OrderKind.NAME_INSTITUTION: ((ORDER_NAMED_INSTITUTION, 2),),
    OrderKind.NON_APPEALABLE_ACTION: ((AGREEMENT_ACTION, 2),),
    OrderKind.CONTINUE_TO_MAINTAIN: (),
    OrderKind.CEASE: (),
}


def order_due(order_on: date, weeks: int) -> date:
    """``weeks`` from the date of the order (or mediation agreement), reg 44(2) / 42(3)."""
    return add_weeks(order_on, weeks)


def mediation_due(requested_on: date) -> date:
    """30 days from the LA being told the family wishes to mediate (regs 35-39 [S])."""
    return requested_on + timedelta(days=MEDIATION_DAYS)


def within_working_days(start: date, calendar: Calendar) -> date:
    """3 working days after ``start`` (the day itself not counted)."""
    return calendar.add_working_days(start, WORKING_DAYS_TO_ACT)
