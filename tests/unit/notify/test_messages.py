"""What a notification says: the facts people act on, escaped HTML, no personal data fields."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from notify import messages
from notify.model import AlertTransition

WORKSPACE = "https://workspace.example.gov.uk/"


def _t(**changes: object) -> AlertTransition:
    base = {
        "event_id": "e-1", "alert_id": "a-1", "case_id": "EHC-886-2026-0042",
        "kind": "ADVICE_OVERDUE", "status": "RAISED", "severity": "WARNING",
        "advice_type": "SOCIAL_CARE", "agency_system": "https://ehcp-exchange.org/Id/la-code",
        "agency_value": "886", "due_on": date(2026, 2, 23), "days_overdue": 3,
        "regulation": "reg 8(1)", "message": "social care advice is overdue",
        "as_of": date(2026, 2, 26), "recorded_ms": 0, "la_code": "886"}
    return AlertTransition(**{**base, **changes})  # type: ignore[arg-type]


def test_the_email_names_case_advice_due_date_and_link() -> None:
    """Subject and both bodies name the case, the advice and the due date; the link is the case's workspace page."""
    mail = messages.alert_email(_t(), WORKSPACE)
    assert mail.subject == ("Advice overdue: social care advice, case EHC-886-2026-0042, "
                            "due 2026-02-23")
    assert "Case: https://workspace.example.gov.uk/cases/EHC-886-2026-0042" in mail.text
    assert "Days overdue: 3 (as of 2026-02-26)" in mail.text
    assert '<a href="https://workspace.example.gov.uk/cases/EHC-886-2026-0042">' in mail.html


def test_hostile_text_is_escaped_in_html_and_quoted_in_links() -> None:
    """Markup in an alert's note is escaped, and a case id with / or ? cannot change the link's path."""
    mail = messages.alert_email(_t(message='<script>alert("x")</script>',
                                   case_id="EHC/../admin?x=1"), WORKSPACE)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "/cases/EHC%2F..%2Fadmin%3Fx%3D1" in mail.text


def test_a_resolution_and_a_reminder_read_as_such() -> None:
    """A resolved alert says so; the agency's reminder asks for the advice and has no link."""
    assert messages.alert_email(_t(status="RESOLVED"), WORKSPACE).subject.startswith(
        "Advice overdue (resolved)")
    reminder = messages.reminder_email(_t(kind="ADVICE_DUE_SOON", days_overdue=0))
    assert reminder.subject == ("Reminder: social care advice for case EHC-886-2026-0042 "
                                "is due 2026-02-23")
    assert "workspace" not in reminder.text.lower()


def test_the_webhook_payload_is_the_documented_shape() -> None:
    """type/timestamp/data as docs/notifications.md lists; a digest carries a list of alerts."""
    sent = datetime(2026, 2, 26, 9, tzinfo=UTC)
    one = messages.webhook_payload([_t()], digest=False, sent_at=sent, workspace_url=WORKSPACE)
    assert one["type"] == "alert.raised"
    assert one["timestamp"] == "2026-02-26T09:00:00Z"
    assert set(one["data"]) == {
        "alert_event_id", "alert_id", "case_id", "kind", "status", "severity", "advice_type",
        "agency", "due_on", "days_overdue", "as_of", "regulation", "message", "case_url"}
    json.dumps(one)  # JSON-ready, dates as ISO strings
    digest = messages.webhook_payload([_t(), _t(event_id="e-2")], digest=True, sent_at=sent,
                                      workspace_url=None)
    assert digest["type"] == "alert.digest"
    assert [a["alert_event_id"] for a in digest["data"]["alerts"]] == ["e-1", "e-2"]
    assert digest["data"]["alerts"][0]["case_url"] is None
