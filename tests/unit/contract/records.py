"""Fixed synthetic records for the golden-byte tests, and a sample generator driven by a schema.

The child is synthetic: NHS number 9434765919 and UPN B801200005001 pass their check digits but
belong to no one. Dates and instants are fixed so the encoded bytes never change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, UPN_SYSTEM

NS = "org.ehcpexchange.events"
NHS_NUMBER = "9434765919"
UPN = "B801200005001"
LA_CODE_SYSTEM = "https://ehcp-exchange.org/Id/la-code"
URN_SYSTEM = "https://ehcp-exchange.org/Id/urn"

CHILD_IDENTIFIERS = [
    {"system": NHS_NUMBER_SYSTEM, "value": NHS_NUMBER},
    {"system": UPN_SYSTEM, "value": UPN},
]

REFERRAL_RECEIVED: dict[str, Any] = {
    "event_id": "0b7e7f0e-3c1a-4b8e-9a51-6d2f1c0e4a11",
    "case_id": "EHC-886-2026-0042",
    "la_code": "886",
    "received_at": datetime(2026, 1, 12, 9, 30, tzinfo=UTC),
    "requested_by": "SCHOOL_OR_SETTING",
    "child": {
        "identifiers": CHILD_IDENTIFIERS,
        "date_of_birth": date(2017, 3, 14),
        "year_group": 4,
        "vision_impairment": False,
        "hearing_impairment": True,
        "looked_after": False,
    },
    "areas_of_need": ["COMMUNICATION_AND_INTERACTION", "SENSORY_AND_PHYSICAL"],
    "institution": {"system": URN_SYSTEM, "value": "118712"},
    "advice_providers": [
        {"advice_type": "MEDICAL", "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "RVV"}},
        {"advice_type": "EDUCATIONAL", "agency": {"system": LA_CODE_SYSTEM, "value": "886"}},
    ],
}

ADVICE_SUBMITTED: dict[str, Any] = {
    "event_id": "5f1c2d3e-8a9b-4c7d-b0e1-2a3b4c5d6e7f",
    "contribution_id": "RVV-ADV-2026-0193",
    "case_id": None,
    "request_id": "task-886-2026-0042-medical",
    "child_identifiers": CHILD_IDENTIFIERS,
    "child_date_of_birth": date(2017, 3, 14),
    "advice_type": "MEDICAL",
    "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "RVV"},
    "submitted_at": datetime(2026, 2, 16, 14, 5, 12, 250000, tzinfo=UTC),
    "channel": "FHIR",
    "document": {
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "size_bytes": 48213,
        "content_type": "application/pdf",
    },
}

ALERT: dict[str, Any] = {
    "event_id": "c2a4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f",
    "alert_id": "alert-EHC-886-2026-0042-advice-overdue-SOCIAL_CARE",
    "case_id": "EHC-886-2026-0042",
    "kind": "ADVICE_OVERDUE",
    "status": "RAISED",
    "severity": "CRITICAL",
    "advice_type": "SOCIAL_CARE",
    "agency": {"system": LA_CODE_SYSTEM, "value": "886"},
    "due_on": date(2026, 2, 23),
    "days_overdue": 3,
    "regulation": "reg 8(1)",
    "message": "Social care advice is 3 days past its 6-week deadline.",
    "as_of": date(2026, 2, 26),
}

RECORD_READ: dict[str, Any] = {
    "event_id": "7d2e4b1a-3c5f-4e6a-9b8c-0d1e2f3a4b5c",
    "credential_id": "a1b2c3d4e5f6",
    "user_id": None,
    "agency": {"system": LA_CODE_SYSTEM, "value": "886"},
    "record_kind": "DOCUMENT",
    "record_id": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "case_id": "EHC-886-2026-0042",
    "channel": "API",
    "method": "GET",
    "path": "/api/la/documents/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "read_at": datetime(2026, 3, 2, 9, 15, 30, 125000, tzinfo=UTC),
}

ACTION_TAKEN: dict[str, Any] = {
    "event_id": "5b8e2f4c-6a1d-4c3e-8f7a-2e9d0c1b3a4f",
    "user_id": "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f",
    "agency": {"system": LA_CODE_SYSTEM, "value": "886"},
    "action": "ADVICE_RECORDED",
    "case_id": "EHC-886-2026-0042",
    "target_id": None,
    "published_event_id": "e4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8",
    "acted_at": datetime(2026, 3, 2, 10, 42, 7, 250000, tzinfo=UTC),
}

CASE_STATUS: dict[str, Any] = {
    "case_id": "EHC-886-2026-0042",
    "stage": "PLAN_MAINTAINED",
    "received_on": date(2026, 1, 12),
    "final_plan_due_on": date(2026, 6, 1),
    "as_of": date(2026, 6, 10),
    "advice": [{
        "advice_type": "MEDICAL",
        "regulation": "reg 6(1)(c)",
        "status": "RECEIVED",
        "request_id": "task-886-2026-0042-medical",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "RVV"},
        "due_on": date(2026, 3, 16),
        "contribution_ids": ["RVV-ADV-2026-0193"],
        "decline_reason": None,
    }],
    "open_alerts": 0,
    "statutory_dates": [
        {
            "name": "decision_to_assess_due",
            "due_on": date(2026, 2, 23),
            "status": "MET",
            "completed_on": date(2026, 2, 9),
            "regulation": "reg 5(1) (refusal notice reg 4(1)); exceptions reg 5(4)",
            "rule_text": "The LA must tell the family whether it will assess within 6 weeks.",
            "clock_started_on": date(2026, 1, 12),
            "excused": False,
            "exception_ids": [],
        },
        {
            "name": "final_plan_due",
            "due_on": date(2026, 6, 1),
            "status": "MISSED",
            "completed_on": date(2026, 6, 8),
            "regulation": "reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)",
            "rule_text": "The final EHC plan must be issued within 20 weeks (140 days).",
            "clock_started_on": date(2026, 1, 12),
            "excused": True,
            "exception_ids": ["exc-886-2026-0042-1"],
        },
    ],
    "decided_to_assess_on": date(2026, 2, 9),
    "final_plan_issued_on": date(2026, 6, 8),
    "exceptions_apply": True,
    "la_code": "886",  # v4
}

#: A v2 event type: the LA's decision after an annual review (reg 20(10)).
CASEWORK_EVENT_RECORDED: dict[str, Any] = {
    "event_id": "EHC-886-2026-0042-REVIEW-DECISION-1",
    "case_id": "EHC-886-2026-0042",
    "event_type": "ReviewDecisionMade",
    "occurred_on": date(2026, 6, 9),
    "recorded_by": {"system": LA_CODE_SYSTEM, "value": "886"},
    "event_json": (
        '{"type": "ReviewDecisionMade", "event_id": "EHC-886-2026-0042-REVIEW-DECISION-1", '
        '"case_id": "EHC-886-2026-0042", "occurred_on": "2026-06-09", "outcome": "MAINTAIN"}'
    ),
}

#: Golden file stem -> (record full name, record).
GOLDEN: dict[str, tuple[str, dict[str, Any]]] = {
    "referral_received": (f"{NS}.ReferralReceived", REFERRAL_RECEIVED),
    "advice_submitted": (f"{NS}.AdviceSubmitted", ADVICE_SUBMITTED),
    "alert": (f"{NS}.Alert", ALERT),
    "record_read": (f"{NS}.RecordRead", RECORD_READ),
    "action_taken": (f"{NS}.ActionTaken", ACTION_TAKEN),
    "casework_event_recorded": (f"{NS}.CaseworkEventRecorded", CASEWORK_EVENT_RECORDED),
    "case_status": (f"{NS}.CaseStatus", CASE_STATUS),
}

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_COMPLEX = {"record", "enum", "array", "map", "fixed"}
_EPOCH_DAY = date(2026, 1, 5)
_EPOCH_INSTANT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class SampleGenerator:
    """Fills every field of a schema; ``variant`` rotates enum symbols and union branches.

    Generating variants ``0 .. widest_choice(schema) - 1`` writes every enum symbol and every union
    branch at least once, so a reader that cannot take one of them is caught.
    """

    def __init__(self, variant: int) -> None:
        self.variant = variant
        self.named: dict[str, Any] = {}

    def record(self, schema: Any) -> dict[str, Any]:
        """A sample value of a top-level record schema."""
        value = self.value(schema, namespace=None)
        assert isinstance(value, dict)
        return value

    def value(self, schema: Any, namespace: str | None) -> Any:
        """A sample value of any schema."""
        k = self.variant
        if isinstance(schema, list):
            return self.value(schema[k % len(schema)], namespace)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.value({"type": schema}, namespace)
            return self.value(self.named[_full_name(schema, namespace)], namespace)
        kind = schema["type"]
        if isinstance(kind, (dict, list)) or kind not in _PRIMITIVES | _COMPLEX:
            # {"type": <another schema>}: a wrapped union, nested type or named reference.
            return self.value(kind, namespace)
        logical = schema.get("logicalType")
        if kind in ("record", "enum", "fixed"):
            full = _full_name(schema["name"], schema.get("namespace", namespace))
            self.named[full] = schema
            namespace = full.rpartition(".")[0] or None
        if kind == "record":
            return {f["name"]: self.value(f["type"], namespace) for f in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][k % len(schema["symbols"])]
        if kind == "array":
            return [self.value(schema["items"], namespace) for _ in range(1 + k % 2)]
        if kind == "map":
            return {f"key{i}": self.value(schema["values"], namespace) for i in range(1 + k % 2)}
        if kind == "fixed":
            return bytes([k % 256]) * schema["size"]
        if logical == "date" and kind == "int":
            return _EPOCH_DAY + timedelta(days=k)
        if logical == "timestamp-millis" and kind == "long":
            return _EPOCH_INSTANT + timedelta(days=k, milliseconds=125)
        return {
            "null": None, "boolean": k % 2 == 0, "int": 40 + k, "long": 2**33 + k,
            "float": 1.5 + k, "double": 2.25 + k, "bytes": bytes([k % 256, 1, 2]),
            "string": f"sample-{k}",
        }[kind]


def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def widest_choice(schema: Any) -> int:
    """The largest number of enum symbols or union branches anywhere in ``schema``."""
    if isinstance(schema, list):
        return max([len(schema), *(widest_choice(s) for s in schema)])
    if not isinstance(schema, dict):
        return 1
    widths = [len(schema.get("symbols", ()))]
    widths += [widest_choice(f["type"]) for f in schema.get("fields", ())]
    for key in ("type", "items", "values"):
        if isinstance(schema.get(key), (dict, list)):
            widths.append(widest_choice(schema[key]))
    return max([1, *widths])


def samples(schema: Any) -> list[dict[str, Any]]:
    """Enough sample records of ``schema`` to use every enum symbol and union branch."""
    return [SampleGenerator(k).record(schema) for k in range(widest_choice(schema))]
