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

Dates are ISO strings or null; enums are member names.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ehcp.casework.events import ADVICE_LABEL
from ehcp.casework.model import CaseAssessment

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
    }


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
