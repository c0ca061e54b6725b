"""``/api/la``: the LA's cases, advice documents and alerts. Handlers are thin.

Every read goes through :class:`ehcp.readmodel.access.LaView` (run in a worker thread: the
database driver blocks). Another LA's case or document is 404, as an unknown one, and audited.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from connectors.api_docs import READ_PROBLEM_STATUSES, problem_responses
from connectors.deps import (
    AuditDep,
    CasesReader,
    ClockDep,
    DocumentsReader,
    DocumentStoreDep,
    ReadModelDep,
    la_view,
)
from connectors.la import models
from connectors.la.documents import refuse_not_found, stream_document

router = APIRouter(prefix="/la", tags=["local authority"])

_READ_ERRORS = problem_responses(401, 403, 422, 503, table=READ_PROBLEM_STATUSES)
_ONE_ERRORS = problem_responses(401, 403, 404, 422, 503, table=READ_PROBLEM_STATUSES)

Cursor = Annotated[str | None, Query(
    max_length=64, description="The cursor of the last page you read; none: from the start.")]
Limit = Annotated[int | None, Query(
    ge=1, description="Items per page (default 50; more than 200 is cut to 200).")]
CaseId = Annotated[str, Path(max_length=200, description="The EHC case id.")]
Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$",
                             description="The document's SHA-256 (64 lower-case hex digits).")]


def _next(request: Request, cursor: str) -> str:
    return str(request.url.include_query_params(cursor=cursor))


@router.get("/cases", response_model=models.CasePage, responses=_READ_ERRORS,
            summary="The LA's cases changed after a cursor or since a time")
async def list_cases(
    request: Request, principal: CasesReader, engine: ReadModelDep, clock: ClockDep,
    cursor: Cursor = None,
    updated_since: Annotated[datetime | None, Query(
        description="Only cases changed at or after this time (with its UTC offset).")] = None,
    limit: Limit = None,
) -> Any:
    """Cases of the caller's LA, oldest change first. Store `cursor` and pass it back to get
    only what changed since: a case changed while you page comes again later, never skipped."""
    view = la_view(principal, engine, clock)
    page = await asyncio.to_thread(view.cases_changed, cursor=cursor,
                                   updated_since=updated_since, limit=limit)
    return {"items": [models.case_summary(c) for c in page.items], "cursor": page.cursor,
            "has_more": page.has_more, "next": _next(request, page.cursor)}


@router.get("/cases/{case_id}", response_model=models.CaseOut, responses=_ONE_ERRORS,
            summary="One case: dates, advice asked for and received, documents, open alerts")
async def read_case(request: Request, case_id: CaseId, principal: CasesReader,
                    engine: ReadModelDep, clock: ClockDep, audit: AuditDep) -> Any:
    """One case of the caller's LA; another LA's case is 404, as an unknown one, and audited."""
    view = la_view(principal, engine, clock)
    case = await asyncio.to_thread(view.case, case_id)
    if case is None:
        await refuse_not_found(request, principal, audit, clock, "cases")
    return models.case_detail(case)


@router.get("/alerts", response_model=models.AlertPage, responses=_READ_ERRORS,
            summary="The LA's alerts, each by its latest event")
async def list_alerts(
    request: Request, principal: CasesReader, engine: ReadModelDep, clock: ClockDep,
    cursor: Cursor = None,
    status: Annotated[Literal["open", "all"], Query(
        description="open: leave out alerts whose latest event resolved them.")] = "all",
    limit: Limit = None,
) -> Any:
    """Alerts of the caller's LA whose latest event came after the cursor, oldest first; an
    event re-sent by Kafka is shown once; days overdue are counted today (London)."""
    view = la_view(principal, engine, clock)
    page = await asyncio.to_thread(view.alerts, cursor=cursor, open_only=status == "open",
                                   limit=limit)
    return {"items": [models.alert(a) for a in page.items], "cursor": page.cursor,
            "has_more": page.has_more, "next": _next(request, page.cursor)}


@router.get(
    "/documents/{sha256}", response_class=StreamingResponse, responses={
        200: {"description": "The document's bytes, with Content-Type, Content-Length, ETag "
                             "and Repr-Digest (sha-256); check the digest before use.",
              "content": {"application/pdf": {}, "application/octet-stream": {}}},
        **_ONE_ERRORS},
    summary="Download an advice document of one of the LA's cases")
async def read_document(request: Request, sha256: Sha256, principal: DocumentsReader,
                        engine: ReadModelDep, clock: ClockDep, audit: AuditDep,
                        store: DocumentStoreDep) -> StreamingResponse:
    """The document behind advice on one of the caller's LA's cases; every read is audited
    (RecordRead), and another LA's document is 404, as an unknown one, and audited."""
    view = la_view(principal, engine, clock)
    return await stream_document(request, principal, view, store, audit, clock, sha256, "API")
