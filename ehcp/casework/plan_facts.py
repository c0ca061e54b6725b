"""What a plan's later life records beyond its clocks, in plain words for ``ehcp case explain``.

Review decisions, cessation, mediation and appeals, the school or college requested, refused
and named, and the personal budget. Each fact cites its rule; ``concern`` marks one that
shows a rule was not followed. No fact carries personal data: institutions appear by id.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date

from ehcp.casework import events as ev
from ehcp.casework.history import CaseHistory
from ehcp.casework.model import PlanFact
from ehcp.casework.rules import cessation as cessation_rules
from ehcp.casework.rules.dates import add_months, day_number

__all__ = ["plan_facts"]

REQUEST_WINDOW_DAYS = 15  # reg 13(1)(a), 22(2)(c): at least 15 days, day served = day 1
MAX_LISTED = 5  # request ids named in one fact, at most

_REVIEW_TEXT = {
    ev.ReviewOutcome.MAINTAIN: (
        "the LA decided to keep the plan as it is: the review is complete with no amendment "
        "(the family may appeal the decision not to amend)"
    ),
    ev.ReviewOutcome.AMEND: "the LA decided to amend the plan (proposed amendments follow, reg 22)",
    ev.ReviewOutcome.CEASE: "the LA decided to consider ceasing the plan (reg 31 follows)",
}
_CESSATION_REASON = {
    ev.CessationReason.NO_LONGER_NECESSARY: (
        "special educational provision under a plan is no longer necessary",
        "CFA s.45(1)(b); reg 29(1) under 18",
    ),
    ev.CessationReason.LEFT_EDUCATION_OVER_18: (
        "a young person aged 18 or over has left education or training; the plan may cease "
        "only after a review found they do not wish to return, or a return is not appropriate",
        "reg 30",
    ),
    ev.CessationReason.PAID_EMPLOYMENT_OR_HIGHER_EDUCATION: (
        "the young person has taken up paid employment or entered higher education",
        "CFA s.45(2) [S]",
    ),
    ev.CessationReason.REACHED_25: (
        "the young person reaches 25: a plan may run to the end of that academic year",
        "CFA s.46; reg 46 [S]",
    ),
    ev.CessationReason.NO_LONGER_RESPONSIBLE: (
        "the LA is no longer responsible (e.g. the family moved to another LA)",
        "CFA s.45(1)(a)",
    ),
}
_ORDER_TEXT = {
    ev.OrderKind.ASSESS: "to assess or re-assess",
    ev.OrderKind.MAKE_AND_MAINTAIN_PLAN: "to make and maintain a plan",
    ev.OrderKind.AMEND_PLAN: "to amend the plan",
    ev.OrderKind.NAME_INSTITUTION: "to change the school or college named in section I",
    ev.OrderKind.CONTINUE_TO_MAINTAIN: "to continue to maintain the plan, with immediate effect",
    ev.OrderKind.CEASE: "dismissing the appeal against ceasing: the plan ceases immediately",
    ev.OrderKind.NON_APPEALABLE_ACTION: "to do something the family could not appeal",
}
_PARTS = (
    ("covers_education", "education"),
    ("covers_health", "health"),
    ("covers_social_care", "social care"),
)


def _review_facts(history: CaseHistory) -> list[PlanFact]:
    return [
        PlanFact(
            "review",
            d.occurred_on,
            f"Review decision: {_REVIEW_TEXT[d.outcome]}.",
            "reg 20(10), 21(8)",
        )
        for d in history.of_kind(ev.ReviewDecisionMade)
    ]


def _cessation_facts(history: CaseHistory) -> list[PlanFact]:
    facts = []
    for notice in history.of_kind(ev.CeaseIntentionNotified):
        why, reg = _CESSATION_REASON[notice.reason]
        facts.append(
            PlanFact(
                "cessation",
                notice.occurred_on,
                f"The LA told the family it is considering ceasing the plan and is consulting them "
                f"and the named institution: {why}.",
                f"reg 31(1); {reg}",
            )
        )
    for decision in history.of_kind(ev.CessationDecided):
        if decision.outcome is ev.CessationOutcome.CONTINUE:
            facts.append(
                PlanFact(
                    "cessation",
                    decision.occurred_on,
                    "After consulting, the LA decided to continue the plan.",
                    "reg 31(2)",
                )
            )
            continue
        rights = decision.appeal_rights_notified
        facts.append(
            PlanFact(
                "cessation",
                decision.occurred_on,
                "The LA decided to cease the plan and notified the family, the institution and "
                "the commissioning body"
                + (
                    " with the right to appeal, its time limits and the mediation information."
                    if rights
                    else ", but the notice did not give the right to appeal, its time limits "
                    "and the mediation information."
                ),
                cessation_rules.CESSATION_NOTICE_RIGHTS,
                concern=not rights,
            )
        )
    return facts


def _dispute_facts(history: CaseHistory) -> list[PlanFact]:
    facts = [
        PlanFact(
            "mediation",
            r.occurred_on,
            f"The family asked for mediation {r.mediation_id}"
            + (", including health care provision." if r.includes_health else "."),
            "CFA s.53-54; reg 32(e)",
        )
        for r in history.of_kind(ev.MediationRequested)
    ]
    for held in history.of_kind(ev.MediationHeld):
        facts.append(
            PlanFact(
                "mediation",
                held.occurred_on,
                f"Mediation {held.mediation_id} took place"
                + (
                    "; the parties reached a written agreement (complied with as reg 42 sets)."
                    if held.agreement_reached
                    else "; no agreement."
                ),
                "reg 42(1)",
            )
        )
    for cert in history.of_kind(ev.MediationCertificateIssued):
        facts.append(
            PlanFact(
                "mediation",
                cert.occurred_on,
                f"Mediation certificate issued ({cert.kind.name.replace('_', ' ').lower()}): the "
                f"family may register an appeal by {add_months(cert.occurred_on, 1).isoformat()}, "
                "or within 2 months after the decision notice if that is later.",
                "CFA s.55; Tribunal Procedure (HESC) Rules 2008 r.20(1)(c)",
            )
        )
    for appeal in history.of_kind(ev.TribunalAppealRegistered):
        facts.append(
            PlanFact(
                "tribunal",
                appeal.occurred_on,
                f"Appeal {appeal.appeal_id} registered with the First-tier Tribunal.",
                "CFA s.51",
            )
        )
    for order in history.of_kind(ev.TribunalOrderMade):
        by = (
            "Mediation agreement"
            if order.source is ev.OrderSource.MEDIATION_AGREEMENT
            else "Tribunal order"
        )
        facts.append(
            PlanFact(
                "tribunal",
                order.occurred_on,
                f"{by} {order.order_id}: {_ORDER_TEXT[order.kind]}.",
                "reg 42" if by.startswith("Mediation") else "reg 43-44",
            )
        )
    return facts


def _window_for(served: list[date], on: date) -> tuple[date, date] | None:
    """The 15-day period (draft or proposed amendments, ``served`` sorted) ``on`` follows."""
    index = bisect_right(served, on)
    if index == 0:
        return None
    latest = served[index - 1]
    return latest, day_number(latest, REQUEST_WINDOW_DAYS)


def _placement_facts(history: CaseHistory) -> list[PlanFact]:
    facts = []
    refused = {r.request_id: r for r in history.of_kind(ev.InstitutionRequestRefused)}
    served = sorted(
        [*(e.occurred_on for e in history.of_kind(ev.DraftPlanIssued)), *history.proposals]
    )
    # In-time requests not refused, grouped by institution (so naming stays linear).
    standing: dict[str, list[str]] = {}
    for request in history.of_kind(ev.InstitutionRequested):
        window = _window_for(served, request.occurred_on)
        if window is not None and request.occurred_on <= window[1]:
            if request.request_id not in refused:
                standing.setdefault(request.institution_id, []).append(request.request_id)
            text = (
                f"The family asked for {request.institution_id} to be named, within the "
                f"15 days ending {window[1].isoformat()}: the LA must consult it and name it "
                "unless a s.39(4) ground applies."
            )
            reg = "CFA s.38(2)(b)(ii), 39; reg 13(1), 22(2)(c)"
        else:
            text = (
                f"The family asked for {request.institution_id} to be named outside the "
                "15-day period: the LA names the institution it thinks appropriate (s.40), "
                "considering the request."
            )
            reg = "CFA s.40; reg 13(1), 22(2)(c)"
        facts.append(PlanFact("placement", request.occurred_on, text, reg))
    for refusal in refused.values():
        facts.append(
            PlanFact(
                "placement",
                refusal.occurred_on,
                f"The LA refused request {refusal.request_id}: "
                f"{refusal.ground.name.replace('_', ' ').lower()}. The family may appeal the "
                "school or college named (section I).",
                "CFA s.39(4); s.51(2)(c)",
            )
        )
    for named in history.of_kind(ev.InstitutionNamed):
        unmet: list[str] = []
        for institution, request_ids in standing.items():
            if institution != named.institution_id:
                unmet.extend(request_ids[: MAX_LISTED - len(unmet)])
            if len(unmet) >= MAX_LISTED:
                break
        text = f"Section I names {named.institution_id}."
        if unmet:
            text += (
                f" Request(s) {', '.join(sorted(unmet))} for another institution were made in "
                "time and not refused on a s.39(4) ground."
            )
        facts.append(
            PlanFact(
                "placement",
                named.occurred_on,
                text,
                "CFA s.39(3); reg 12(1)(i)",
                concern=bool(unmet),
            )
        )
    return facts


def _budget_facts(history: CaseHistory) -> list[PlanFact]:
    facts = [
        PlanFact(
            "personal_budget",
            r.occurred_on,
            "The family asked for a personal budget"
            + (" with direct payments." if r.direct_payments_requested else "."),
            "CFA s.49(1); PB regs reg 4",
        )
        for r in history.of_kind(ev.PersonalBudgetRequested)
    ]
    for agreed in history.of_kind(ev.PersonalBudgetAgreed):
        parts = ", ".join(label for attr, label in _PARTS if getattr(agreed, attr))
        facts.append(
            PlanFact(
                "personal_budget",
                agreed.occurred_on,
                f"Personal budget agreed (section J), covering {parts}"
                + ("; paid as direct payments." if agreed.direct_payments else "."),
                "CFA s.49; reg 12(1)(j); PB regs",
            )
        )
    for refusal in history.of_kind(ev.PersonalBudgetRefused):
        what = "Direct payments" if refusal.direct_payments_only else "A personal budget"
        told = (
            "the family was given the reasons and told of its right to ask for a review"
            if refusal.review_right_notified
            else "but the family was not told the reasons and its right to ask for a review"
        )
        facts.append(
            PlanFact(
                "personal_budget",
                refusal.occurred_on,
                f"{what} refused ({refusal.reason.name.replace('_', ' ').lower()}); {told}.",
                "PB regs reg 7 [S]",
                concern=not refusal.review_right_notified,
            )
        )
    return facts


def plan_facts(history: CaseHistory) -> tuple[PlanFact, ...]:
    """Every fact of the plan's later life, in date order."""
    facts = [
        *_review_facts(history),
        *_cessation_facts(history),
        *_dispute_facts(history),
        *_placement_facts(history),
        *_budget_facts(history),
    ]
    return tuple(sorted(facts, key=lambda f: (f.on, f.topic, f.text)))
