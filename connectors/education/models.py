"""Request bodies of the education and social care JSON APIs, and their mapping to Avro records.

Pydantic checks shape and types; the identifier validators check NHS number and UPN check digits.
Mapping functions take validated models and return Avro record dicts without any I/O. They are
not all total: they raise ``ValidationError`` for what the schema cannot check, and
:func:`advice_request_event` raises ``AuthError`` (403) for a credential that is not an LA's.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from connectors.ports import Principal, PublishedEvent
from ehcp.casework.calendar import LONDON
from ehcp.casework.engine import event_date
from ehcp.casework.jsonl import event_to_dict, parse_event
from ehcp.contract.cloudevents import event_type
from ehcp.contract.records import advice_requested
from ehcp.contract.topics import ADVICE_REQUESTS, CASEWORK_EVENTS
from ehcp.errors import AuthError, InvalidIdentifierError, ValidationError
from ehcp.identifiers import (
    LA_CHILD_ID_SYSTEM,
    LA_CODE_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    UPN_SYSTEM,
    normalise_nhs_number,
    normalise_upn,
)

#: Namespace for deterministic event ids: the same submission always gets the same id.
EVENT_NAMESPACE: Final = uuid.UUID("6b1f4a53-2f0e-4e0c-9d43-7d4b1d1c7e21")
CASE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
#: How far a sender's timestamp may run ahead of the connectors' clock before it counts as
#: "in the future": two systems' clocks are never quite in step (docs/api.md).
CLOCK_SKEW: Final = timedelta(minutes=5)


def _check_nhs(value: str) -> str:
    try:
        return normalise_nhs_number(value)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


def _check_upn(value: str) -> str:
    try:
        return normalise_upn(value)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


# Bounded before the check runs (docs/api.md, "Limits"): 10 digits, spaces allowed; 13 characters.
NhsNumber = Annotated[str, StringConstraints(max_length=16), AfterValidator(_check_nhs)]
Upn = Annotated[str, StringConstraints(max_length=16), AfterValidator(_check_upn)]


class AdviceType(StrEnum):
    """Advice under reg 6 (symbols of the Avro AdviceType enum)."""

    PARENT_OR_YOUNG_PERSON = "PARENT_OR_YOUNG_PERSON"
    EDUCATIONAL = "EDUCATIONAL"
    MEDICAL = "MEDICAL"
    PSYCHOLOGICAL = "PSYCHOLOGICAL"
    SOCIAL_CARE = "SOCIAL_CARE"
    OTHER_LA = "OTHER_LA"
    PREPARATION_FOR_ADULTHOOD = "PREPARATION_FOR_ADULTHOOD"
    FAMILY_REQUESTED = "FAMILY_REQUESTED"
    VISION_HEARING_SPECIALIST = "VISION_HEARING_SPECIALIST"
    VIRTUAL_SCHOOL_HEAD = "VIRTUAL_SCHOOL_HEAD"


class AreaOfNeed(StrEnum):
    """The four broad areas of need (SEND Code of Practice chapter 6)."""

    COMMUNICATION_AND_INTERACTION = "COMMUNICATION_AND_INTERACTION"
    COGNITION_AND_LEARNING = "COGNITION_AND_LEARNING"
    SOCIAL_EMOTIONAL_AND_MENTAL_HEALTH = "SOCIAL_EMOTIONAL_AND_MENTAL_HEALTH"
    SENSORY_AND_PHYSICAL = "SENSORY_AND_PHYSICAL"


class RequesterRole(StrEnum):
    """Who asked for the EHC needs assessment."""

    PARENT = "PARENT"
    YOUNG_PERSON = "YOUNG_PERSON"
    SCHOOL_OR_SETTING = "SCHOOL_OR_SETTING"
    HEALTH = "HEALTH"
    SOCIAL_CARE = "SOCIAL_CARE"
    OTHER = "OTHER"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentifierIn(_Strict):
    """An identifier with its naming system URI."""

    system: str = Field(min_length=1, max_length=200, description=(
        "The naming system's URI: an ODS code, LA code or school URN system (docs/onboarding.md)."))
    value: str = Field(min_length=1, max_length=64, description="The code in that system.")


class ChildIdsIn(_Strict):
    """The identifiers of the child or young person."""

    nhs_number: NhsNumber | None = Field(None, description="10 digits, Modulus 11 check digit.")
    upn: Upn | None = Field(None, description="DfE Unique Pupil Number, check letter first.")
    la_child_id: str | None = Field(None, min_length=1, max_length=64,
                                    description="The LA's own id for the child.")

    def identifiers(self) -> list[dict[str, str]]:
        """Avro Identifier records, strongest first."""
        out = []
        if self.nhs_number:
            out.append({"system": NHS_NUMBER_SYSTEM, "value": self.nhs_number})
        if self.upn:
            out.append({"system": UPN_SYSTEM, "value": self.upn})
        if self.la_child_id:
            out.append({"system": LA_CHILD_ID_SYSTEM, "value": self.la_child_id})
        return out


class ChildIn(ChildIdsIn):
    """The child or young person. At least one identifier is required."""

    date_of_birth: date = Field(description="Checked against contributions when routing.")
    year_group: int | None = Field(None, ge=-3, le=14, description="NC year; reception = 0.")
    vision_impairment: bool = False
    hearing_impairment: bool = False
    looked_after: bool = False

    @model_validator(mode="after")
    def _names_the_child(self) -> Self:
        # Without one, a health body's Task would name no patient and nothing could be routed.
        if not self.identifiers():
            raise ValueError("give at least one child identifier (nhs_number, upn or la_child_id)")
        return self


class AdviceProviderIn(_Strict):
    """Which agency gives one kind of advice for this case."""

    advice_type: AdviceType
    agency: IdentifierIn


class ReferralIn(_Strict):
    """A request for an EHC needs assessment received by the LA."""

    case_id: str = Field(pattern=CASE_ID_PATTERN, description="The LA's EHC case reference.")
    la_code: str = Field(pattern=r"^\d{3}$", description="DfE three-digit LA code.")
    received_at: AwareDatetime = Field(description=(
        "When the LA received the request, with a UTC offset; the 20 weeks run from here. At "
        "most 5 minutes ahead of the connectors' clock."))
    requested_by: RequesterRole
    child: ChildIn
    areas_of_need: list[AreaOfNeed] = Field(default_factory=list, max_length=4)
    institution: IdentifierIn | None = Field(None, description="The child's school or setting.")
    advice_providers: list[AdviceProviderIn] = Field(
        default_factory=list, max_length=20,
        description="Who is asked for each kind of advice (a health body by ODS code).")


class DocumentIn(_Strict):
    """The advice document: inline (``content_type`` and base64 ``data``) or an allow-listed url.

    The same limits as FHIR attachments apply (docs/api.md, "Advice documents"): at most
    ``EHCP_MAX_DOCUMENT_BYTES`` decoded, a media type, a url only over https on a host in
    ``EHCP_DOCUMENT_URL_HOSTS``. The connector stores the bytes; Kafka carries only the claim.
    """

    content_type: str | None = Field(None, min_length=3, max_length=128, description=(
        "The media type, e.g. application/pdf. Required with data; with url, the document "
        "host's Content-Type is used when it is not given."))
    data: str | None = Field(None, min_length=1, description=(
        "The document, base64 encoded (RFC 4648, padded; no line breaks)."))
    url: str | None = Field(None, min_length=9, max_length=1024, description=(
        "An https url on a host the connectors are configured to fetch from."))

    @model_validator(mode="after")
    def _data_or_url(self) -> Self:
        if (self.data is None) == (self.url is None):
            raise ValueError("give data or url, not both")
        if self.data is not None and self.content_type is None:
            raise ValueError("content_type is required with data")
        return self


class AdviceIn(_Strict):
    """Advice submitted over the JSON API (education or social care)."""

    contribution_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,127}$", description=(
        "Your id for this advice; re-sending the same id is safe (the same event id)."))
    advice_type: AdviceType
    case_id: str | None = Field(None, pattern=CASE_ID_PATTERN,
                                description="The case, if known; else give request_id or child.")
    request_id: str | None = Field(None, min_length=1, max_length=128,
                                   description="The advice request this answers, if any.")
    child: ChildIn | None = Field(None, description="Routes the advice by the child's identifiers.")
    submitted_at: AwareDatetime = Field(description="When the advice was given, with a UTC offset.")
    document: DocumentIn | None = Field(None, description=(
        "The advice document, if any: stored by the connector, claimed on the event."))


class AdviceRequestIn(_Strict):
    """The LA asks a body for advice under reg 6 (beyond the providers named at referral)."""

    request_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$",
                            description="The LA's id for the request; contributions quote it.")
    advice_type: AdviceType
    agency: IdentifierIn = Field(description="The body asked (an ODS code for health).")
    child: ChildIdsIn = Field(description="How the body knows the child (NHS number for health).")
    sent_on: date = Field(description="When the LA sent the request; the 6 weeks run from here.")


#: Part 3 of the Children and Families Act 2014 (EHC needs assessments) came into force on
#: 1 September 2014: no request for one can be dated earlier.
EHC_NEEDS_ASSESSMENTS_FROM: Final = datetime(2014, 9, 1, tzinfo=ZoneInfo(LONDON))


def check_referral(body: ReferralIn, now: datetime) -> None:
    """Refuse a referral dated in the future, received before the child was born, or asking an
    NHS body for advice without the child's NHS number (its Task names the patient by it).

    ``received_at`` may run up to :data:`CLOCK_SKEW` ahead of ``now``; the date of birth is
    compared with today's date in London (the day an English LA's staff see on their calendar).
    The model cannot check this itself: "now" comes from the injected clock.

    Args:
        body: a referral that passed its model's checks.
        now: the connectors' clock (tz-aware).

    Raises:
        ValidationError: located at ``/received_at``, ``/child/date_of_birth`` or
            ``/child/nhs_number``.
    """
    if body.received_at > now + CLOCK_SKEW:
        raise ValidationError(
            "received_at is in the future (more than 5 minutes ahead of the connectors' clock)",
            location="/received_at",
        )
    if body.child.date_of_birth > now.astimezone(ZoneInfo(LONDON)).date():
        raise ValidationError("date_of_birth is in the future", location="/child/date_of_birth")
    if body.received_at < EHC_NEEDS_ASSESSMENTS_FROM:
        # Also keeps the London conversion below in range (year 1 at UTC is year 0 in London).
        raise ValidationError(
            "received_at is before 1 September 2014, when requests for an EHC needs assessment "
            "began (Children and Families Act 2014, Part 3)", location="/received_at"
        )
    if body.received_at.astimezone(ZoneInfo(LONDON)).date() < body.child.date_of_birth:
        raise ValidationError(
            "received_at is before the child's date of birth", location="/received_at"
        )
    asks_health = any(p.agency.system == ODS_ORGANISATION_SYSTEM for p in body.advice_providers)
    if asks_health and body.child.nhs_number is None:
        raise ValidationError("a health body's Task names the child by NHS number",
                              location="/child/nhs_number")


def referral_record(body: ReferralIn) -> dict[str, Any]:
    """The Avro ``ReferralReceived`` record for a referral."""
    return {
        "event_id": str(uuid.uuid5(EVENT_NAMESPACE, f"referral|{body.case_id}")),
        "case_id": body.case_id,
        "la_code": body.la_code,
        "received_at": body.received_at.astimezone(UTC),
        "requested_by": body.requested_by.value,
        "child": {
            "identifiers": body.child.identifiers(),
            "date_of_birth": body.child.date_of_birth,
            "year_group": body.child.year_group,
            "vision_impairment": body.child.vision_impairment,
            "hearing_impairment": body.child.hearing_impairment,
            "looked_after": body.child.looked_after,
        },
        "areas_of_need": [a.value for a in body.areas_of_need],
        "institution": body.institution.model_dump() if body.institution else None,
        "advice_providers": [
            {"advice_type": p.advice_type.value, "agency": p.agency.model_dump()}
            for p in body.advice_providers
        ],
    }


def advice_record(
    body: AdviceIn,
    agency_system: str,
    agency_value: str,
    channel: str,
    document: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Avro ``AdviceSubmitted`` record for advice sent over a JSON API or CSV."""
    return {
        "event_id": str(
            uuid.uuid5(EVENT_NAMESPACE, f"advice|{agency_value}|{body.contribution_id}")
        ),
        "contribution_id": body.contribution_id,
        "case_id": body.case_id,
        "request_id": body.request_id,
        "child_identifiers": body.child.identifiers() if body.child else [],
        "child_date_of_birth": body.child.date_of_birth if body.child else None,
        "advice_type": body.advice_type.value,
        "agency": {"system": agency_system, "value": agency_value},
        "submitted_at": body.submitted_at.astimezone(UTC),
        "channel": channel,
        "document": document,
    }


