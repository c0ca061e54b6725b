"""Record a casework event (decision, draft or final plan, exception) through the JSON API's
validation: the form becomes the same event body ``POST /api/education/cases/{id}/events``
takes, checked and built by :func:`connectors.education.models.casework_event` as recorded by
the user's LA (so the worker's case-ownership check applies as to the LA's own credential).
"""

from __future__ import annotations

from typing import Any, Final

from connectors.education.models import casework_event
from connectors.ports import Principal, PublishedEvent
from ehcp.errors import ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.readmodel.people import User

#: The events the workspace offers, with the one date each takes (docs/casework-events.md).
EVENT_TYPES: Final[dict[str, str]] = {
    "DecisionToAssessMade": "Decision to assess (reg 5(1))",
    "AssessmentRefused": "Decided not to assess (reg 4(1), 5(1))",
    "DecisionNotToIssuePlan": "Decided not to issue a plan (reg 10(1))",
    "DraftPlanIssued": "Draft plan issued (reg 13(1))",
    "FinalPlanIssued": "Final plan issued (reg 13(2))",
    "TimescaleExceptionRecorded": "Timescale exception (reg 10(4)(c)/(d), reg 8(2))",
}
#: Grounds an officer may record (reg 10(4)(a)/(b) are derived by the engine).
GROUNDS: Final[dict[str, str]] = {
    "REG_10_4_C": "Exceptional personal circumstances (reg 10(4)(c))",
    "REG_10_4_D": "Absent from the area for 4 weeks or more (reg 10(4)(d))",
    "REG_8_2_A": "Exceptional circumstances during an agency's 6 weeks (reg 8(2)(a))",
    "REG_8_2_B": "Absent from the area during an agency's 6 weeks (reg 8(2)(b))",
    "REG_8_2_C": "Missed the agency's appointment (reg 8(2)(c))",
}


def event_body(case_id: str, form: dict[str, str]) -> dict[str, Any]:
    """The JSON API event body for a submitted form (fields the type does not take are left out).

    Raises:
        ValidationError: an event type the workspace does not offer.
    """
    kind = form.get("type", "")
    if kind not in EVENT_TYPES:
        raise ValidationError("choose what happened", location="type")
    body: dict[str, Any] = {"type": kind, "event_id": f"WS-{form.get('submission_id', '')}",
                            "case_id": case_id}
    if kind == "TimescaleExceptionRecorded":
        body.update({"exception_id": f"WS-{form.get('submission_id', '')}",
                     "ground": form.get("ground", ""), "starts_on": form.get("occurred_on", ""),
                     "ends_on": form.get("ends_on") or None,
                     "request_id": form.get("request_id") or None})
    else:
        body["occurred_on"] = form.get("occurred_on", "")
    return body


def build_event(user: User, case_id: str, form: dict[str, str]) -> PublishedEvent:
    """Validate the form as the JSON API would and build the ``CaseworkEventRecorded`` event.

    Raises:
        ValidationError: located at the field to fix.
    """
    recorder = Principal(credential_id=f"workspace-user:{user.user_id}",
                         agency_system=LA_CODE_SYSTEM, agency_value=user.la_code,
                         kind="education", scopes=frozenset())
    return casework_event(case_id, event_body(case_id, form), recorder)
