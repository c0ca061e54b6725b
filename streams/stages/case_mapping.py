"""Contract records as casework events: what each record the case stage takes states (pure).

The mapping is the one place that knows both the Avro contract and :mod:`ehcp.casework`; the
case stage stores what it returns and :func:`ehcp.casework.engine.evaluate` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date
from typing import Any, Final

from ehcp.casework import events as ev
from ehcp.casework.jsonl import parse_event
from ehcp.contract.records import (
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    CASEWORK_EVENT_RECORDED,
    REFERRAL_RECEIVED,
    TASK_STATUS_CHANGED,
)
from ehcp.errors import ContractError, ValidationError

#: The record names the case stage takes.
ACCEPTED: Final = (
    REFERRAL_RECEIVED,
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    CASEWORK_EVENT_RECORDED,
    TASK_STATUS_CHANGED,
)
#: FHIR Task reason codes (connectors/fhir/codes.py) that are reg 8(2) grounds.
TASK_REASON_GROUNDS: Final = {
    "reg-8-2-a": ev.ExceptionGround.REG_8_2_A,
    "reg-8-2-b": ev.ExceptionGround.REG_8_2_B,
    "reg-8-2-c": ev.ExceptionGround.REG_8_2_C,
}
#: FHIR Task reason codes that explain a rejection. Only the code crosses into the case:
#: ``statusReason.text`` is free text that may hold personal data, so it stays on the Task and
#: the task-status topic and is never copied into casework events or the case status.
TASK_DECLINE_REASONS: Final = {
    "wrong-recipient": ev.DeclineReason.WRONG_SERVICE,
    "duplicate-request": ev.DeclineReason.DUPLICATE_REQUEST,
    "other": ev.DeclineReason.OTHER,
}


#: ``DeclineReason`` codes, as the JSON APIs' advice-request routes put them in ``reason_code``.
JSON_DECLINE_REASONS: Final = {reason.value: reason for reason in ev.DeclineReason}


def decline_reason(code: str | None) -> ev.DeclineReason:
    """The casework reason of a rejection's code: a FHIR advice-task-reason code or a
    ``DeclineReason`` code; anything else is OTHER."""
    return (TASK_DECLINE_REASONS.get(code or "") or JSON_DECLINE_REASONS.get(code or "")
            or ev.DeclineReason.OTHER)


def agency_id(agency: Mapping[str, str]) -> str:
    """A casework agency id from an Avro Identifier: ``system|value``."""
    return f"{agency['system']}|{agency['value']}"


def agency_record(agency: str | None) -> dict[str, str] | None:
    """The Avro Identifier for a casework agency id."""
    if agency is None or "|" not in agency:
        return None
    system, value = agency.rsplit("|", 1)
    return {"system": system, "value": value}


def to_casework_event(name: str, record: Mapping[str, Any]) -> ev.CaseEvent | None:
    """Map one contract record to the casework event it states (None for a tick).

    Raises:
        ContractError: a record type the case stage does not take.
    """
    if name == REFERRAL_RECEIVED:
        child = record["child"]
        institution = record.get("institution")
        return ev.RequestForAssessmentReceived(
            event_id=record["event_id"],
            case_id=record["case_id"],
            received_at=record["received_at"],
            date_of_birth=child["date_of_birth"],
            year_group=child["year_group"],
            vision_impairment=child["vision_impairment"],
            hearing_impairment=child["hearing_impairment"],
            looked_after=child["looked_after"],
            setting_id=agency_id(institution) if institution else None,
        )
    if name == ADVICE_REQUESTED and record.get("part_of"):
        # A part the ICB's DCO delegated to a provider (AdviceRequested v3): not an LA request.
        service = str(record.get("service") or "OTHER")
        return ev.AdviceDelegated(
            event_id=record["event_id"],
            case_id=record["case_id"],
            part_id=record["request_id"],
            parent_request_id=str(record["part_of"]),
            agency_id=agency_id(record["agency"]),
            service=ev.HealthService[service] if service in ev.HealthService.__members__
            else ev.HealthService.OTHER,
            sent_on=record["sent_on"],
            due_on=record["due_on"],
        )
    if name == ADVICE_REQUESTED:
        return ev.AdviceRequested(
            event_id=record["event_id"],
            case_id=record["case_id"],
            request_id=record["request_id"],
            advice_type=ev.AdviceType[record["advice_type"]],
            agency_id=agency_id(record["agency"]),
            sent_on=record["sent_on"],
        )
    if name == ADVICE_SUBMITTED:
        return ev.AdviceSubmitted(
            event_id=record["event_id"],
            case_id=record["case_id"],
            contribution_id=record["contribution_id"],
            advice_type=ev.AdviceType[record["advice_type"]],
            submitted_on=record["submitted_at"].astimezone(UTC).date(),
            request_id=record.get("request_id"),
            agency_id=agency_id(record["agency"]),
        )
    if name == CASEWORK_EVENT_RECORDED:
        try:
            event = parse_event(json.loads(record["event_json"]))
        except (ValueError, ValidationError) as exc:
            raise ContractError(f"casework event {record['event_id']} is invalid: {exc}") from exc
        if event.case_id != record["case_id"] or event.event_id != record["event_id"]:
            raise ContractError("the casework event's ids do not match its envelope")
        return event
    if name == TASK_STATUS_CHANGED:
        return _task_status_event(record)
    if name == CASE_TICK:
        return None
    raise ContractError(f"the case stage does not take {name}")


def _task_status_event(record: Mapping[str, Any]) -> ev.CaseEvent | None:
    """A body's request status change as casework: a reg 8(2) ground or a decline (else nothing).

    Accepting or completing a Task changes no deadline (the advice itself arrives as a
    DocumentReference); a reg 8(2) reason code records that exception against the request; any
    other rejection records a decline, which does not stop the LA's clock.
    """
    day = record["changed_at"].astimezone(UTC).date()
    code = record.get("reason_code")
    if code in TASK_REASON_GROUNDS:
        return ev.TimescaleExceptionRecorded(
            event_id=record["event_id"],
            case_id=record["case_id"],
            exception_id=f"task:{record['request_id']}:{code}",
            ground=TASK_REASON_GROUNDS[code],
            starts_on=day,
            request_id=record["request_id"],
            occurred_on=day,
        )
    if record["status"] == "REJECTED":
        return ev.AdviceRequestDeclined(
            event_id=record["event_id"],
            case_id=record["case_id"],
            request_id=record["request_id"],
            occurred_on=day,
            reason=decline_reason(code),
            detail=f"FHIR Task statusReason {code}" if code in TASK_DECLINE_REASONS else "",
        )
    return None


def event_date(name: str, record: Mapping[str, Any]) -> date:
    """The date a record happened on (UTC), which moves the case's evaluation date forward."""
    when: date
    if name == CASEWORK_EVENT_RECORDED:
        when = record["occurred_on"]
    elif name == TASK_STATUS_CHANGED:
        when = record["changed_at"].astimezone(UTC).date()
    elif name == REFERRAL_RECEIVED:
        when = record["received_at"].astimezone(UTC).date()
    elif name == ADVICE_REQUESTED:
        when = record["sent_on"]
    elif name == ADVICE_SUBMITTED:
        when = record["submitted_at"].astimezone(UTC).date()
    else:
        when = record["as_of"]
    return when