#: Casework events each agency kind may record (docs/casework-events.md).
EDUCATION_EVENT_TYPES: Final = frozenset(
    {
        "DecisionToAssessMade",
        "AssessmentRefused",
        "AdviceReused",
        "AdviceRequestDeclined",
        "TimescaleExceptionRecorded",
        "TimescaleExceptionEnded",
        "DecisionNotToIssuePlan",
        "DraftPlanIssued",
        "FinalPlanIssued",
        "AnnualReviewMeetingHeld",
        "AmendmentsProposed",
        "AmendedPlanIssued",
        "ReassessmentDecided",
        "PhaseTransferNoted",
        "PlanCeased",
        "LookedAfterStatusChanged",
        "AdditionalAdviceAdded",
        "InstitutionClosurePeriodRecorded",
        "ReviewMeetingScheduled",
        "ReviewInvitationsSent",
        "ReviewAdviceCirculated",
        "ReviewReportSent",
        "ReviewDecisionMade",
        "CeaseIntentionNotified",
        "CessationDecided",
        "MediationRequested",
        "MediationHealthBodyNotified",
        "MediationHeld",
        "MediationCertificateIssued",
        "TribunalAppealRegistered",
        "TribunalResponseSubmitted",
        "TribunalOrderMade",
        "OrderComplied",
        "InstitutionRequested",
        "InstitutionConsulted",
        "InstitutionConsultationAnswered",
        "InstitutionRequestRefused",
        "InstitutionNamed",
        "PersonalBudgetRequested",
        "PersonalBudgetAgreed",
        "PersonalBudgetRefused",
        # SEN Support evidence: the school's graduated approach, notional SEN budget spend and
        # top-up request; the LA's top-up decision. The Virtual School Head and Pupil Premium
        # Plus are education's too (the VSH is an LA education service; schools claim PP+).
        "GraduatedApproachCycleRecorded",
        "NotionalSenBudgetSpendRecorded",
        "TopUpFundingRequested",
        "TopUpFundingDecided",
        "VirtualSchoolHeadNamed",
        "PupilPremiumPlusEligibilityRecorded",
        # Reg 15: the old LA transfers the plan; the new LA gives its notice.
        "PlanTransferred",
        "TransferNoticeGiven",
        # Reg 16: the LA records the change of health commissioning body it is told of, and
        # the new body's request for an assessment or a review.
        "CommissioningBodyChanged",
        "HealthProvisionReviewRequested",
    }
)
#: What a school or college (an education credential named by its URN) may record: the head
#: teacher may arrange and hold the review meeting and send its report (reg 20(1), (7)); a
#: consulted institution answers (CFA s.39(2)); a body asked for advice may decline its own
#: request; an institution records its own closure periods; and the setting's SEN Support
#: evidence (graduated approach, notional SEN budget spend, a top-up request, Pupil Premium
#: Plus). Everything else is the LA's own decision or notice (docs/casework-events.md).
INSTITUTION_EVENT_TYPES: Final = frozenset(
    {
        "AnnualReviewMeetingHeld",
        "ReviewMeetingScheduled",
        "ReviewInvitationsSent",
        "ReviewAdviceCirculated",
        "ReviewReportSent",
        "InstitutionConsultationAnswered",
        "AdviceRequestDeclined",
        "InstitutionClosurePeriodRecorded",
        "GraduatedApproachCycleRecorded",
        "NotionalSenBudgetSpendRecorded",
        "TopUpFundingRequested",
        "PupilPremiumPlusEligibilityRecorded",
    }
)
#: Education event types only a local authority (an education credential named by an LA code)
#: records: decisions, plans, notices, disputes, placement, budgets, top-up decisions, the
#: Virtual School Head and transfers.
LA_ONLY_EVENT_TYPES: Final = EDUCATION_EVENT_TYPES - INSTITUTION_EVENT_TYPES
SOCIAL_CARE_EVENT_TYPES: Final = frozenset(
    {
        "LookedAfterStatusChanged",
        "TimescaleExceptionRecorded",
        "TimescaleExceptionEnded",
        # Care status comes from social care (looked after, or previously looked after and how).
        "CareStatusRecorded",
        "VirtualSchoolHeadNamed",
        "PupilPremiumPlusEligibilityRecorded",
    }
)


