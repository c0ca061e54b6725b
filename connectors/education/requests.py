"""Advice requests over the JSON APIs: a school, EP service or social care team reads its own.

:data:`router` is included under ``/api`` by the app factory. The handlers are thin: the use
cases are :class:`connectors.agency_requests.AgencyRequests`. Reads need the credential's read
scope (``education:read``, ``social_care:read``), accepting or declining its write scope.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from connectors.agency_requests import (
    CURSOR_MAX,
    DEFAULT_PAGE,
    MAX_PAGE,
    AdviceRequestView,
    AgencyRequests,
    RequestPage,
    RequestStatus,
    StatusChange,
)
from connectors.api_docs import problem_responses
from connectors.deps import (
    AgencyRequestsDep,
    EducationReader,
    EducationWriter,
    SocialCareReader,
    SocialCareWriter,
)
from connectors.education.router import require_json_body
from connectors.ports import Principal
from ehcp.casework.events import DeclineReason

REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$"

_EXAMPLE: Final[dict[str, Any]] = {
    "request_id": "EHC-999-0001-SC",
    "case_id": "EHC-999-0001",
    "requested_by": "999",
    "advice_type": "SOCIAL_CARE",
    "regulation": "reg 6(1)(e)",
    "sent_on": "2026-10-05",
    "due_on": "2026-11-16",
    "days_overdue": 3,
    "status": "REQUESTED",
    "decline_reason": None,
    "updated_at": "2026-10-05T09:12:44.120000+00:00",
}


class AdviceRequestOut(BaseModel):
    """An advice request sent to the caller's agency."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    request_id: str = Field(description="The LA's id for the request; quote it with the advice.")
    case_id: str = Field(description="The EHC case.")
    requested_by: str | None = Field(description="The DfE LA code of the local authority asking.")
    advice_type: str = Field(description="The advice asked for (an AdviceType).")
    regulation: str = Field(description="The regulation requiring it, e.g. reg 6(1)(e).")
    sent_on: date = Field(description="When the LA sent it; reg 8(1)'s 6 weeks run from here.")
    due_on: date = Field(description="When the advice is due.")
    days_overdue: int | None = Field(description=(
        "Whole days past due_on today (London), computed when read; 0 if not overdue; null once "
        "declined or completed."))
    status: RequestStatus
    decline_reason: str | None = Field(description="With DECLINED: the reason code given.")
    updated_at: datetime | None = Field(description=(
        "When its latest change happened (arrival of the request, or its status change)."))


class AdviceRequestPage(BaseModel):
    """One page of requests, oldest change first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "requests": [_EXAMPLE], "cursor": "eyJ2IjoxLCJzZWVuIjp7fX0",
        "next": None}]})

    requests: list[AdviceRequestOut]
    cursor: str = Field(description=(
        "Opaque: pass it back as ?cursor= later to get only the requests changed since."))
    next: str | None = Field(description="The next page now, when more requests are waiting.")


class StatusChangeIn(BaseModel):
    """Accept a request, or decline it with a reason (the LA sees the reason on the case)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"status": "DECLINED", "reason": "NOT_KNOWN_TO_SERVICE",
         "reason_text": "No open or closed involvement with this family."}]})

    status: Literal[RequestStatus.ACCEPTED, RequestStatus.DECLINED]
    reason: DeclineReason | None = Field(None, description=(
        "Required with DECLINED, not allowed with ACCEPTED. Declining does not stop the LA's "
        "statutory clock."))
    reason_text: str | None = Field(None, min_length=1, max_length=4096, description=(
        "Free text for the LA; kept on the task-status topic only, never copied into the case "
        "status or logged."))


RequestIdInPath = Annotated[str, Path(pattern=REQUEST_ID_PATTERN)]
StatusFilter = Annotated[list[RequestStatus] | None, Query(
    description="Only requests with one of these statuses (repeat the parameter).")]
UpdatedSince = Annotated[AwareDatetime | None, Query(
    description="Only requests changed at or after this time (with a UTC offset).")]
