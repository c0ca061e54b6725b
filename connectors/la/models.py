"""The JSON shapes of the LA pull API, built from the service layer's dataclasses (pure)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from ehcp.readmodel import access

_SHA: Final = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_AGENCY: Final[dict[str, Any]] = {
    "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RVV"}
_CASE_EXAMPLE: Final[dict[str, Any]] = {
    "case_id": "EHC-886-2026-0042", "stage": "ASSESSMENT", "received_on": "2026-01-12",
    "final_plan_due_on": "2026-06-01", "decided_to_assess_on": "2026-02-09",
    "final_plan_issued_on": None, "exceptions_apply": False,
    "as_of": "2026-02-26", "open_alert_count": 1,
    "updated_at": "2026-02-26T09:15:02Z", "href": "/api/la/cases/EHC-886-2026-0042",
}
_ALERT_EXAMPLE: Final[dict[str, Any]] = {
    "event_id": "c2a4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f",
    "alert_id": "alert-EHC-886-2026-0042-advice-overdue-SOCIAL_CARE",
    "case_id": "EHC-886-2026-0042", "kind": "ADVICE_OVERDUE", "status": "RAISED", "open": True,
    "severity": "CRITICAL", "advice_type": "SOCIAL_CARE",
    "agency": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "886"},
    "due_on": "2026-02-23", "days_overdue": 7, "regulation": "reg 8(1)",
    "message": "Social care advice is 3 days past its 6-week deadline.", "as_of": "2026-02-26",
    "updated_at": "2026-02-26T06:00:01Z",
}


class AgencyOut(BaseModel):
    """An agency: identifier system URI and code."""

    system: str
    value: str


class DocumentOut(BaseModel):
    """An advice document: download it from ``href`` (the SHA-256 is its id and checksum)."""

    sha256: str
    size_bytes: int
    content_type: str
    href: str = Field(description="GET this path with the same token to download the bytes.")


class CaseSummaryOut(BaseModel):
    """A case as listed."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CASE_EXAMPLE]})

    case_id: str
    stage: str = Field(description="Lifecycle stage (docs/contract.md).")
    received_on: date | None = Field(description="The day the LA received the request.")
    final_plan_due_on: date | None = Field(description="20 weeks from the request, reg 13(2).")
    decided_to_assess_on: date | None = Field(
        default=None, description="The day the LA decided to assess (reg 5); null if not (yet).")
    final_plan_issued_on: date | None = Field(
        default=None, description="The day the final EHC plan was issued (reg 13(2)).")
    exceptions_apply: bool | None = Field(
        default=None, description="DfE SEN2 '20-week exceptions apply': an exception ground "
                                  "excuses the 20-week limit (reg 13(3)). Null: not known (the "
                                  "case's status came from an exchange before CaseStatus v3).")
    as_of: date = Field(description="The day the case's state was last worked out.")
    open_alert_count: int
    updated_at: datetime = Field(description="When the case, its advice or alerts last changed.")
    href: str


class StatutoryDateOut(BaseModel):
    """A time limit with the regulation behind it: every limit the casework engine works out
    (docs/casework-rules.md) and each advice item's due date."""

    name: str = Field(description="The limit's name (decision_to_assess_due, "
                                  "latest_draft_plan_due, final_plan_due, annual_review_due, "
                                  "...; new limits appear under their own names), or advice_due "
                                  "(advice_type says which).")
    due_on: date
    regulation: str
    advice_type: str | None
    status: str | None = Field(
        default=None, description="PENDING, MET, MISSED or NOT_APPLICABLE; null for advice_due "
                                  "(see the advice item's status).")
    completed_on: date | None = Field(default=None, description="When the step was done.")
    excused: bool = Field(default=False,
                          description="An exception applies: missing it is not a breach.")
    exception_ids: list[str] = Field(default_factory=list,
                                     description="The exceptions that excuse it.")
    rule_text: str = Field(default="", description="The rule in plain words.")


class AdviceItemOut(BaseModel):
    """A piece of advice the assessment needs or asked for, and where it stands."""

    advice_type: str
    regulation: str = Field(description="Why it is sought, e.g. reg 6(1)(c).")
    status: str = Field(description="NOT_REQUESTED, REQUESTED, RECEIVED, REUSED, DECLINED, "
                                    "OVERDUE.")
    request_id: str | None
    agency: AgencyOut | None
    due_on: date | None = Field(description="6 weeks from the request, reg 8(1).")
    decline_reason: str | None = Field(description="With DECLINED: the coded reason.")
    contribution_ids: list[str]


class AdviceReceivedOut(BaseModel):
    """Advice that arrived on the case."""

    event_id: str
    contribution_id: str
    request_id: str | None
    advice_type: str
    agency: AgencyOut
    submitted_at: datetime
    channel: str = Field(description="FHIR, JSON or CSV.")
    document: DocumentOut | None