#: Casework event types each agency kind may record.
CASEWORK_EVENT_TYPES: Final[dict[str, frozenset[str]]] = {
    "education": EDUCATION_EVENT_TYPES,
    "social_care": SOCIAL_CARE_EVENT_TYPES,
}


def casework_event(case_id: str, body: dict[str, Any], principal: Principal) -> PublishedEvent:
    """Validate one casework event body for a case and build its ``CaseworkEventRecorded`` event.

    The event types allowed are those of the principal's agency kind
    (:data:`CASEWORK_EVENT_TYPES`). Used by the JSON API and the CSV import alike.

    Raises:
        ValidationError: located by JSON pointer (``/type``, ``/case_id``, ``/<field>``).
    """
    allowed = CASEWORK_EVENT_TYPES.get(principal.kind, frozenset())
    if body.get("type") not in allowed:
        raise ValidationError(
            f"event type must be one of {', '.join(sorted(allowed))}", location="/type"
        )
    if body.get("type") in LA_ONLY_EVENT_TYPES and principal.agency_system != LA_CODE_SYSTEM:
        raise ValidationError(
            f"only the local authority records {body['type']}; a school or college may record "
            f"{', '.join(sorted(INSTITUTION_EVENT_TYPES))}",
            location="/type",
        )
    if body.get("case_id") != case_id:
        raise ValidationError("case_id must equal the case in the path", location="/case_id")
    try:
        event = parse_event(body)
    except ValidationError as exc:
        field = (exc.location or "").rsplit("/", 1)[-1] if "/" in (exc.location or "") else ""
        raise ValidationError(exc.message, location=f"/{field}") from exc
    record = {
        "event_id": event.event_id,
        "case_id": case_id,
        "event_type": type(event).__name__,
        "occurred_on": event_date(event),
        "recorded_by": {"system": principal.agency_system, "value": principal.agency_value},
        "event_json": json.dumps(event_to_dict(event)),
    }
    schema = CASEWORK_EVENTS.value_schema or ""
    return PublishedEvent(
        topic=CASEWORK_EVENTS.name,
        key=case_id,
        schema_name=schema,
        record=record,
        ce_type=event_type(schema),
        ce_subject=case_id,
    )


