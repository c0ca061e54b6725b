"""Pages that read: the work tray, a case, its documents, the unrouted queue, the overview.

Handlers are thin: they read the query, call :mod:`ehcp.readmodel.views` with the user's LA
(and a case officer's caseload) and render. They are plain ``def``: FastAPI runs them in its
thread pool, so database reads never block the event loop.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any, NoReturn

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from connectors.ports import DocumentStore
from ehcp.errors import ValidationError
from ehcp.readmodel import people, pseudonyms, views
from workspace.render import page
from workspace.security import (
    ClockDep,
    EngineDep,
    ManagerDep,
    NotFound,
    SessionDep,
    SettingsDep,
    audit_refusal,
    caseload_of,
    checked_form,
)

log = structlog.get_logger(__name__)
router = APIRouter()

Short = Annotated[str | None, Query(max_length=200)]


@router.get("/")
def home(session: SessionDep) -> Response:
    """The work tray is the home page."""
    return RedirectResponse("/tray", status_code=303)


#: A child identifier's pseudonym in a tray URL (never the identifier: docs/workspace.md).
ChildKey = Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")]


@router.get("/tray")
def tray(request: Request, session: SessionDep, engine: EngineDep, clock: ClockDep,
         agency: Short = None, advice_type: Short = None, officer: Short = None,
         stage: Short = None, q: Short = None, school: Short = None, child: ChildKey = None,
         sort: views.TraySort = views.TraySort.MOST_OVERDUE,
         page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1) -> Response:
    """Open advice due soon or overdue across the user's cases, filtered, sorted and paged."""
    return _tray_page(request, session, engine, clock, views.TrayFilter(
        agency=agency or None, advice_type=advice_type or None, officer_id=officer or None,
        stage=stage or None, case_search=(q or "").strip() or None,
        school=(school or "").strip() or None, child_key=child or None, sort=sort,
        page=page_number))


def _tray_page(request: Request, session: people.SessionInfo, engine: Any, clock: Any,
               flt: views.TrayFilter, *, error: str | None = None,
               status_code: int = 200) -> Response:
    result = views.work_tray(engine, session.user.la_code, clock, flt,
                             caseload_of=caseload_of(session))
    query = {k: v for k, v in {
        "agency": flt.agency, "advice_type": flt.advice_type, "officer": flt.officer_id,
        "stage": flt.stage, "q": flt.case_search, "school": flt.school, "child": flt.child_key,
        "sort": flt.sort.value}.items() if v}
    return page(request, "tray.html", {
        "tray": result, "filter": flt, "query": query,
        "officers": people.officers(engine, session.user.la_code),
        "advice_types": _advice_types(), "sorts": list(views.TraySort),
        "today": views.today(clock), "child_error": error,
    }, status_code=status_code)


@router.post("/tray/child-search")
async def child_search(request: Request, session: SessionDep, engine: EngineDep,
                       clock: ClockDep, settings: SettingsDep) -> Response:
    """Search the tray by a child identifier (NHS number, UPN, ...), posted so that it never
    appears in a URL or an access log: the answer redirects to the tray filtered by the
    identifier's keyed pseudonym, which is all the read model holds."""
    try:
        form = await checked_form(request, session)
    except ValidationError as exc:
        return await run_in_threadpool(_tray_page, request, session, engine, clock,
                                       views.TrayFilter(), error=exc.message, status_code=400)
    sent = form.get("child")
    key = (pseudonyms.child_search_key(settings.pseudonym_key_bytes(), sent)
           if isinstance(sent, str) else None)
    if key is None:
        return await run_in_threadpool(
            _tray_page, request, session, engine, clock, views.TrayFilter(),
            error="Enter the child's NHS number, UPN or other identifier (at most "
                  f"{pseudonyms.MAX_IDENTIFIER} characters).", status_code=422)
    return RedirectResponse(f"/tray?child={key}", status_code=303)


