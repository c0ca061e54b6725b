"""What a case sends: routing-index entries, advice requests, alerts and its status (pure).

Every output has a deterministic event id (a UUID 5 of the case and what it is about), so a
replay after a crash repeats ids instead of inventing new ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from ehcp.casework.model import Alert, CaseAssessment, Stage, StatutoryDate
from ehcp.casework.policy import Policy
from ehcp.casework.rules.advice import required_advice
from ehcp.contract.keys import child_key, identifiers_of
from ehcp.contract.records import Emit, advice_requested
from ehcp.contract.topics import ADVICE_REQUESTS, ALERTS, CASE_STATUS, CHILD_INDEX
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.routing import CASE_ID_LINK
from streams.stages.case_mapping import agency_record

_IDS: Final = uuid.UUID("0f8e7a4e-54c6-4a39-8e55-1f3b7c1d2a90")


def request_id_for(case_id: str, advice_type: str) -> str:
    """The deterministic id of the advice request the exchange sends for a case."""
    return str(uuid.uuid5(_IDS, f"request|{case_id}|{advice_type}"))


def case_id_link(case_id: str, date_of_birth: date, linked_at: datetime) -> Emit:
    """The routing-index entry saying the case exists, keyed by the case id itself.

    Contributions naming a case id are keyed by it, so the routing stage finds this entry under
    the same key and routes them; before it arrives they are parked (:mod:`ehcp.routing`).
    """
    link = {
        "event_id": str(uuid.uuid5(_IDS, f"link|{case_id}|{CASE_ID_LINK}")),
        "case_id": case_id,
        "identifier_system": CASE_ID_LINK,
        "date_of_birth": date_of_birth,
        "linked_at": linked_at,
        "case_open": True,
    }
    return Emit(CHILD_INDEX, case_id, link, case_id)


def open_case(
    referral: Mapping[str, Any],
    assessment: CaseAssessment | None,
    policy: Policy,
    pseudonym_key: bytes,
) -> list[Emit]:
    """Routing-index entries for the case and the child, and requests for the required advice."""
    case_id = referral["case_id"]
    child = referral["child"]
    received_at: datetime = referral["received_at"]
    outputs: list[Emit] = [case_id_link(case_id, child["date_of_birth"], received_at)]
    for identifier in identifiers_of(child["identifiers"]):
        link = {
            "event_id": str(uuid.uuid5(_IDS, f"link|{case_id}|{identifier.system}")),
            "case_id": case_id,
            "identifier_system": identifier.system,
            "date_of_birth": child["date_of_birth"],
            "linked_at": received_at,
            "case_open": True,
        }
        outputs.append(Emit(CHILD_INDEX, child_key(pseudonym_key, identifier), link, case_id))
    sent_on = (
        assessment.received_on if assessment and assessment.received_on else received_at.date()
    )
    providers = {p["advice_type"]: p["agency"] for p in referral.get("advice_providers", [])}
    required = required_advice(
        year_group=child["year_group"],
        date_of_birth=child["date_of_birth"],
        on=sent_on,
        vision_impairment=child["vision_impairment"],
        hearing_impairment=child["hearing_impairment"],
        looked_after=child["looked_after"],
        virtual_school_head_for_looked_after=policy.virtual_school_head_for_looked_after,
    )
    for advice_type in required:
        agency = providers.get(advice_type.value)
        if agency is None:
            continue  # nobody named: the engine reports it ADVICE_NOT_REQUESTED
        request_id = request_id_for(case_id, advice_type.value)
        request = advice_requested(
            event_id=str(uuid.uuid5(_IDS, f"requested|{request_id}")),
            request_id=request_id,
            case_id=case_id,
            advice_type=advice_type.value,
            agency=agency,
            child_identifiers=child["identifiers"],
            sent_on=sent_on,
            requester={"system": LA_CODE_SYSTEM, "value": referral["la_code"]},
        )
        outputs.append(Emit(ADVICE_REQUESTS, case_id, request, case_id))
    return outputs


def alert_changes(state: dict[str, Any], assessment: CaseAssessment) -> list[Emit]:
    """Raise alerts newly due; resolve raised ones no longer due. Each fires once.

    The state keeps each raised alert's details (updated in place), so its resolution names the
    same advice, agency and due date.
    """
    raised: dict[str, Any] = dict(state["alerts"])
    # How often each alert was raised before: an alert raised again after it was resolved is a
    # new episode with new event ids, so readers that de-duplicate by event id still see it.
    raises: dict[str, int] = dict(state.get("alert_raises", {}))
    current = {a.alert_id: a for a in assessment.alerts}
    outputs: list[Emit] = []
    for alert_id, alert in current.items():
        if alert_id not in raised:
            episode = raises.get(alert_id, 0)
            record = alert_record(alert, "RAISED", assessment.as_of, episode)
            raised[alert_id] = {
                k: (v.isoformat() if isinstance(v, date) else v)
                for k, v in record.items()
                if k not in ("event_id", "as_of")
            }
            if episode:
                raised[alert_id]["episode"] = episode
            raises[alert_id] = episode + 1
            outputs.append(Emit(ALERTS, assessment.case_id, record, assessment.case_id))
    for alert_id in [a for a in raised if a not in current]:
        details = raised.pop(alert_id)
        episode = details.pop("episode", 0)
        due_on = details["due_on"]
        resolved = {
            **details,
            "event_id": transition_id(alert_id, "RESOLVED", episode),
            "status": "RESOLVED",
            "due_on": date.fromisoformat(due_on) if due_on else None,
            "message": f"resolved: {details['message']}",
            "as_of": assessment.as_of,
        }
        outputs.append(Emit(ALERTS, assessment.case_id, resolved, assessment.case_id))
    state["alerts"] = raised
    if raises:
        state["alert_raises"] = raises
    return outputs


def transition_id(alert_id: str, status: str, episode: int = 0) -> str:
    """The event id of one alert transition (RAISED or RESOLVED) in its ``episode``.

    Episode 0 keeps the ids alerts had before episodes were counted, so a replay over an old
    changelog repeats them.
    """
    suffix = f"|{episode}" if episode else ""
    return str(uuid.uuid5(_IDS, f"{alert_id}|{status}{suffix}"))


def refused_contribution_alert(case_id: str, record: Mapping[str, Any], reason: str) -> Emit:
    """A CRITICAL ``CONTRIBUTION_UNROUTED`` alert: advice refused for the case it names.

    The kind says what monitoring staff must act on: the advice is not in the case. It is raised
    once (deterministic ids) and never resolved by the exchange: staff resolve it by hand.
    """
    contribution_id = record["contribution_id"]
    alert_id = str(
        uuid.uuid5(_IDS, f"refused|{case_id}|{record['agency']['value']}|{contribution_id}")
    )
    advice = str(record["advice_type"]).lower().replace("_", " ")
    alert = {
        "event_id": str(uuid.uuid5(_IDS, f"{alert_id}|RAISED")),
        "alert_id": alert_id,
        "case_id": case_id,
        "kind": "CONTRIBUTION_UNROUTED",
        "status": "RAISED",
        "severity": "CRITICAL",
        "advice_type": record["advice_type"],
        "agency": dict(record["agency"]),
        "due_on": None,
        "days_overdue": 0,
        "regulation": "reg 6(1)",
        "message": f"{advice} advice {contribution_id} refused: {reason}",
        "as_of": record["submitted_at"].date(),
    }
    return Emit(ALERTS, case_id, alert, case_id)


def refused_status_change_alert(case_id: str, record: Mapping[str, Any], advice_type: str,
                                reason: str) -> Emit:
    """A CRITICAL alert: a request's status change by another body than the one asked, refused.

    Like :func:`refused_contribution_alert`, raised once (deterministic ids, from the event id)
    and resolved by staff, not by the exchange. The agency named is the one that sent it.
    """
    alert_id = str(uuid.uuid5(_IDS, f"refused-status|{case_id}|{record['event_id']}"))
    alert = {
        "event_id": str(uuid.uuid5(_IDS, f"{alert_id}|RAISED")),
        "alert_id": alert_id,
        "case_id": case_id,
        "kind": "OTHER",
        "status": "RAISED",
        "severity": "CRITICAL",
        "advice_type": advice_type,
        "agency": dict(record["owner"]),
        "due_on": None,
        "days_overdue": 0,
        "regulation": "reg 8(1)",
        "message": f"{str(record['status']).lower()} of advice request {record['request_id']} "
                   f"refused: {reason}",
        "as_of": record["changed_at"].date(),
    }
    return Emit(ALERTS, case_id, alert, case_id)


def alert_record(alert: Alert, status: str, as_of: date, episode: int = 0) -> dict[str, Any]:
    """The Avro ``Alert`` record for a casework alert (``episode``: see :func:`transition_id`)."""
    return {
        "event_id": transition_id(alert.alert_id, status, episode),
        "alert_id": alert.alert_id,
        "case_id": alert.case_id,
        "kind": alert.kind.value,
        "status": status,
        "severity": alert.severity.value,
        "advice_type": alert.advice_type.value if alert.advice_type else None,
        "agency": agency_record(alert.agency_id),
        "due_on": alert.due_on,
        "days_overdue": alert.days_overdue,
        "regulation": alert.regulation,
        "message": alert.message,
        "as_of": as_of,
    }


def statutory_date_record(due: StatutoryDate) -> dict[str, Any]:
    """The Avro ``StatutoryDateItem`` (CaseStatus v3) for one of the engine's time limits."""
    return {
        "name": due.name,
        "due_on": due.due_on,
        "status": due.status.value,
        "completed_on": due.completed_on,
        "regulation": due.regulation,
        "rule_text": due.rule_text,
        "clock_started_on": due.clock_started_on,
        "excused": due.excused,
        "exception_ids": list(due.exception_ids),
    }


