"""Explain an assessment: plain text for a caseworker, or a JSON-ready dict with stable keys.

``to_json`` keys (version 1; documented in ``docs/casework-events.md``)::

    format_version, case_id, as_of, stage, received_on, next_alert_due_on,
    timeliness {final_plan_within_20_weeks, exceptions_apply, within_20_weeks_or_excused},
    statutory_dates [{name, due_on, rule_text, regulation, status, completed_on, excused,
                      exception_ids, clock_started_on}],
    advice [{advice_type, regulation, status, required, request_id, agency_id, sent_on,
             received_by_body_on, due_on, submitted_on, on_time, contribution_ids, excused,
             exception_ids, reuse_id, decline_reason}],
    exceptions [{exception_id, ground, regulation, starts_on, ends_on, request_id, derived,
                 qualifies, in_force}],
    alerts [{alert_id, kind, subject, threshold, severity, regulation, message, due_on,
             days_overdue, agency_id, advice_type}],
    facts [{topic, on, text, regulation, concern}]
    sen_support {cycles [{cycle_id, assess_on, plan_on, do_from, review_on, setting_id}],
                 reviewed_cycles, notional_spend [{academic_year, amount_pounds}],
                 threshold_pounds, threshold_reached,
                 top_up [{request_id, requested_on, requested_pounds, outcome, decided_on,
                          agreed_pounds}], notes},
    care {status, since, route, looking_after_la, virtual_school_head_la,
          virtual_school_head_agency, pupil_premium_plus, pupil_premium_plus_expected, notes},
    delegations [{part_id, parent_request_id, agency_id, service, sent_on, due_on, status,
                  done_on}]

Dates are ISO strings or null; enums are member names.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ehcp.casework.events import ADVICE_LABEL, CareStatus
from ehcp.casework.model import CaseAssessment
from ehcp.casework.support import CareSummary, SenSupportEvidence

FORMAT_VERSION = 1


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_json(assessment: CaseAssessment) -> dict[str, Any]:
    """The assessment as a JSON-ready dict with the stable keys listed in the module docstring."""
    in_force = {e.exception_id for e in assessment.exceptions_in_force}
    return {
        "format_version": FORMAT_VERSION,
        "case_id": assessment.case_id,
        "as_of": assessment.as_of.isoformat(),
        "stage": assessment.stage.name,
        "received_on": _iso(assessment.received_on),
        "next_alert_due_on": _iso(assessment.next_change_on),
        "timeliness": {
            "final_plan_within_20_weeks": assessment.timeliness.final_plan_within_20_weeks,
            "exceptions_apply": assessment.timeliness.exceptions_apply,
            "within_20_weeks_or_excused": assessment.timeliness.within_20_weeks_or_excused,
        },
        "statutory_dates": [
            {
                "name": d.name,
                "due_on": d.due_on.isoformat(),
                "rule_text": d.rule_text,
                "regulation": d.regulation,
                "status": d.status.name,
                "completed_on": _iso(d.completed_on),
                "excused": d.excused,
                "exception_ids": list(d.exception_ids),
                "clock_started_on": d.clock_started_on.isoformat(),
            }
            for d in assessment.statutory_dates
        ],
        "advice": [
            {
                "advice_type": a.advice_type.name,
                "regulation": a.regulation,
                "status": a.status.name,
                "required": a.required,
                "request_id": a.request_id,
                "agency_id": a.agency_id,
                "sent_on": _iso(a.sent_on),
                "received_by_body_on": _iso(a.received_by_body_on),
                "due_on": _iso(a.due_on),
                "submitted_on": _iso(a.submitted_on),
                "on_time": a.on_time,
                "contribution_ids": list(a.contribution_ids),
                "excused": a.excused,
                "exception_ids": list(a.exception_ids),
                "reuse_id": a.reuse_id,
                "decline_reason": a.decline_reason.name if a.decline_reason else None,
            }
            for a in assessment.advice
        ],
        "exceptions": [
            {
                "exception_id": e.exception_id,
                "ground": e.ground.name,
                "regulation": e.regulation,
                "starts_on": e.starts_on.isoformat(),
                "ends_on": _iso(e.ends_on),
                "request_id": e.request_id,
                "derived": e.derived,
                "qualifies": e.qualifies,
                "in_force": e.exception_id in in_force,
            }
            for e in assessment.exceptions
        ],
        "alerts": [
            {
                "alert_id": a.alert_id,
                "kind": a.kind.name,
                "subject": a.subject,
                "threshold": a.threshold,
                "severity": a.severity.name,
                "regulation": a.regulation,
                "message": a.message,
                "due_on": _iso(a.due_on),
                "days_overdue": a.days_overdue,
                "agency_id": a.agency_id,
                "advice_type": a.advice_type.name if a.advice_type else None,
            }
            for a in assessment.alerts
        ],
        "facts": [
            {
                "topic": f.topic,
                "on": f.on.isoformat(),
                "text": f.text,
                "regulation": f.regulation,
                "concern": f.concern,
            }
            for f in assessment.facts
        ],
        "sen_support": _support_json(assessment.sen_support),
        "care": _care_json(assessment.care),
        "delegations": [
            {
                "part_id": p.part_id,
                "parent_request_id": p.parent_request_id,
                "agency_id": p.agency_id,
                "service": p.service,
                "sent_on": p.sent_on.isoformat(),
                "due_on": p.due_on.isoformat(),
                "status": p.status.name,
                "done_on": _iso(p.done_on),
            }
            for p in assessment.delegations
        ],
    }


def _support_json(evidence: SenSupportEvidence | None) -> dict[str, Any] | None:
    if evidence is None:
        return None
    return {
        "cycles": [
            {
                "cycle_id": c.cycle_id,
                "assess_on": c.assess_on.isoformat(),
                "plan_on": c.plan_on.isoformat(),
                "do_from": c.do_from.isoformat(),
                "review_on": _iso(c.review_on),
                "setting_id": c.setting_id,
            }
            for c in evidence.cycles
        ],
        "reviewed_cycles": evidence.reviewed_cycles,
        "notional_spend": [
            {"academic_year": year, "amount_pounds": pounds}
            for year, pounds in evidence.notional_spend
        ],
        "threshold_pounds": evidence.threshold_pounds,
        "threshold_reached": evidence.threshold_reached,
        "top_up": [
            {
                "request_id": r.request_id,
                "requested_on": r.requested_on.isoformat(),
                "requested_pounds": r.requested_pounds,
                "outcome": r.outcome.name if r.outcome else None,
                "decided_on": _iso(r.decided_on),
                "agreed_pounds": r.agreed_pounds,
            }
            for r in evidence.top_up
        ],
        "notes": list(evidence.notes),
    }


def _care_json(care: CareSummary | None) -> dict[str, Any] | None:
    if care is None:
        return None
    return {
        "status": care.status.name,
        "since": _iso(care.since),
        "route": care.route.name if care.route else None,
        "looking_after_la": care.looking_after_la,
        "virtual_school_head_la": care.virtual_school_head_la,
        "virtual_school_head_agency": care.virtual_school_head_agency,
        "pupil_premium_plus": care.pupil_premium_plus,
        "pupil_premium_plus_expected": care.pupil_premium_plus_expected,
        "notes": list(care.notes),
    }


def _academic_year(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


def _support_lines(evidence: SenSupportEvidence) -> list[str]:
    lines = ["", "SEN Support evidence:"]
    lines.append(
        f"  Graduated approach: {len(evidence.cycles)} cycle(s), "
        f"{evidence.reviewed_cycles} reviewed"
    )
    for c in evidence.cycles:
        review = c.review_on.isoformat() if c.review_on else "not yet reviewed"
        lines.append(
            f"    {c.cycle_id}: assess {c.assess_on.isoformat()}, plan {c.plan_on.isoformat()}, "
            f"do from {c.do_from.isoformat()}, review {review}"
        )
    for year, pounds in evidence.notional_spend:
        lines.append(f"  Notional SEN budget spent {_academic_year(year)}: {pounds:,} pounds")
    if evidence.threshold_reached is not None:
        lines.append(
            f"  First {evidence.threshold_pounds:,} pounds met from the notional SEN budget: "
            + ("yes" if evidence.threshold_reached else "no")
        )
    for r in evidence.top_up:
        decision = (
            "not decided yet"
            if r.outcome is None or r.decided_on is None
            else f"{r.outcome.name} on {r.decided_on.isoformat()}"
            + (f", {r.agreed_pounds:,} pounds" if r.agreed_pounds else "")
        )
        lines.append(
            f"  Top-up request {r.request_id} on {r.requested_on.isoformat()} for "
            f"{r.requested_pounds:,} pounds: {decision}"
        )
    lines.extend(f"  Note: {n}" for n in evidence.notes)
    return lines


def _care_lines(care: CareSummary) -> list[str]:
    status = care.status.name.replace("_", " ").lower()
    if care.route is not None:
        status += f" ({care.route.name.replace('_', ' ').lower()})"
    if care.since is not None:
        status += f" since {care.since.isoformat()}"
    lines = ["", "Care status:", f"  {status}"]
    if care.looking_after_la:
        lines.append(f"  Looked after by LA {care.looking_after_la}")
    if care.virtual_school_head_la:
        vsh_agency = care.virtual_school_head_agency
        agency = f" (agency {vsh_agency})" if vsh_agency else ""
        lines.append(f"  Virtual School Head: LA {care.virtual_school_head_la}{agency}")
    recorded = {None: "not recorded", True: "eligible", False: "not eligible"}[
        care.pupil_premium_plus
    ]
    expected = "eligible" if care.pupil_premium_plus_expected else "not eligible"
    lines.append(f"  Pupil Premium Plus: {recorded} (care status points to: {expected})")
    lines.extend(f"  Note: {n}" for n in care.notes)
    return lines


def _care_to_show(care: CareSummary | None) -> bool:
    return care is not None and (
        care.status is not CareStatus.NOT_LOOKED_AFTER
        or care.since is not None
        or care.virtual_school_head_la is not None
        or care.pupil_premium_plus is not None
    )


def render_text(assessment: CaseAssessment) -> str:
    """A plain-text explanation of the assessment for LA staff (no personal data)."""
    lines = [
        f"Case {assessment.case_id} as of {assessment.as_of.isoformat()}",
        f"Stage: {assessment.stage.name.replace('_', ' ').lower()}",
    ]
    if assessment.received_on is not None:
        lines.append(f"Request counts as received on: {assessment.received_on.isoformat()}")
    lines.append("")
    lines.append("Statutory dates:")
    for d in assessment.statutory_dates:
        done = f", done {d.completed_on.isoformat()}" if d.completed_on else ""
        excused = f" (excused: {', '.join(d.exception_ids)})" if d.excused else ""
        lines.append(f"  {d.due_on.isoformat()}  {d.name:<38} {d.status.name}{done}{excused}")
        lines.append(f"      {d.rule_text} [{d.regulation}]")
    lines.append("")
    lines.append("Advice:")
    if not assessment.advice:
        lines.append("  (none yet)")
    for a in assessment.advice:
        parts = [f"  {ADVICE_LABEL[a.advice_type]} [{a.regulation}]: {a.status.name}"]
        if a.request_id:
            parts.append(f"request {a.request_id}")
        if a.agency_id:
            parts.append(f"agency {a.agency_id}")
        if a.due_on:
            parts.append(f"due {a.due_on.isoformat()}")
        if a.submitted_on:
            parts.append(f"submitted {a.submitted_on.isoformat()}")
        if a.excused:
            parts.append(f"excused by {', '.join(a.exception_ids)}")
        if a.decline_reason is not None:
            parts.append(f"declined: {a.decline_reason.name}")
        if not a.required:
            parts.append("optional")
        lines.append(", ".join(parts))
    lines.append("")
    lines.append("Exceptions:")
    if not assessment.exceptions:
        lines.append("  (none)")
    in_force = {e.exception_id for e in assessment.exceptions_in_force}
    for e in assessment.exceptions:
        until = e.ends_on.isoformat() if e.ends_on else "open"
        flags = []
        if e.derived:
            flags.append("derived from closure periods")
        if not e.qualifies:
            flags.append("does not qualify (absence under 4 weeks)")
        if e.exception_id in in_force:
            flags.append("in force")
        about = f" for request {e.request_id}" if e.request_id else ""
        note = f" ({'; '.join(flags)})" if flags else ""
        lines.append(
            f"  {e.exception_id}: {e.regulation}{about}, {e.starts_on.isoformat()} to {until}{note}"
        )
    if assessment.facts:
        lines.append("")
        lines.append("Plan history:")
        for fact in assessment.facts:
            flag = " [CONCERN]" if fact.concern else ""
            lines.append(f"  {fact.on.isoformat()}  {fact.text}{flag} [{fact.regulation}]")
    t = assessment.timeliness
    lines.append("")
    lines.append(
        "20 weeks: "
        + {None: "not decided yet", True: "met", False: "missed"}[t.final_plan_within_20_weeks]
        + ("; exceptions apply (SEN2 flag)" if t.exceptions_apply else "")
    )
    if assessment.sen_support is not None and not assessment.sen_support.empty:
        lines.extend(_support_lines(assessment.sen_support))
    if assessment.care is not None and _care_to_show(assessment.care):
        lines.extend(_care_lines(assessment.care))
    if assessment.delegations:
        lines.extend(["", "Health advice delegated by the DCO:"])
        for p in assessment.delegations:
            done = f" on {p.done_on.isoformat()}" if p.done_on else ""
            lines.append(
                f"  part {p.part_id} of request {p.parent_request_id}: {p.service} at "
                f"{p.agency_id}, sent {p.sent_on.isoformat()}, due {p.due_on.isoformat()}, "
                f"{p.status.name}{done}"
            )
    lines.append("")
    lines.append("Alerts:")
    if not assessment.alerts:
        lines.append("  (none)")
    for alert in assessment.alerts:
        lines.append(f"  [{alert.severity.name}] {alert.kind.name}: {alert.message}")
    nxt = assessment.next_change_on
    lines.append("")
    lines.append(f"Alerts next change on: {nxt.isoformat() if nxt else 'no scheduled change'}")
    return "\n".join(lines) + "\n"