def _advice_types() -> list[str]:
    from connectors.education.models import AdviceType

    return [a.value for a in AdviceType]


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, session: SessionDep, engine: EngineDep,
                    clock: ClockDep) -> Response:
    """A case's timeline: statutory dates, advice asked and received, alerts and their rules."""
    found = await run_in_threadpool(views.case_page, engine, session.user.la_code, clock,
                                    case_id[:200], caseload_of=caseload_of(session))
    if found is None:
        await refused_as_not_found(request, session)
    return page(request, "case.html", {"case": found, "d": found.detail,
                                       "timeline": _timeline(found),
                                       "today": views.today(clock)})


async def refused_as_not_found(request: Request,
                               session: people.SessionInfo) -> NoReturn:
    """Audit a case or document the user may not see (or that does not exist); answer 404.

    Raises:
        NotFound: always (the same answer for another LA's case and for none at all).
    """
    await audit_refusal(request, session.user, "case or document not found or not the user's")
    raise NotFound()


def _timeline(case: views.CasePage) -> list[dict[str, Any]]:
    """What happened and what is due, in date order (statutory dates with their regulation)."""
    d = case.detail
    entries: list[dict[str, Any]] = []
    if d.summary.received_on:
        entries.append({"on": d.summary.received_on, "what": "Request for assessment received",
                        "regulation": "reg 3", "kind": "event"})
    for due in d.statutory_dates:
        what = (f"{due.advice_type} advice due" if due.name == "advice_due"
                else due.name.replace("_", " ").capitalize())
        if due.status:
            what += f" ({due.status.lower().replace('_', ' ')})"
        entries.append({"on": due.due_on, "kind": "due", "what": what,
                        "regulation": due.regulation})
        if due.completed_on is not None:
            entries.append({"on": due.completed_on, "kind": "event",
                            "what": f"Done: {due.name.replace('_', ' ')}",
                            "regulation": due.regulation})
    for advice in d.advice_received:
        entries.append({"on": advice.submitted_at.date(), "kind": "event",
                        "what": f"{advice.advice_type} advice received from "
                                f"{advice.agency.value} ({advice.channel})",
                        "regulation": ""})
    for alert in case.alert_history:
        entries.append({"on": alert.as_of, "kind": "alert",
                        "what": f"Alert {alert.status.lower()}: {alert.message}",
                        "regulation": alert.regulation})
    return sorted(entries, key=lambda e: (e["on"], e["kind"]))


@router.get("/cases/{case_id}/advice/{event_id}/document")
async def document(request: Request, case_id: str, event_id: str, session: SessionDep,
                   engine: EngineDep, clock: ClockDep, download: bool = False) -> Response:
    """The advice's document, to open in the browser or (``?download=1``) to save; audited."""
    found = await run_in_threadpool(
        views.advice_document, engine, session.user.la_code, clock, case_id[:200],
        event_id[:200], caseload_of=caseload_of(session))
    docstore: DocumentStore = request.app.state.docstore
    claim = None if found is None else found.document
    content = None if claim is None else await run_in_threadpool(docstore.get, claim.sha256)
    if found is None or claim is None or content is None:
        await refused_as_not_found(request, session)
    await request.app.state.document_reads.read(session.user, claim.sha256, case_id, request)
    media = claim.content_type
    inline_ok = media in ("application/pdf", "image/png", "image/jpeg", "text/plain")
    disposition = "inline" if inline_ok and not download else "attachment"
    name = f"{case_id}-{found.advice_type.lower()}{_extension(media)}"
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "no-store",
    })


def _extension(media: str) -> str:
    return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
            "text/plain": ".txt"}.get(media, ".docx" if "wordprocessing" in media else ".bin")


@router.get("/overview")
def overview(request: Request, session: ManagerDep, engine: EngineDep,
             clock: ClockDep) -> Response:
    """Charts with their tables and CSV exports (managers)."""
    return page(request, "overview.html",
                {"series": views.overview(engine, session.user.la_code, clock)})


@router.get("/overview/{key}.csv")
def overview_csv(key: str, session: ManagerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """One chart's table as CSV."""
    for series in views.overview(engine, session.user.la_code, clock):
        if series.key == key:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(series.columns)
            writer.writerows(series.rows)
            return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="{series.key}.csv"',
                "Cache-Control": "no-store"})
    raise NotFound()


def new_submission_id() -> str:
    """A fresh id for a form, so that sending the same form twice records it once."""
    return str(uuid.uuid4())