def status_record(state: Mapping[str, Any], assessment: CaseAssessment,
                  la_code: str | None = None) -> Emit:
    """The case's ``CaseStatus`` for the compacted case-status topic.

    ``la_code`` (v4) is the LA that owns the case now: the first referral's, or the new LA's
    after a reg 15 transfer, so the read model files the case under whoever wrote last.
    """
    final = assessment.statutory_date("final_plan_due")
    decision = assessment.statutory_date("decision_to_assess_due")
    refused = assessment.stage is Stage.ASSESSMENT_REFUSED
    status = {
        "case_id": assessment.case_id,
        "stage": assessment.stage.value,
        "received_on": assessment.received_on,
        "final_plan_due_on": final.due_on if final else None,
        "as_of": assessment.as_of,
        "advice": [
            {
                "advice_type": item.advice_type.value,
                "regulation": item.regulation,
                "status": item.status.value,
                "request_id": item.request_id,
                "agency": agency_record(item.agency_id),
                "due_on": item.due_on,
                "contribution_ids": list(item.contribution_ids),
                "decline_reason": item.decline_reason.value if item.decline_reason else None,
            }
            for item in assessment.advice
        ],
        "open_alerts": len(state["alerts"]),
        # v3: every limit the engine works out, generic so a new limit needs no schema change.
        "statutory_dates": [statutory_date_record(d) for d in assessment.statutory_dates],
        # The decision's limit is completed by a refusal too: only a decision to assess counts.
        "decided_to_assess_on": None if decision is None or refused else decision.completed_on,
        "final_plan_issued_on": final.completed_on if final else None,
        "exceptions_apply": assessment.timeliness.exceptions_apply,
        "la_code": la_code,
    }
    return Emit(CASE_STATUS, assessment.case_id, status, assessment.case_id)
