"""JSON API of the education and social care connectors. Handlers are thin.

:data:`router` is included under ``/api`` by the app factory; handlers receive the caller, the
publisher, the settings and the clock through :mod:`connectors.deps`.

Every write answers 202 with the Kafka receipt only after acks=all: the event is durable, and the
streams will process it.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from connectors import limits
from connectors.api_docs import problem_responses
from connectors.case_owners import CaseOwners
from connectors.deps import (
    AgencyRequestsDep,
    CaseOwnersDep,
    ClockDep,
    DocumentStoreDep,
    EducationWriter,
    PublisherDep,
    SettingsDep,
    SocialCareWriter,
    UrlFetcherDep,
)
from connectors.documents import UrlFetcher
from connectors.education import examples
from connectors.education.documents import store_document
from connectors.education.models import (
    CASE_ID_PATTERN,
    AdviceIn,
    AdviceRequestIn,
    ReferralIn,
    advice_record,
    advice_request_event,
    casework_event,
    check_referral,
    referral_record,
)
from connectors.ports import DocumentStore, EventPublisher, Principal, PublishedEvent
from ehcp.casework.calendar import LONDON
from ehcp.casework.events import EVENT_TYPES
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import CONTRIBUTIONS, REFERRALS
from ehcp.errors import AuthError, ValidationError
from ehcp.settings import Settings


class Accepted(BaseModel):
    """Where the event now durably lives."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.ACCEPTED]})

    event_id: str = Field(description="The event's id: the same submission gets the same id.")
    topic: str = Field(description="The Kafka topic now holding the event.")
    partition: int
    offset: int


def _event_body(summary: str, example: dict[str, Any]) -> Any:
    return Body(
        description="One event in the casework event format (docs/casework-events.md).",
        openapi_examples=examples.openapi_examples(summary, example),
    )


# Module level, so FastAPI can resolve these annotations (this module defers annotations).
EducationEventBody = Annotated[
    dict[str, Any], _event_body("the LA decides to assess", examples.EDUCATION_EVENT)
]
SocialCareEventBody = Annotated[
    dict[str, Any], _event_body("the child became looked after", examples.SOCIAL_CARE_EVENT)
]
ReferralBody = Annotated[ReferralIn, Body(openapi_examples=examples.openapi_examples(
    "a parent's request, naming the school, a health body and social care",
    examples.REFERRAL))]
EducationAdviceBody = Annotated[AdviceIn, Body(openapi_examples=examples.openapi_examples(
    "the school's advice for a case", examples.EDUCATION_ADVICE))]
SocialCareAdviceBody = Annotated[AdviceIn, Body(openapi_examples=examples.openapi_examples(
    "social care advice routed by the child's NHS number", examples.SOCIAL_CARE_ADVICE))]
AdviceRequestBody = Annotated[AdviceRequestIn, Body(openapi_examples=examples.openapi_examples(
    "the LA asks a health body for medical advice", examples.ADVICE_REQUEST))]
CaseIdInPath = Annotated[str, Path(pattern=CASE_ID_PATTERN)]