CursorParam = Annotated[str | None, Query(max_length=CURSOR_MAX, description=(
    "A cursor from an earlier answer: only requests changed since it."))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
StatusBody = Annotated[StatusChangeIn, Body()]

#: The requests routes, included under ``/api`` by the app factory.
router = APIRouter(responses=problem_responses(401, 403, 404, 422, 503))


def _out(view: AdviceRequestView) -> AdviceRequestOut:
    return AdviceRequestOut(**dataclasses.asdict(view))


def _page(request: Request, page: RequestPage) -> AdviceRequestPage:
    next_url = None
    if page.more:
        url = request.url.remove_query_params("updated_since")
        next_url = str(url.include_query_params(cursor=page.cursor))
    return AdviceRequestPage(requests=[_out(v) for v in page.requests], cursor=page.cursor,
                             next=next_url)


def _list(request: Request, service: AgencyRequests, principal: Principal,
          status: list[RequestStatus] | None, updated_since: datetime | None,
          cursor: str | None, limit: int) -> AdviceRequestPage:
    return _page(request, service.list(
        principal, statuses=frozenset(status) if status else None, updated_since=updated_since,
        cursor=cursor, limit=limit))


async def _change(service: AgencyRequests, principal: Principal, request_id: str,
                  body: StatusChangeIn) -> AdviceRequestOut:
    return _out(await service.change_status(principal, request_id, StatusChange(
        status=body.status, reason=body.reason, reason_text=body.reason_text)))


_LIST = "The advice requests sent to this credential's agency, changed since a point"
_READ = "One advice request sent to this credential's agency"
_STATUS = "Accept or decline an advice request (the LA sees it on the case)"
_STATUS_RESPONSES = problem_responses(401, 403, 404, 409, 415, 422, 503)


@router.get("/education/requests", response_model=AdviceRequestPage, tags=["education"],
            summary=_LIST)
async def list_education_requests(
    request: Request, principal: EducationReader, service: AgencyRequestsDep,
    status: StatusFilter = None, updated_since: UpdatedSince = None, cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE,
) -> Any:
    return _list(request, service, principal, status, updated_since, cursor, limit)


@router.get("/education/requests/{request_id}", response_model=AdviceRequestOut,
            tags=["education"], summary=_READ)
async def read_education_request(
    request_id: RequestIdInPath, principal: EducationReader, service: AgencyRequestsDep,
) -> Any:
    return _out(service.read(principal, request_id))


@router.post("/education/requests/{request_id}/status", response_model=AdviceRequestOut,
             tags=["education"], summary=_STATUS, responses=_STATUS_RESPONSES,
             dependencies=[Depends(require_json_body)])
async def change_education_request_status(
    request_id: RequestIdInPath, body: StatusBody, principal: EducationWriter,
    service: AgencyRequestsDep,
) -> Any:
    return await _change(service, principal, request_id, body)


@router.get("/social-care/requests", response_model=AdviceRequestPage, tags=["social care"],
            summary=_LIST)
async def list_social_care_requests(
    request: Request, principal: SocialCareReader, service: AgencyRequestsDep,
    status: StatusFilter = None, updated_since: UpdatedSince = None, cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE,
) -> Any:
    return _list(request, service, principal, status, updated_since, cursor, limit)


@router.get("/social-care/requests/{request_id}", response_model=AdviceRequestOut,
            tags=["social care"], summary=_READ)
async def read_social_care_request(
    request_id: RequestIdInPath, principal: SocialCareReader, service: AgencyRequestsDep,
) -> Any:
    return _out(service.read(principal, request_id))


@router.post("/social-care/requests/{request_id}/status", response_model=AdviceRequestOut,
             tags=["social care"], summary=_STATUS, responses=_STATUS_RESPONSES,
             dependencies=[Depends(require_json_body)])
async def change_social_care_request_status(
    request_id: RequestIdInPath, body: StatusBody, principal: SocialCareWriter,
    service: AgencyRequestsDep,
) -> Any:
    return await _change(service, principal, request_id, body)
