"""The case stage: contract records in, the case's state and its consequences out (pure).

The ``process_cases`` agent hands it the case's stored state and one decoded record; it returns
the new state and the records to send. The stored state keeps each accepted input as its Avro
bytes (so nothing is lost in translation) plus the alerts already raised; every evaluation maps
the inputs to casework events and calls :func:`ehcp.casework.engine.evaluate`, the same function
``ehcp case explain`` uses.

Idempotent: an input whose event id (or contribution id) was already applied changes nothing,
and every output has a deterministic event id, so a replay after a crash repeats nothing new.

Event time, not processing time: a case is evaluated as of the latest event date it has seen (a
``CaseTick`` from the alert timer moves it forward), so replaying the same events gives the
same dates and alerts.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.casework.jsonl import parse_event
from ehcp.casework.model import Alert, CaseAssessment
from ehcp.casework.policy import Policy
from ehcp.casework.rules.advice import advice_due_on, required_advice
from ehcp.contract.avro import AvroCodec, default_codec
from ehcp.contract.keys import child_key, identifiers_of
from ehcp.contract.topics import ADVICE_REQUESTS, ALERTS, CASE_STATUS, CHILD_INDEX, NS
from ehcp.errors import CaseworkError, ContractError, ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM

REFERRAL: Final = f"{NS}.ReferralReceived"
ADVICE_REQUESTED: Final = f"{NS}.AdviceRequested"
ADVICE_SUBMITTED: Final = f"{NS}.AdviceSubmitted"
CASE_TICK: Final = f"{NS}.CaseTick"
CASEWORK_EVENT: Final = f"{NS}.CaseworkEventRecorded"
TASK_STATUS_CHANGED: Final = f"{NS}.TaskStatusChanged"
ACCEPTED: Final = (
    REFERRAL,
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    CASEWORK_EVENT,
    TASK_STATUS_CHANGED,
)
#: FHIR Task reason codes (connectors/fhir/codes.py) that are reg 8(2) grounds.
TASK_REASON_GROUNDS: Final = {
    "reg-8-2-a": ev.ExceptionGround.REG_8_2_A,
    "reg-8-2-b": ev.ExceptionGround.REG_8_2_B,
    "reg-8-2-c": ev.ExceptionGround.REG_8_2_C,
}
TASK_DECLINE_REASONS: Final = {"wrong-recipient": ev.DeclineReason.WRONG_SERVICE}
_IDS: Final = uuid.UUID("0f8e7a4e-54c6-4a39-8e55-1f3b7c1d2a90")

Output = tuple[str, str, dict[str, Any], str]  # topic, key, record, CloudEvents subject


def agency_id(agency: Mapping[str, str]) -> str:
    """A casework agency id from an Avro Identifier: ``system|value``."""
    return f"{agency['system']}|{agency['value']}"


def agency_record(agency: str | None) -> dict[str, str] | None:
    """The Avro Identifier for a casework agency id."""
    if agency is None or "|" not in agency:
        return None
    system, value = agency.rsplit("|", 1)
    return {"system": system, "value": value}


def request_id_for(case_id: str, advice_type: str) -> str:
    """The deterministic id of the advice request the exchange sends for a case."""
    return str(uuid.uuid5(_IDS, f"request|{case_id}|{advice_type}"))


def to_casework_event(name: str, record: Mapping[str, Any]) -> ev.CaseEvent | None:
    """Map one contract record to the casework event it states (None for a tick).

    Raises:
        ContractError: a record type the case stage does not take.
    """
    if name == REFERRAL:
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
    if name == CASEWORK_EVENT:
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
    """A health body's Task change as casework: a reg 8(2) ground or a decline (else nothing).

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
            reason=TASK_DECLINE_REASONS.get(code or "", ev.DeclineReason.OTHER),
        )
    return None