async def require_json_body(request: Request) -> None:
    """Refuse a body not sent as JSON with 415 (``application/json`` or ``+json``, any charset).

    Raises:
        HTTPException: 415, answered as a problem by the app.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")


#: The education and social care routes, included under ``/api`` by the app factory. Every
#: operation documents its error answers as problem details (connectors/api_docs.py).
router = APIRouter(dependencies=[Depends(require_json_body)], responses=problem_responses())


#: Every field name a casework event may have (docs/casework-events.md).
_EVENT_FIELDS: Final = frozenset(
    {"type"} | {f.name for cls in EVENT_TYPES.values() for f in dataclasses.fields(cls)}
)
#: Free-text casework event fields; every other string is an id or a code.
_EVENT_TEXT_FIELDS: Final = frozenset({"description", "detail"})


def _event_string_limit(path: tuple[str | int, ...]) -> int:
    return limits.TEXT_MAX if path and path[-1] in _EVENT_TEXT_FIELDS else limits.CODE_MAX


def _casework_event(case_id: str, body: dict[str, Any], principal: Principal) -> PublishedEvent:
    """The event for a casework body, with its strings bounded and made-up names not echoed.

    Raises:
        ValidationError: (422) the body does not fit (located by JSON pointer).
        LimitExceededError: (422) an id over ``limits.CODE_MAX`` or text over ``limits.TEXT_MAX``.
    """
    try:
        event = casework_event(case_id, body, principal)
    except ValidationError as exc:
        field = (exc.location or "/").lstrip("/")
        if field and field not in _EVENT_FIELDS:  # a field the sender made up: its name is input
            raise ValidationError("an unknown field for this event type",
                                  location="/") from exc
        raise
    # Checked after the event was parsed: every key is then a real field name.
    limits.check_strings(body, _event_string_limit, limits.json_pointer)
    return event


async def _publish(publisher: EventPublisher, event: PublishedEvent) -> Accepted:
    receipt = await publisher.publish(event)
    return Accepted(
        event_id=str(event.record["event_id"]),
        topic=receipt.topic,
        partition=receipt.partition,
        offset=receipt.offset,
    )


async def _advice(
    body: AdviceIn, principal: Principal, settings: Settings, owners: CaseOwners,
    docstore: DocumentStore, fetcher: UrlFetcher | None,
) -> PublishedEvent:
    """The AdviceSubmitted event for advice over the JSON API, checked against the caller.

    Everything about the caller is checked before the document is read or stored; the
    document is stored before the event is built, so the event carries its claim check.
    """
    owners.check(principal, body.case_id)
    if body.advice_type.value not in principal.advice_types:
        # The advice type passed the enum check, so naming it echoes no input.
        raise AuthError(f"this agency may not submit {body.advice_type.value} advice", status=403)
    if body.case_id is None and body.child is None and body.request_id is None:
        raise ValidationError(
            "give case_id, request_id or child so the advice can be routed", location="/case_id"
        )
    claim = (await store_document(body.document, settings, fetcher, docstore)
             if body.document is not None else None)
    record = advice_record(body, principal.agency_system, principal.agency_value, "JSON_API",
                           document=claim.as_record() if claim else None)
    schema = CONTRIBUTIONS.value_schema or ""
    return PublishedEvent(
        topic=CONTRIBUTIONS.name,
        key=contribution_key(settings.pseudonym_key_bytes(), record),
        schema_name=schema,
        record=record,
        ce_type=event_type(schema),
        ce_subject=body.case_id or body.contribution_id,
    )


@router.post(
    "/education/referrals",
    status_code=202,
    response_model=Accepted,
    tags=["education"],
    summary="A request for an EHC needs assessment was received",
)
async def post_referral(
    body: ReferralBody, principal: EducationWriter, publisher: PublisherDep, clock: ClockDep,
    owners: CaseOwnersDep,
) -> Any:
    if principal.agency_value != body.la_code:
        raise AuthError("this credential may only submit referrals for its own LA", status=403)
    owners.check(principal, body.case_id)
    check_referral(body, clock.now())
    schema = REFERRALS.value_schema or ""
    event = PublishedEvent(
        topic=REFERRALS.name,
        key=body.case_id,
        schema_name=schema,
        record=referral_record(body),
        ce_type=event_type(schema),
        ce_subject=body.case_id,
    )
    return await _publish(publisher, event)


@router.post(
    "/education/advice",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(502),
    tags=["education"],
    summary="Educational, psychological or family advice",
)
async def post_education_advice(
    body: EducationAdviceBody,
    principal: EducationWriter,
    publisher: PublisherDep,
    settings: SettingsDep,
    owners: CaseOwnersDep,
    docstore: DocumentStoreDep,
    fetcher: UrlFetcherDep,
    requests: AgencyRequestsDep,
) -> Any:
    accepted = await _publish(
        publisher, await _advice(body, principal, settings, owners, docstore, fetcher))
    if body.request_id is not None:
        await requests.complete_answered(principal, body.request_id)
    return accepted


@router.post(
    "/social-care/advice",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(502),
    tags=["social care"],
    summary="Social care advice (reg 6(1)(e))",
)
async def post_social_care_advice(
    body: SocialCareAdviceBody,
    principal: SocialCareWriter,
    publisher: PublisherDep,
    settings: SettingsDep,
    owners: CaseOwnersDep,
    docstore: DocumentStoreDep,
    fetcher: UrlFetcherDep,
    requests: AgencyRequestsDep,
) -> Any:
    accepted = await _publish(
        publisher, await _advice(body, principal, settings, owners, docstore, fetcher))
    if body.request_id is not None:
        await requests.complete_answered(principal, body.request_id)
    return accepted


@router.post(
    "/education/cases/{case_id}/events",
    status_code=202,
    response_model=Accepted,
    tags=["education"],
    summary="Record a casework event (decision, plan, review, exception, term dates)",
)
async def post_education_event(
    case_id: str, body: EducationEventBody, principal: EducationWriter, publisher: PublisherDep,
    owners: CaseOwnersDep,
) -> Any:
    owners.check(principal, case_id)
    return await _publish(publisher, _casework_event(case_id, body, principal))


@router.post(
    "/education/cases/{case_id}/advice-requests",
    status_code=202,
    response_model=Accepted,
    tags=["education"],
    summary="Ask a body for advice (reg 6); a health body receives it as a FHIR Task",
)
async def post_advice_request(
    case_id: CaseIdInPath,
    body: AdviceRequestBody,
    principal: EducationWriter,
    publisher: PublisherDep,
    clock: ClockDep,
    owners: CaseOwnersDep,
) -> Any:
    owners.check(principal, case_id)
    today = clock.now().astimezone(ZoneInfo(LONDON)).date()
    return await _publish(publisher, advice_request_event(case_id, body, principal, today))


@router.post(
    "/social-care/cases/{case_id}/events",
    status_code=202,
    response_model=Accepted,
    tags=["social care"],
    summary="Record looked-after status or a timescale exception known to social care",
)
async def post_social_care_event(
    case_id: str, body: SocialCareEventBody, principal: SocialCareWriter, publisher: PublisherDep,
    owners: CaseOwnersDep,
) -> Any:
    owners.check(principal, case_id)
    return await _publish(publisher, _casework_event(case_id, body, principal))
