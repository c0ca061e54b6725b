"""Acting on a case: record advice that arrived by email or post (managers and case officers).

The form is refused before anything is stored when its CSRF token is wrong, the body is larger
than the document limit allows, the file is of a type we do not take, or any field is wrong:
the page says what to fix, and nothing reaches the document store or Kafka. The success page
is shown only once Kafka has acknowledged the advice (acks=all).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from ehcp.errors import PublishError, ValidationError
from ehcp.readmodel import views
from ehcp.readmodel.access import AdviceItem
from workspace import record_advice, record_event
from workspace.audit import ActionKind, audit_action
from workspace.render import page
from workspace.routes.pages import new_submission_id, refused_as_not_found
from workspace.security import (
    MAX_FORM_OVERHEAD,
    ActorDep,
    ClockDep,
    EngineDep,
    SettingsDep,
    caseload_of,
    checked_form,
)

log = structlog.get_logger(__name__)
router = APIRouter()
_UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _open_items(case: views.CasePage) -> list[AdviceItem]:
    return [i for i in case.detail.advice_items
            if i.status in (*views.OPEN_STATUSES, "NOT_REQUESTED")]


async def _case_or_404(request: Request, session: Any, engine: Any, clock: Any,
                       case_id: str) -> views.CasePage:
    found = await run_in_threadpool(views.case_page, engine, session.user.la_code, clock,
                                    case_id[:200], caseload_of=caseload_of(session))
    if found is None:
        await refused_as_not_found(request, session)
    return found


def _form_page(request: Request, case: views.CasePage, settings: Any, *, error: str | None = None,
               status_code: int = 200, values: dict[str, Any] | None = None) -> Response:
    return page(request, "record_advice.html", {
        "case": case, "items": _open_items(case), "error": error,
        "values": values or {}, "submission_id": (values or {}).get("submission_id")
        or new_submission_id(), "max_mb": settings.max_document_bytes // (1024 * 1024),
        "how_received": record_advice.HOW_RECEIVED,
    }, status_code=status_code)


@router.get("/cases/{case_id}/record-advice")
async def record_form(request: Request, case_id: str, session: ActorDep, engine: EngineDep,
                      clock: ClockDep, settings: SettingsDep) -> Response:
    """The form to record advice received outside the system."""
    return _form_page(request, await _case_or_404(request, session, engine, clock, case_id),
                      settings)


@router.post("/cases/{case_id}/record-advice")
async def record(request: Request, case_id: str, session: ActorDep, engine: EngineDep,
                 clock: ClockDep, settings: SettingsDep) -> Response:
    """Store the document and publish the advice; show the result once Kafka has it."""
    case = await _case_or_404(request, session, engine, clock, case_id)
    declared = request.headers.get("content-length", "")
    limit = settings.max_document_bytes
    if declared.isdigit() and int(declared) > limit + MAX_FORM_OVERHEAD:
        return _form_page(request, case, settings, status_code=413,
                          error=f"The file is too large: the limit is {limit // 1048576} MB.")
    try:
        form = await checked_form(request, session)
    except ValidationError as exc:
        return _form_page(request, case, settings, error=exc.message, status_code=400)
    values: dict[str, str] = {}
    for name in ("advice_type", "received_on", "how", "submission_id"):
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    upload = form.get("document")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("choose the document to upload", location="document")
        content = await upload.read(limit + 1)
        if len(content) > limit:
            return _form_page(request, case, settings, status_code=413, values=values,
                              error=f"The file is too large: the limit is {limit // 1048576} MB.")
        try:
            received_on = date.fromisoformat(values["received_on"])
        except ValueError as exc:
            raise ValidationError("enter the date received", location="received_on") from exc
        if not _UUID.match(values["submission_id"]):
            raise ValidationError("reload the form and try again", location="submission_id")
        item = next((i for i in _open_items(case) if i.advice_type == values["advice_type"]),
                    None)
        entry = record_advice.AdviceByHand(
            case_id=case.detail.summary.case_id, la_code=session.user.la_code,
            advice_type=values["advice_type"], received_on=received_on, how=values["how"],
            submission_id=values["submission_id"], filename=upload.filename[:255],
            content=content)
        event, receipt = await record_advice.record(
            entry, item, docstore=request.app.state.docstore,
            publisher=request.app.state.publisher,
            pseudonym_key=settings.pseudonym_key_bytes(), today=views.today(clock))
    except ValidationError as exc:
        return _form_page(request, case, settings, error=f"Check {exc.location}: {exc.message}.",
                          status_code=422, values=values)
    except PublishError:
        return _form_page(request, case, settings, status_code=503, values=values,
                          error="The advice could not be saved just now (Kafka is unavailable). "
                                "Nothing was recorded; try again in a minute.")
    case_id = case.detail.summary.case_id
    log.info("advice_recorded_by_hand", case_id=case_id, user_id=session.user.user_id,
             advice_type=entry.advice_type, topic=receipt.topic, partition=receipt.partition,
             offset=receipt.offset)
    await audit_action(request, session.user, ActionKind.ADVICE_RECORDED, case_id=case_id,
                       published_event_id=str(event.record["event_id"]))
    return RedirectResponse(
        f"/cases/{case_id}/recorded?event={event.record['event_id']}", status_code=303)


@router.get("/cases/{case_id}/recorded")
async def recorded(request: Request, case_id: str, session: ActorDep, engine: EngineDep,
                   clock: ClockDep, event: str = "") -> Response:
    """The success page: the advice is durably in Kafka; the case updates when it is routed."""
    case = await _case_or_404(request, session, engine, clock, case_id)
    return page(request, "recorded.html", {"case_id": case.detail.summary.case_id,
                                           "event_id": event[:64]})


@router.get("/cases/{case_id}/record-event")
async def event_form(request: Request, case_id: str, session: ActorDep, engine: EngineDep,
                     clock: ClockDep) -> Response:
    """The form to record a decision, a plan or a timescale exception."""
    case = await _case_or_404(request, session, engine, clock, case_id)
    return _event_page(request, case)


def _event_page(request: Request, case: views.CasePage, *, error: str | None = None,
                status_code: int = 200, values: dict[str, str] | None = None) -> Response:
    return page(request, "record_event.html", {
        "case": case, "error": error, "values": values or {},
        "submission_id": (values or {}).get("submission_id") or new_submission_id(),
        "event_types": record_event.EVENT_TYPES, "grounds": record_event.GROUNDS,
    }, status_code=status_code)


@router.post("/cases/{case_id}/record-event")
async def post_event(request: Request, case_id: str, session: ActorDep, engine: EngineDep,
                     clock: ClockDep) -> Response:
    """Validate like the JSON API, publish (acks=all), then show the result."""
    case = await _case_or_404(request, session, engine, clock, case_id)
    try:
        form = await checked_form(request, session)
    except ValidationError as exc:
        return _event_page(request, case, error=exc.message, status_code=400)
    values = {name: value for name in ("type", "occurred_on", "ends_on", "ground",
                                       "request_id", "submission_id")
              if isinstance(value := form.get(name), str)}
    the_case = case.detail.summary.case_id
    try:
        if not _UUID.match(values.get("submission_id", "")):
            raise ValidationError("reload the form and try again", location="submission_id")
        event = record_event.build_event(session.user, the_case, values)
        receipt = await request.app.state.publisher.publish(event)
    except ValidationError as exc:
        where = (exc.location or "").strip("/") or "the form"
        return _event_page(request, case, status_code=422, values=values,
                           error=f"Check {where}: {exc.message}.")
    except PublishError:
        return _event_page(request, case, status_code=503, values=values,
                           error="The event could not be saved just now (Kafka is unavailable). "
                                 "Nothing was recorded; try again in a minute.")
    log.info("casework_event_recorded_by_hand", case_id=the_case, user_id=session.user.user_id,
             event_type=values.get("type"), topic=receipt.topic, partition=receipt.partition,
             offset=receipt.offset)
    await audit_action(request, session.user, ActionKind.CASEWORK_EVENT_RECORDED,
                       case_id=the_case, published_event_id=str(event.record["event_id"]))
    return RedirectResponse(
        f"/cases/{the_case}/recorded?event={event.record['event_id']}", status_code=303)