def advice_request_event(
    case_id: str, body: AdviceRequestIn, principal: Principal, today: date
) -> PublishedEvent:
    """Validate an LA's advice request and build its ``AdviceRequested`` event.

    A request to an NHS organisation becomes a FHIR Task for it, which names the child by NHS
    number; the case stage tracks the request's reg 8(1) deadline like those sent at referral.

    Raises:
        AuthError: (403) the credential is not a local authority's.
        ValidationError: no child identifier, no NHS number for a health body, or a future date.
    """
    if principal.agency_system != LA_CODE_SYSTEM:
        raise AuthError("only a local authority may request advice", status=403)
    if body.sent_on > today:
        raise ValidationError("sent_on is in the future", location="/sent_on")
    identifiers = body.child.identifiers()
    if not identifiers:
        raise ValidationError("give at least one child identifier", location="/child")
    if body.agency.system == ODS_ORGANISATION_SYSTEM and body.child.nhs_number is None:
        raise ValidationError("a health body's Task names the child by NHS number",
                              location="/child/nhs_number")
    record = advice_requested(
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, f"advice-request|{case_id}|{body.request_id}")),
        request_id=body.request_id,
        case_id=case_id,
        advice_type=body.advice_type.value,
        agency=body.agency.model_dump(),
        child_identifiers=identifiers,
        sent_on=body.sent_on,
        requester={"system": LA_CODE_SYSTEM, "value": principal.agency_value},
    )
    schema = ADVICE_REQUESTS.value_schema or ""
    return PublishedEvent(
        topic=ADVICE_REQUESTS.name,
        key=case_id,
        schema_name=schema,
        record=record,
        ce_type=event_type(schema),
        ce_subject=case_id,
    )