def stored_casework_events(state: Mapping[str, Any], codec: AvroCodec) -> list[ev.CaseEvent]:
    """The casework events of a stored case state (the inputs kept as Avro bytes)."""
    out = []
    for item in state.get("inputs", []):
        name, record = codec.decode(base64.b64decode(item["avro"]))
        event = to_casework_event(name, record)
        if event is not None:
            out.append(event)
    return out


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What one input did to a case."""

    state: dict[str, Any]
    changed: bool
    outputs: list[Output] = field(default_factory=list)
    next_due: date | None = None


def _event_date(name: str, record: Mapping[str, Any]) -> date:
    when: date
    if name == CASEWORK_EVENT:
        when = record["occurred_on"]
    elif name == TASK_STATUS_CHANGED:
        when = record["changed_at"].astimezone(UTC).date()
    elif name == REFERRAL:
        when = record["received_at"].astimezone(UTC).date()
    elif name == ADVICE_REQUESTED:
        when = record["sent_on"]
    elif name == ADVICE_SUBMITTED:
        when = record["submitted_at"].astimezone(UTC).date()
    else:
        when = record["as_of"]
    return when


class CaseProcessor:
    """Folds contract records into a case and works out what follows."""

    def __init__(self, pseudonym_key: bytes, policy: Policy, codec: AvroCodec) -> None:
        self._key = pseudonym_key
        self._policy = policy
        self._codec = codec

    @classmethod
    def default(cls, pseudonym_key: bytes) -> CaseProcessor:
        """A processor with the default policy and the project's schemas."""
        return cls(pseudonym_key, Policy(), default_codec())

    def casework_events(self, state: Mapping[str, Any]) -> list[ev.CaseEvent]:
        """The case's inputs as casework events (what ``ehcp case explain`` would be given)."""
        return stored_casework_events(state, self._codec)

    def assess(self, state: Mapping[str, Any]) -> CaseAssessment | None:
        """Evaluate the case as of its latest event date (None before any casework event)."""
        events = self.casework_events(state)
        if not events:
            return None
        return evaluate(events, date.fromisoformat(state["as_of"]), self._policy)

    def next_due(self, state: Mapping[str, Any]) -> date | None:
        """The next date on which the case's alerts change with no new event."""
        assessment = self.assess(state)
        return assessment.next_change_on if assessment else None

    def on_event(
        self, state: Mapping[str, Any] | None, case_id: str, name: str, record: dict[str, Any]
    ) -> CaseOutcome:
        """Apply one record to the case and return the new state and the records to send.

        Raises:
            ContractError: a record of another type, or for another case than its key.
        """
        if name not in ACCEPTED:
            raise ContractError(f"the case stage does not take {name}")
        if not record.get("case_id") or record.get("case_id") != case_id:
            raise ContractError("the record's case id does not match its Kafka key")
        current: dict[str, Any] = dict(
            state or {"inputs": [], "seen": [], "alerts": {}, "as_of": None}
        )
        dedupe_id = record.get("contribution_id") or record["event_id"]
        if dedupe_id in current["seen"]:
            return CaseOutcome(current, changed=False, next_due=self.next_due(current))
        if name == CASEWORK_EVENT:
            self._check_recorder(current, record)
        event_day = _event_date(name, record)
        as_of = max(
            filter(None, [current["as_of"] and date.fromisoformat(current["as_of"]), event_day])
        )
        current["as_of"] = as_of.isoformat()
        current["seen"] = [*current["seen"], dedupe_id]
        if name != CASE_TICK:
            try:
                to_casework_event(name, record)  # fail fast on a record the domain refuses
            except CaseworkError as exc:
                raise ContractError(f"{name.rsplit('.', 1)[-1]} refused: {exc}") from exc
            current["inputs"] = [
                *current["inputs"],
                {
                    "id": dedupe_id,
                    "avro": base64.b64encode(self._codec.encode(name, record)).decode(),
                },
            ]
        outputs: list[Output] = []
        assessment = self.assess(current)
        if name == REFERRAL:
            outputs += self._open_case(record, assessment)
        if assessment is not None:
            outputs += self._alert_changes(current, assessment)
            outputs.append((CASE_STATUS.name, case_id, self._status(current, assessment), case_id))
        return CaseOutcome(
            current,
            changed=True,
            outputs=outputs,
            next_due=assessment.next_change_on if assessment else None,
        )

    def _case_la_code(self, state: Mapping[str, Any]) -> str | None:
        """The LA code of the case's referral, if it has arrived."""
        for item in state.get("inputs", []):
            name, record = self._codec.decode(base64.b64decode(item["avro"]))
            if name == REFERRAL:
                return str(record["la_code"])
        return None

    def _check_recorder(self, state: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        """Refuse a casework event recorded by another LA than the one that owns the case.

        Raises:
            ContractError: the event is dead-lettered with this reason (LA codes only).
        """
        by = record["recorded_by"]
        if by["system"] != LA_CODE_SYSTEM:
            return  # a school recording its own term dates, for example
        owner = self._case_la_code(state)
        if owner is not None and by["value"] != owner:
            raise ContractError(
                f"casework event recorded by LA {by['value']}, but the case belongs to LA {owner}"
            )

    def _open_case(
        self, referral: Mapping[str, Any], assessment: CaseAssessment | None
    ) -> list[Output]:
        """Routing-index entries for the child, and advice requests for the required advice."""
        case_id = referral["case_id"]
        child = referral["child"]
        received_at: datetime = referral["received_at"]
        outputs: list[Output] = []
        for identifier in identifiers_of(child["identifiers"]):
            link = {
                "event_id": str(uuid.uuid5(_IDS, f"link|{case_id}|{identifier.system}")),
                "case_id": case_id,
                "identifier_system": identifier.system,
                "date_of_birth": child["date_of_birth"],
                "linked_at": received_at,
                "case_open": True,
            }
            outputs.append((CHILD_INDEX.name, child_key(self._key, identifier), link, case_id))
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
            virtual_school_head_for_looked_after=self._policy.virtual_school_head_for_looked_after,
        )
        for advice_type in required:
            agency = providers.get(advice_type.value)
            if agency is None:
                continue  # nobody named: the engine reports it ADVICE_NOT_REQUESTED
            request_id = request_id_for(case_id, advice_type.value)
            outputs.append(
                (
                    ADVICE_REQUESTS.name,
                    case_id,
                    {
                        "event_id": str(uuid.uuid5(_IDS, f"requested|{request_id}")),
                        "request_id": request_id,
                        "case_id": case_id,
                        "advice_type": advice_type.value,
                        "regulation": ev.ADVICE_REGULATION[advice_type],
                        "agency": dict(agency),
                        "child_identifiers": [dict(i) for i in child["identifiers"]],
                        "sent_on": sent_on,
                        "due_on": advice_due_on(sent_on),
                    },
                    case_id,
                )
            )
        return outputs

    def _alert_changes(self, state: dict[str, Any], assessment: CaseAssessment) -> list[Output]:
        """Raise alerts newly due; resolve raised ones no longer due. Each fires once.

        The state keeps each raised alert's details, so its resolution names the same advice,
        agency and due date.
        """
        raised: dict[str, Any] = dict(state["alerts"])
        current = {a.alert_id: a for a in assessment.alerts}
        outputs: list[Output] = []
        for alert_id, alert in current.items():
            if alert_id not in raised:
                record = self._alert_record(alert, "RAISED", assessment.as_of)
                raised[alert_id] = {
                    k: (v.isoformat() if isinstance(v, date) else v)
                    for k, v in record.items()
                    if k not in ("event_id", "as_of")
                }
                outputs.append((ALERTS.name, assessment.case_id, record, assessment.case_id))
        for alert_id in [a for a in raised if a not in current]:
            details = raised.pop(alert_id)
            due_on = details["due_on"]
            outputs.append(
                (
                    ALERTS.name,
                    assessment.case_id,
                    {
                        **details,
                        "event_id": str(uuid.uuid5(_IDS, f"{alert_id}|RESOLVED")),
                        "status": "RESOLVED",
                        "due_on": date.fromisoformat(due_on) if due_on else None,
                        "message": f"resolved: {details['message']}",
                        "as_of": assessment.as_of,
                    },
                    assessment.case_id,
                )
            )
        state["alerts"] = raised
        return outputs

    @staticmethod
    def _alert_record(alert: Alert, status: str, as_of: date) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid5(_IDS, f"{alert.alert_id}|{status}")),
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

    @staticmethod
    def _status(state: Mapping[str, Any], assessment: CaseAssessment) -> dict[str, Any]:
        final = assessment.statutory_date("final_plan_due")
        return {
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
                }
                for item in assessment.advice
            ],
            "open_alerts": len(state["alerts"]),
        }