class AlertOut(BaseModel):
    """An alert by its latest event; days overdue counted when read (London's calendar)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ALERT_EXAMPLE]})

    event_id: str = Field(description="Its latest event (de-duplicated by this id).")
    alert_id: str
    case_id: str | None
    kind: str
    status: str = Field(description="RAISED or RESOLVED: the latest event's.")
    open: bool
    severity: str
    advice_type: str | None
    agency: AgencyOut | None
    due_on: date | None
    days_overdue: int
    regulation: str
    message: str
    as_of: date
    updated_at: datetime


class CaseOut(CaseSummaryOut):
    """One case: dates, advice asked for and received (with documents), open alerts."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_CASE_EXAMPLE,
        "statutory_dates": [
            {"name": "advice_due", "due_on": "2026-02-23", "regulation": "reg 8(1)",
             "advice_type": "MEDICAL", "status": None, "completed_on": None, "excused": False,
             "exception_ids": [], "rule_text": ""},
            {"name": "decision_to_assess_due", "due_on": "2026-02-23",
             "regulation": "reg 5(1) (refusal notice reg 4(1)); exceptions reg 5(4)",
             "advice_type": None, "status": "MET", "completed_on": "2026-02-09",
             "excused": False, "exception_ids": [],
             "rule_text": "The LA must tell the family whether it will assess within 6 weeks "
                          "of the request."},
            {"name": "final_plan_due", "due_on": "2026-06-01",
             "regulation": "reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)",
             "advice_type": None, "status": "PENDING", "completed_on": None, "excused": False,
             "exception_ids": [],
             "rule_text": "The final EHC plan must be issued within 20 weeks (140 days) of "
                          "the request."}],
        "advice_items": [{
            "advice_type": "MEDICAL", "regulation": "reg 6(1)(c)", "status": "RECEIVED",
            "request_id": "task-886-2026-0042-medical", "agency": _AGENCY,
            "due_on": "2026-02-23", "decline_reason": None,
            "contribution_ids": ["RVV-ADV-2026-0193"]}],
        "advice_received": [{
            "event_id": "5f1c2d3e-8a9b-4c7d-b0e1-2a3b4c5d6e7f",
            "contribution_id": "RVV-ADV-2026-0193", "request_id": "task-886-2026-0042-medical",
            "advice_type": "MEDICAL", "agency": _AGENCY,
            "submitted_at": "2026-02-16T14:05:12Z", "channel": "FHIR",
            "document": {"sha256": _SHA, "size_bytes": 48213, "content_type": "application/pdf",
                         "href": f"/api/la/documents/{_SHA}"}}],
        "open_alerts": [_ALERT_EXAMPLE],
    }]})

    statutory_dates: list[StatutoryDateOut]
    advice_items: list[AdviceItemOut]
    advice_received: list[AdviceReceivedOut]
    open_alerts: list[AlertOut]


class CasePage(BaseModel):
    """A page of cases changed after the cursor, oldest change first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_CASE_EXAMPLE], "cursor": "YzEuNDI", "has_more": False,
        "next": "https://broker.example.org/api/la/cases?limit=50&cursor=YzEuNDI"}]})

    items: list[CaseSummaryOut]
    cursor: str = Field(description="Pass it back as ?cursor= to get what changed after this "
                                    "page; keep it to resume later.")
    has_more: bool = Field(description="More had already changed: follow next now.")
    next: str = Field(description="This query from the page's cursor.")


class AlertPage(BaseModel):
    """A page of alerts whose latest event came after the cursor."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [_ALERT_EXAMPLE], "cursor": "YzEuNDc", "has_more": False,
        "next": "https://broker.example.org/api/la/alerts?status=open&cursor=YzEuNDc"}]})

    items: list[AlertOut]
    cursor: str
    has_more: bool
    next: str


def _agency(agency: access.Agency | None) -> dict[str, str] | None:
    return None if agency is None else {"system": agency.system, "value": agency.value}


def document_path(sha256: str) -> str:
    """Where the LA downloads a document."""
    return f"/api/la/documents/{sha256}"


def case_summary(case: access.CaseSummary) -> dict[str, Any]:
    """A listed case."""
    return {
        "case_id": case.case_id, "stage": case.stage, "received_on": case.received_on,
        "final_plan_due_on": case.final_plan_due_on,
        "decided_to_assess_on": case.decided_to_assess_on,
        "final_plan_issued_on": case.final_plan_issued_on,
        "exceptions_apply": case.exceptions_apply, "as_of": case.as_of,
        "open_alert_count": case.open_alerts, "updated_at": case.updated_at,
        "href": f"/api/la/cases/{case.case_id}",
    }


def alert(view: access.AlertView) -> dict[str, Any]:
    """An alert."""
    return {
        "event_id": view.event_id, "alert_id": view.alert_id, "case_id": view.case_id,
        "kind": view.kind, "status": view.status, "open": view.open, "severity": view.severity,
        "advice_type": view.advice_type, "agency": _agency(view.agency), "due_on": view.due_on,
        "days_overdue": view.days_overdue, "regulation": view.regulation,
        "message": view.message, "as_of": view.as_of, "updated_at": view.updated_at,
    }


def _received(advice: access.AdviceReceived) -> dict[str, Any]:
    doc = advice.document
    return {
        "event_id": advice.event_id, "contribution_id": advice.contribution_id,
        "request_id": advice.request_id, "advice_type": advice.advice_type,
        "agency": _agency(advice.agency), "submitted_at": advice.submitted_at,
        "channel": advice.channel,
        "document": None if doc is None else {
            "sha256": doc.sha256, "size_bytes": doc.size_bytes,
            "content_type": doc.content_type, "href": document_path(doc.sha256)},
    }


def case_detail(case: access.CaseDetail) -> dict[str, Any]:
    """One case in full."""
    return {
        **case_summary(case.summary),
        "statutory_dates": [
            {"name": d.name, "due_on": d.due_on, "regulation": d.regulation,
             "advice_type": d.advice_type, "status": d.status, "completed_on": d.completed_on,
             "excused": d.excused, "exception_ids": list(d.exception_ids),
             "rule_text": d.rule_text} for d in case.statutory_dates],
        "advice_items": [
            {"advice_type": i.advice_type, "regulation": i.regulation, "status": i.status,
             "request_id": i.request_id, "agency": _agency(i.agency), "due_on": i.due_on,
             "decline_reason": i.decline_reason, "contribution_ids": list(i.contribution_ids)}
            for i in case.advice_items],
        "advice_received": [_received(a) for a in case.advice_received],
        "open_alerts": [alert(a) for a in case.open_alerts],
    }
