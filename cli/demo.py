"""Synthetic demo data: one EHC case, its medical advice over FHIR and educational advice over JSON.

All identifiers are synthetic but pass their check digits (NHS number 9434765919, UPN
B801200005001). The ODS code ``ZZ901`` and LA code ``999`` are made up.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ehcp.identifiers import (
    LA_CODE_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    SCHOOL_URN_SYSTEM,
)

DEMO_CASE: Final = "EHC-999-DEMO-0001"
DEMO_LA: Final = "999"
DEMO_HEALTH_ODS: Final = "ZZ901"
DEMO_NHS_NUMBER: Final = "9434765919"
DEMO_UPN: Final = "B801200005001"
#: The workspace's demo manager (LA 999); ``ehcp dev`` gives it a new password and TOTP secret.
DEMO_MANAGER: Final = "demo.manager"
ADVICE_TYPE_SYSTEM: Final = "https://ehcp-exchange.org/CodeSystem/advice-type"


def referral(received_at: datetime, case_id: str = DEMO_CASE) -> dict[str, Any]:
    """A request for an EHC needs assessment for a year 5 pupil, naming every advice provider."""
    return {
        "case_id": case_id,
        "la_code": DEMO_LA,
        "received_at": received_at.isoformat(),
        "requested_by": "PARENT",
        "child": {
            "nhs_number": DEMO_NHS_NUMBER,
            "upn": DEMO_UPN,
            "date_of_birth": "2016-03-14",
            "year_group": 5,
        },
        "areas_of_need": ["COMMUNICATION_AND_INTERACTION"],
        "institution": {"system": SCHOOL_URN_SYSTEM, "value": "100001"},
        "advice_providers": [
            {
                "advice_type": "PARENT_OR_YOUNG_PERSON",
                "agency": {"system": LA_CODE_SYSTEM, "value": DEMO_LA},
            },
            {
                "advice_type": "EDUCATIONAL",
                "agency": {"system": SCHOOL_URN_SYSTEM, "value": "100001"},
            },
            {
                "advice_type": "MEDICAL",
                "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": DEMO_HEALTH_ODS},
            },
            {
                "advice_type": "PSYCHOLOGICAL",
                "agency": {"system": LA_CODE_SYSTEM, "value": DEMO_LA},
            },
            {"advice_type": "SOCIAL_CARE", "agency": {"system": LA_CODE_SYSTEM, "value": DEMO_LA}},
        ],
    }


def medical_advice(submitted_at: datetime, contribution_uuid: str) -> dict[str, Any]:
    """Medical advice as a FHIR R4 DocumentReference for the child's NHS number (no case id)."""
    return {
        "resourceType": "DocumentReference",
        "masterIdentifier": {
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:uuid:{contribution_uuid}",
        },
        "status": "current",
        "type": {
            "coding": [
                {"system": ADVICE_TYPE_SYSTEM, "code": "medical", "display": "Medical advice"}
            ]
        },
        "subject": {
            "type": "Patient",
            "identifier": {"system": NHS_NUMBER_SYSTEM, "value": DEMO_NHS_NUMBER},
        },
        "date": submitted_at.isoformat(),
        "custodian": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": DEMO_HEALTH_ODS}},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(
                        b"Synthetic medical advice for the EHCP Exchange demo."
                    ).decode(),
                }
            }
        ],
    }


def educational_advice(submitted_at: datetime, case_id: str = DEMO_CASE) -> dict[str, Any]:
    """Educational advice over the JSON API, naming the case."""
    return {
        "contribution_id": f"{case_id}-EDU-1",
        "advice_type": "EDUCATIONAL",
        "case_id": case_id,
        "submitted_at": submitted_at.isoformat(),
    }


def demo_times(now: datetime) -> tuple[datetime, datetime]:
    """Request received 7 weeks ago (so the advice still missing is a week overdue: the
    workspace's work tray shows it), advice today."""
    return (now - timedelta(weeks=7)).astimezone(UTC), now.astimezone(UTC)
