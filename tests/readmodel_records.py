"""Records of the projected topics for the read-model tests (unit and integration), as bytes."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import (
    ALERTS,
    CASE_STATUS,
    CONTRIBUTIONS_ROUTED,
    DEAD_LETTER_ERROR_PREFIX,
    REFERRALS,
    UNROUTED,
)
from tests.unit.contract.records import ADVICE_SUBMITTED, ALERT, REFERRAL_RECEIVED

CODEC = default_codec()

#: (topic, key, value, headers) as a producer sends them.
Message = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def referral(case_id: str, la_code: str, *, nhs_number: str | None = None,
             school_urn: str | None = None) -> Message:
    """A ``ReferralReceived`` opening ``case_id`` for ``la_code`` (by default the golden
    record's child and school; ``nhs_number``/``school_urn`` give another)."""
    record = {**REFERRAL_RECEIVED, "event_id": str(uuid.uuid4()), "case_id": case_id,
              "la_code": la_code}
    if nhs_number is not None:
        record["child"] = {**record["child"], "identifiers": [
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs_number}]}
    if school_urn is not None:
        record["institution"] = {**record["institution"], "value": school_urn}
    return (REFERRALS.name, case_id.encode(), CODEC.encode(records.REFERRAL_RECEIVED, record), [])


def statutory_dates(final_issued: date | None = None,
                    exceptions_apply: bool = False) -> list[dict[str, Any]]:
    """A CaseStatus v3 ``statutory_dates`` list: the decision made, the final plan due."""
    final_status = ("PENDING" if final_issued is None
                    else "MET" if final_issued <= date(2026, 6, 1) else "MISSED")
    return [
        {"name": "decision_to_assess_due", "due_on": date(2026, 2, 23), "status": "MET",
         "completed_on": date(2026, 2, 2),
         "regulation": "reg 5(1) (refusal notice reg 4(1)); exceptions reg 5(4)",
         "rule_text": "The LA must tell the family whether it will assess within 6 weeks.",
         "clock_started_on": date(2026, 1, 12), "excused": False, "exception_ids": []},
        {"name": "final_plan_due", "due_on": date(2026, 6, 1), "status": final_status,
         "completed_on": final_issued,
         "regulation": "reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)",
         "rule_text": "The final EHC plan must be issued within 20 weeks (140 days).",
         "clock_started_on": date(2026, 1, 12), "excused": exceptions_apply,
         "exception_ids": ["X-1"] if exceptions_apply else []},
    ]


def status(case_id: str, *, stage: str = "ASSESSMENT", medical: str = "REQUESTED",
           open_alerts: int = 0, final_issued: date | None = None,
           exceptions_apply: bool = False, version: int = 3,
           la_code: str | None = None) -> Message:
    """A ``CaseStatus`` with medical and educational advice items (``version`` 2: as a v2
    writer sent it, without the statutory dates; ``la_code``: the owner a v4 writer names)."""
    record: dict[str, Any] = {
        "case_id": case_id,
        "stage": stage,
        "received_on": date(2026, 1, 12),
        "final_plan_due_on": date(2026, 6, 1),
        "as_of": date(2026, 2, 26),
        "advice": [
            {"advice_type": "MEDICAL", "regulation": "reg 6(1)(c)", "status": medical,
             "request_id": f"req-{case_id}-medical",
             "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RVV"},
             "due_on": date(2026, 2, 23), "contribution_ids": [], "decline_reason": None},
            {"advice_type": "EDUCATIONAL", "regulation": "reg 6(1)(b)", "status": "RECEIVED",
             "request_id": None, "agency": None, "due_on": None,
             "contribution_ids": [f"c-{case_id}"], "decline_reason": None},
        ],
        "open_alerts": open_alerts,
    }
    if version == 2:
        return (CASE_STATUS.name, case_id.encode(), _encode_v2(record), [])
    record.update({
        "statutory_dates": statutory_dates(final_issued, exceptions_apply),
        "decided_to_assess_on": date(2026, 2, 2),
        "final_plan_issued_on": final_issued,
        "exceptions_apply": exceptions_apply,
        "la_code": la_code,
    })
    return (CASE_STATUS.name, case_id.encode(), CODEC.encode(records.CASE_STATUS, record), [])


def _encode_v2(record: dict[str, Any]) -> bytes:
    """Single-object encoding with CaseStatus v2, as a worker of that version wrote it."""
    import io

    import fastavro

    v2 = next(v for v in CODEC.registry.history(records.CASE_STATUS) if v.version == 2)
    buf = io.BytesIO()
    buf.write(v2.header)
    fastavro.schemaless_writer(buf, v2.parsed, record)
    return buf.getvalue()


def alert(case_id: str | None, event_id: str | None = None, *, status_: str = "RAISED") -> Message:
    """An ``Alert`` about ``case_id`` (None: an unrouted contribution's alert)."""
    record = {**ALERT, "event_id": event_id or str(uuid.uuid4()), "case_id": case_id,
              "alert_id": f"{case_id}|ADVICE_OVERDUE|SOCIAL_CARE", "status": status_}
    key = (case_id or "child-key").encode()
    return (ALERTS.name, key, CODEC.encode(records.ALERT, record), [])


def routed(case_id: str, event_id: str | None = None) -> Message:
    """Advice routed into ``case_id``."""
    record = {**ADVICE_SUBMITTED, "event_id": event_id or str(uuid.uuid4()), "case_id": case_id,
              "contribution_id": f"c-{case_id}"}
    return (CONTRIBUTIONS_ROUTED.name, case_id.encode(),
            CODEC.encode(records.ADVICE_SUBMITTED, record), [])


def unrouted(contribution_id: str) -> Message:
    """A contribution that matched no case."""
    record = {"event_id": str(uuid.uuid4()), "reason": "NO_MATCHING_CASE",
              "detail": "no case for the child", "parked": True,
              "contribution": {**ADVICE_SUBMITTED, "contribution_id": contribution_id}}
    return (UNROUTED.name, b"child-key", CODEC.encode(records.CONTRIBUTION_UNROUTED, record), [])


def dead_letter(original_topic: str, offset: int) -> Message:
    """A dead letter: bytes that are not Avro, with Kafka Connect error headers."""
    headers = [
        ("ce_id", b"abc"),
        (f"{DEAD_LETTER_ERROR_PREFIX}topic", original_topic.encode()),
        (f"{DEAD_LETTER_ERROR_PREFIX}partition", b"2"),
        (f"{DEAD_LETTER_ERROR_PREFIX}offset", str(offset).encode()),
        (f"{DEAD_LETTER_ERROR_PREFIX}stage", b"process_cases"),
        (f"{DEAD_LETTER_ERROR_PREFIX}exception.class.name", b"MalformedMessageError"),
        (f"{DEAD_LETTER_ERROR_PREFIX}exception.message", b"not Avro"),
    ]
    return ("ehcp.dead-letter.v1", b"EHC-1", b"\x00\xffnot avro", headers)
