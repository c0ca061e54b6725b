"""One example body per JSON API operation, shown in the OpenAPI document and docs/api.md.

All synthetic: the NHS number ``9434765919`` passes its Modulus 11 check and the UPN
``B801200005001`` its check letter, but neither was ever issued; LA code ``999``, ODS code
``ZZ901`` and school URN ``100001`` are made up. tests/unit/connectors_json/test_openapi_docs.py
posts every example and expects 202, so they cannot drift from the checks.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi.openapi.models import Example

from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM, SCHOOL_URN_SYSTEM

NHS_NUMBER: Final = "9434765919"
UPN: Final = "B801200005001"
CASE_ID: Final = "EHC-999-0001"

REFERRAL: Final[dict[str, Any]] = {
    "case_id": CASE_ID,
    "la_code": "999",
    "received_at": "2026-09-01T09:30:00+01:00",
    "requested_by": "PARENT",
    "child": {
        "nhs_number": NHS_NUMBER,
        "upn": UPN,
        "date_of_birth": "2016-03-14",
        "year_group": 5,
    },
    "areas_of_need": ["COMMUNICATION_AND_INTERACTION"],
    "institution": {"system": SCHOOL_URN_SYSTEM, "value": "100001"},
    "advice_providers": [
        {"advice_type": "EDUCATIONAL", "agency": {"system": SCHOOL_URN_SYSTEM, "value": "100001"}},
        {"advice_type": "MEDICAL",
         "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"}},
        {"advice_type": "SOCIAL_CARE", "agency": {"system": LA_CODE_SYSTEM, "value": "999"}},
    ],
}
EDUCATION_ADVICE: Final[dict[str, Any]] = {
    "contribution_id": "EHC-999-0001-EDU-1",
    "advice_type": "EDUCATIONAL",
    "case_id": CASE_ID,
    "submitted_at": "2026-10-06T14:00:00+01:00",
    # A (tiny) PDF inline; {"url": "https://<allowed host>/..."} names one to fetch instead.
    "document": {"content_type": "application/pdf",
                 "data": "JVBERi0xLjQKJSBFZHVjYXRpb25hbCBhZHZpY2UKJSVFT0YK"},
}
SOCIAL_CARE_ADVICE: Final[dict[str, Any]] = {
    "contribution_id": "CSC-ADV-0001",
    "advice_type": "SOCIAL_CARE",
    "child": {"nhs_number": NHS_NUMBER, "date_of_birth": "2016-03-14"},
    "submitted_at": "2026-10-07T11:15:00+01:00",
}
EDUCATION_EVENT: Final[dict[str, Any]] = {
    "type": "DecisionToAssessMade",
    "event_id": "EHC-999-0001-D1",
    "case_id": CASE_ID,
    "occurred_on": "2026-10-05",
}
SOCIAL_CARE_EVENT: Final[dict[str, Any]] = {
    "type": "LookedAfterStatusChanged",
    "event_id": "CSC-LAC-0001",
    "case_id": CASE_ID,
    "occurred_on": "2026-10-05",
    "looked_after": True,
}
ADVICE_REQUEST: Final[dict[str, Any]] = {
    "request_id": "REQ-0001",
    "advice_type": "MEDICAL",
    "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
    "child": {"nhs_number": NHS_NUMBER},
    "sent_on": "2026-09-08",
}
ACCEPTED: Final[dict[str, Any]] = {
    "event_id": "0c6b0f57-0d55-5b43-a2d5-3c7c2f3b1e8a",
    "topic": "ehcp.contributions.v1",
    "partition": 3,
    "offset": 1042,
}


def openapi_examples(summary: str, value: dict[str, Any]) -> dict[str, Example]:
    """``Body(openapi_examples=...)`` for one example."""
    return {"example": Example(summary=summary, value=value)}
