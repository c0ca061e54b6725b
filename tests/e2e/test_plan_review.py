"""The annual review path through the real worker: a late review decision alerts, a timely one does not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pipeline
from tests.e2e.test_alerts import alerts_for
from tests.e2e.test_pipeline import new_case, referral, status_of
from tests.support import wait_until

pytestmark = pytest.mark.e2e
REVIEW_DECISION = "reg 20(10), 21(8)"


def post_events(pipeline: Pipeline, case_id: str, events: list[dict[str, Any]]) -> None:
    """Post casework events for a case as the LA, each accepted (202)."""
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        for number, event in enumerate(events):
            body = {"event_id": f"{case_id}-{number}-{event['type']}", "case_id": case_id, **event}
            r = client.post(f"/api/education/cases/{case_id}/events",
                            headers=pipeline.headers("la"), json=body)
            assert r.status_code == 202, r.text


def open_plan(pipeline: Pipeline, tag: str, today: date, plan_weeks_ago: int) -> str:
    """A case referred 70 weeks ago whose final plan was issued ``plan_weeks_ago`` weeks ago."""
    case_id, nhs = new_case(tag)
    received = datetime.now(UTC) - timedelta(weeks=70)
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, received))
        assert r.status_code == 202, r.text
    plan_on = today - timedelta(weeks=plan_weeks_ago)
    post_events(pipeline, case_id, [{"type": "FinalPlanIssued", "occurred_on": plan_on.isoformat()}])
    return case_id


def review_alerts(pipeline: Pipeline, case_id: str) -> list[dict[str, Any]]:
    """The case's DEADLINE_MISSED alert records for the reg 20(10) review decision."""
    return [a for a in alerts_for(pipeline, case_id)
            if a["kind"] == "DEADLINE_MISSED" and a["regulation"] == REVIEW_DECISION]


def test_a_review_decision_five_weeks_after_the_meeting_alerts_and_recording_it_resolves(
    pipeline: Pipeline,
) -> None:
    """Meeting 6 weeks ago, no decision: DEADLINE_MISSED (due 4 weeks after); the decision resolves it."""
    today = datetime.now(UTC).date()
    case_id = open_plan(pipeline, "REVIEW-LATE", today, plan_weeks_ago=56)
    meeting = today - timedelta(weeks=6)
    post_events(pipeline, case_id, [
        {"type": "AnnualReviewMeetingHeld", "occurred_on": meeting.isoformat()},
        {"type": "ReviewReportSent", "occurred_on": (meeting + timedelta(days=7)).isoformat()},
    ])
    raised = wait_until(lambda: review_alerts(pipeline, case_id), 120,
                        what="the missed review decision alert")
    assert [a["status"] for a in raised] == ["RAISED"]
    assert raised[0]["due_on"] == meeting + timedelta(weeks=4)
    assert raised[0]["severity"] == "CRITICAL"

    post_events(pipeline, case_id, [
        {"type": "ReviewDecisionMade", "occurred_on": today.isoformat(), "outcome": "MAINTAIN"},
    ])
    wait_until(lambda: [a for a in review_alerts(pipeline, case_id) if a["status"] == "RESOLVED"],
               120, what="the review alert resolved by the decision")
    assert [a["status"] for a in review_alerts(pipeline, case_id)] == ["RAISED", "RESOLVED"]


def test_a_review_kept_in_time_with_no_amendment_leaves_nothing_open(pipeline: Pipeline) -> None:
    """Meeting 2 weeks ago, report and MAINTAIN decision a week later: no review alert, no open alerts."""
    today = datetime.now(UTC).date()
    case_id = open_plan(pipeline, "REVIEW-OK", today, plan_weeks_ago=50)
    meeting = today - timedelta(weeks=2)
    post_events(pipeline, case_id, [
        {"type": "ReviewMeetingScheduled", "occurred_on": (meeting - timedelta(weeks=5)).isoformat(),
         "meeting_on": meeting.isoformat()},
        {"type": "ReviewInvitationsSent", "occurred_on": (meeting - timedelta(weeks=3)).isoformat(),
         "meeting_on": meeting.isoformat()},
        {"type": "ReviewAdviceCirculated", "occurred_on": (meeting - timedelta(weeks=2)).isoformat(),
         "meeting_on": meeting.isoformat()},
        {"type": "AnnualReviewMeetingHeld", "occurred_on": meeting.isoformat()},
        {"type": "ReviewReportSent", "occurred_on": (meeting + timedelta(days=7)).isoformat()},
        {"type": "ReviewDecisionMade", "occurred_on": today.isoformat(), "outcome": "MAINTAIN"},
    ])

    def review_dates(status: dict[str, Any]) -> dict[str, str]:
        return {d["name"]: d["status"] for d in status.get("statutory_dates") or []
                if d["name"].startswith("review_")}

    def settled() -> dict[str, Any] | None:
        """The status once the decision has been read (the review decision date is MET)."""
        status = status_of(pipeline.settings, case_id)
        if status and status["as_of"] == today and \
                review_dates(status).get("review_decision_due") == "MET":
            return status
        return None

    status = wait_until(settled, 120, what="the case status with the review decision")
    assert review_dates(status) == dict.fromkeys(
        ("review_invitations_due", "review_advice_circulated_due", "review_report_due",
         "review_decision_due"), "MET")
    assert status["stage"] == "PLAN_MAINTAINED"
    assert status["open_alerts"] == 0
    # While the events arrive one by one a step can be briefly "at risk", or even "missed" when
    # the worker's timer ticks the case to today between two of them (raised, then resolved by
    # the event recording the step); what matters is that every date ends MET (above) and
    # nothing stays open.
    def all_resolved() -> tuple[list[dict[str, Any]]] | None:
        alerts = [a for a in alerts_for(pipeline, case_id) if a["kind"].startswith("DEADLINE")]
        raised = {a["alert_id"] for a in alerts if a["status"] == "RAISED"}
        resolved = {a["alert_id"] for a in alerts if a["status"] == "RESOLVED"}
        return (alerts,) if raised == resolved else None

    wait_until(all_resolved, 60, what="every deadline alert resolved")
