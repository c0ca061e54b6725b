"""The FHIR HTTP interface: thin handlers over :class:`connectors.fhir.service.FhirService`.

The app factory includes :data:`router` under ``/fhir`` and keeps the ports on ``app.state``:
``settings``, ``publisher``, ``docstore``, ``credentials``, ``submissions``, ``tasks``,
``task_events``, ``clock`` and optionally ``url_fetcher``; handlers receive the service and the
caller through :mod:`connectors.deps`. Its exception handlers answer errors raised here with
:func:`connectors.fhir.outcome.error_response`.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from importlib import metadata
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine

from connectors.audit import document_read_record
from connectors.deps import (
    AuditDep,
    ClockDep,
    DocumentReferenceReader,
    DocumentsReader,
    DocumentStoreDep,
    FhirReader,
    FhirServiceDep,
    FhirWriter,
    ReadModelDep,
    SettingsDep,
    get_audit,
    get_readmodel,
    la_view,
)
from connectors.fhir.bundles import searchset
from connectors.fhir.capability import capability_statement
from connectors.fhir.codes import FHIR_JSON
from connectors.fhir.errors import (
    DocumentTooLargeError,
    MethodNotAllowedError,
    UnknownResourceTypeError,
)
from connectors.fhir.la_documents import (
    binary_resource,
    document_reference,
    parse_search,
    search_bundle,
)
from connectors.fhir.outcome import fhir_response
from connectors.fhir.parsing import check_content_type, parse_json
from connectors.fhir.patch import apply_task_patch, check_patch_content_type, parse_patch
from connectors.fhir.subscriptions import parse_subscription, subscription_resource
from connectors.la.documents import find_document, open_document, refuse_not_found, stream_document
from connectors.ports import Principal
from ehcp.errors import NotFoundError
from notify import store as notify_store
from notify.model import FhirSubscription

#: Room for the JSON around a base64 document (base64 is 4/3 of the bytes).
JSON_OVERHEAD_BYTES: Final = 256 * 1024
#: What each supported path allows (for 405 answers).
_ALLOWED: Final = {"metadata": ("GET",), "DocumentReference": ("GET", "POST"),
                   "Task": ("GET", "PUT", "PATCH"), "Binary": ("GET",),
                   "Subscription": ("GET", "POST", "DELETE")}

#: The health connector's routes, included under ``/fhir`` by the app factory.
router = APIRouter(tags=["fhir"])


def _software_version() -> str:
    try:
        return metadata.version("ehcp-exchange")
    except metadata.PackageNotFoundError:
        return "unknown"


def _base(request: Request, suffix: str) -> str:
    """The FHIR base URL of this request: its URL without ``suffix`` and the query."""
    url = str(request.url.replace(query=""))
    return url[: -len(suffix)] if suffix and url.endswith(suffix) else url.rstrip("/")


def _http_date(when: datetime | None) -> dict[str, str]:
    return {} if when is None else {"Last-Modified": format_datetime(when.astimezone(UTC),
                                                                      usegmt=True)}


async def _read_body(request: Request, max_document_bytes: int) -> dict[str, Any]:
    """The JSON body, refusing more than a maximal document could need before reading it all."""
    check_content_type(request.headers.get("content-type"))
    return parse_json(await _read_bytes(request, max_document_bytes))


async def _read_bytes(request: Request, max_document_bytes: int) -> bytes:
    """The raw body, refusing more than a maximal document could need before reading it all."""
    limit = max_document_bytes * 4 // 3 + JSON_OVERHEAD_BYTES
    too_large = DocumentTooLargeError(f"the request is larger than the {limit} bytes accepted")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


@router.get("/metadata")
async def metadata_(request: Request, clock: ClockDep) -> Response:
    """The CapabilityStatement (no authentication, as FHIR servers do)."""
    statement = capability_statement(base_url=_base(request, "/metadata"),
                                     date=clock.now().date().isoformat(),
                                     software_version=_software_version())
    return fhir_response(statement)


@router.post("/DocumentReference")
async def create_document_reference(request: Request, principal: FhirWriter,
                                    svc: FhirServiceDep, settings: SettingsDep) -> Response:
    """Submit advice (conditional create with ``If-None-Exist: identifier=...``)."""
    data = await _read_body(request, settings.max_document_bytes)
    result = await svc.submit_advice(principal, data,
                                     if_none_exist=request.headers.get("if-none-exist"))
    outcome = result.outcome
    base = _base(request, "/DocumentReference")
    headers = {"Location": f"{base}/DocumentReference/{outcome.resource_id}/_history/1",
               "ETag": 'W/"1"', **_http_date(result.last_updated)}
    return fhir_response(dict(outcome.resource), 201 if result.created else 200, headers)


@router.get("/DocumentReference")
async def search_document_references(request: Request, principal: DocumentsReader,
                                     engine: ReadModelDep, clock: ClockDep) -> Response:
    """The LA's advice documents (``subject`` = case, ``_lastUpdated``, ``_count``), paged."""
    search = parse_search(_query(request))
    view = la_view(principal, engine, clock)
    page = await asyncio.to_thread(
        view.documents, cursor=search.cursor, case_id=search.case_id,
        updated_after=search.updated_after, inclusive=search.inclusive, limit=search.count)
    return fhir_response(search_bundle(page, search, base_url=_base(request, "/DocumentReference"),
                                       self_link=str(request.url)))


@router.get("/DocumentReference/{resource_id}")
@router.get("/DocumentReference/{resource_id}/_history/1")
async def read_document_reference(request: Request, resource_id: str,
                                  principal: DocumentReferenceReader, svc: FhirServiceDep,
                                  clock: ClockDep) -> Response:
    """Advice the caller's organisation submitted (404 otherwise; the data stays out), or for
    an LA, the DocumentReference of advice on one of its cases (as its search lists it)."""
    if not principal.allows("fhir:read"):
        engine, audit = await get_readmodel(request), await get_audit(request)
        view = la_view(principal, engine, clock)
        advice = await asyncio.to_thread(view.advice, resource_id)
        if advice is None or advice.document is None:
            await refuse_not_found(request, principal, audit, clock, "documents")
        base = str(request.url.replace(query="")).rsplit("/DocumentReference/", 1)[0]
        return fhir_response(document_reference(advice, base), headers={
            "ETag": 'W/"1"', **_http_date(advice.updated_at)})
    result = await asyncio.to_thread(svc.read_document_reference, principal, resource_id)
    return fhir_response(dict(result.outcome.resource), headers={
        "ETag": 'W/"1"', **_http_date(result.last_updated)})


@router.get("/Binary/{sha256}")
async def read_binary(request: Request, sha256: str, principal: DocumentsReader,
                      engine: ReadModelDep, clock: ClockDep, audit: AuditDep,
                      store: DocumentStoreDep) -> Response:
    """An LA's advice document: raw bytes with their content type, or a FHIR JSON Binary when
    ``Accept`` asks for ``application/fhir+json``. Every read is audited."""
    view = la_view(principal, engine, clock)
    if FHIR_JSON not in request.headers.get("accept", ""):
        return await stream_document(request, principal, view, store, audit, clock, sha256,
                                     "FHIR")
    advice = await find_document(request, principal, view, audit, clock, sha256)
    claim = advice.document
    assert claim is not None  # noqa: S101 - find_document returns advice with a document
    handle, _ = await asyncio.to_thread(open_document, store, claim)
    with handle:
        content = await asyncio.to_thread(handle.read)
    await audit.read(document_read_record(
        principal, sha256=claim.sha256, case_id=advice.case_id, channel="FHIR",
        method=request.method, path=request.url.path, at=clock.now()))
    return fhir_response(binary_resource(claim, content), headers={
        "ETag": f'"{claim.sha256}"', "Cache-Control": "private, no-store"})


def _query(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


@router.post("")
@router.post("/")
async def transaction(request: Request, principal: FhirWriter,
                      svc: FhirServiceDep, settings: SettingsDep) -> Response:
    """A transaction Bundle: advice and the completed Task together."""
    data = await _read_body(request, settings.max_document_bytes)
    return fhir_response(await svc.transaction(principal, data))


@router.get("/Task")
async def search_tasks(request: Request, principal: FhirReader,
                       svc: FhirServiceDep) -> Response:
    """Tasks owned by the caller's organisation (``owner``, ``status``, ``_lastUpdated``,
    ``_count``; the ``next`` link pages on)."""
    params = list(request.query_params.multi_items())
    tasks, total, cursor = svc.search_task_page(principal, params)
    next_link = None
    if cursor is not None:
        kept = [(k, v) for k, v in params if k != "_cursor"] + [("_cursor", cursor)]
        next_link = str(request.url.replace(query=urlencode(kept)))
    return fhir_response(searchset(tasks, base_url=_base(request, "/Task"),
                                   self_link=str(request.url), total=total,
                                   next_link=next_link))


@router.post("/Task")
async def create_task(request: Request, principal: FhirWriter, svc: FhirServiceDep,
                      settings: SettingsDep) -> Response:
    """A Designated Clinical Officer delegates part of its own advice request to a provider:
    a sub-Task with ``partOf`` the caller's Task (201, or 200 for the same part again)."""
    data = await _read_body(request, settings.max_document_bytes)
    stored, created = await svc.delegate(principal, data)
    task = svc.read_task(principal, stored.task_id)
    return fhir_response(task, 201 if created else 200, headers={
        "Location": f"{_base(request, '/Task')}/Task/{stored.task_id}",
        "ETag": f'W/"{stored.version}"'})


@router.get("/Task/{task_id}")
async def read_task(task_id: str, request: Request, principal: FhirReader,
                    svc: FhirServiceDep) -> Response:
    """One Task, if the caller's organisation owns it (404 otherwise)."""
    task = svc.read_task(principal, task_id)
    last = task.get("lastModified")
    return fhir_response(task, headers={
        "ETag": f'W/"{task["meta"]["versionId"]}"',
        **_http_date(datetime.fromisoformat(last) if last else None)})


@router.put("/Task/{task_id}")
async def update_task(task_id: str, request: Request, principal: FhirWriter,
                      svc: FhirServiceDep, settings: SettingsDep) -> Response:
    """Accept, reject (with statusReason) or complete an advice request."""
    data = await _read_body(request, settings.max_document_bytes)
    prepared = svc.prepare_task_update(principal, task_id, data)
    stored = await svc.apply_task_update(principal, prepared)
    task = svc.read_task(principal, stored.task_id)
    return fhir_response(task, headers={"ETag": f'W/"{stored.version}"',
                                        **_http_date(stored.last_modified)})


@router.patch("/Task/{task_id}")
async def patch_task(task_id: str, request: Request, principal: FhirWriter,
                     svc: FhirServiceDep, settings: SettingsDep) -> Response:
    """Change status (and statusReason) with a JSON Patch; checked as a PUT is."""
    check_patch_content_type(request.headers.get("content-type"))
    ops = parse_patch(await _read_bytes(request, settings.max_document_bytes))
    patched = apply_task_patch(svc.read_task(principal, task_id), ops)
    prepared = svc.prepare_task_update(principal, task_id, patched)
    stored = await svc.apply_task_update(principal, prepared)
    task = svc.read_task(principal, stored.task_id)
    return fhir_response(task, headers={"ETag": f'W/"{stored.version}"',
                                        **_http_date(stored.last_modified)})


def _forget_subscriptions(request: Request) -> None:
    pusher = getattr(request.app.state, "fhir_pusher", None)
    if pusher is not None:
        pusher.forget()


@router.post("/Subscription")
async def create_subscription(request: Request, principal: FhirReader, engine: ReadModelDep,
                              settings: SettingsDep, clock: ClockDep) -> Response:
    """Register a rest-hook for the caller's own Tasks (criteria ``Task?owner=<its ODS>``)."""
    check_content_type(request.headers.get("content-type"))
    data = parse_json(await _read_bytes(request, 0))
    sub = parse_subscription(data, principal, subscription_id=str(uuid.uuid4()),
                             now_ms=int(clock.now().timestamp() * 1000),
                             allow_http=settings.notify_webhook_allow_http)
    await asyncio.to_thread(notify_store.create_tables, engine)
    await asyncio.to_thread(notify_store.add_fhir_subscription, engine, sub)
    _forget_subscriptions(request)
    base = _base(request, "/Subscription")
    return fhir_response(subscription_resource(sub), 201, {
        "Location": f"{base}/Subscription/{sub.subscription_id}"})


async def _own_subscription(engine: Engine, principal: Principal,
                            subscription_id: str) -> FhirSubscription:
    """The caller's Subscription; another organisation's is "not found" like a missing one."""
    sub = (await asyncio.to_thread(notify_store.fhir_subscription, engine, subscription_id)
           if len(subscription_id) <= 64 else None)
    if sub is None or sub.owner_ods != principal.agency_value.upper():
        raise NotFoundError("no such Subscription")
    return sub


@router.get("/Subscription/{subscription_id}")
async def read_subscription(subscription_id: str, principal: FhirReader,
                            engine: ReadModelDep) -> Response:
    """One of the caller's Subscriptions (404 for another organisation's)."""
    return fhir_response(subscription_resource(
        await _own_subscription(engine, principal, subscription_id)))


@router.delete("/Subscription/{subscription_id}")
async def delete_subscription(subscription_id: str, request: Request, principal: FhirReader,
                              engine: ReadModelDep, clock: ClockDep) -> Response:
    """End one of the caller's Subscriptions; what it still had queued is cancelled."""
    sub = await _own_subscription(engine, principal, subscription_id)
    await asyncio.to_thread(notify_store.remove_fhir_subscription, engine, sub.subscription_id,
                            int(clock.now().timestamp() * 1000))
    _forget_subscriptions(request)
    return Response(status_code=204)


_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/{resource_type}", methods=_METHODS, include_in_schema=False)
@router.api_route("/{resource_type}/{rest:path}", methods=_METHODS, include_in_schema=False)
async def unsupported(resource_type: str) -> Response:
    """Anything else: 405 on a supported type, 404 on an unknown one."""
    if resource_type in _ALLOWED:
        raise MethodNotAllowedError(
            f"this interaction on {resource_type} is not supported",
            allow=_ALLOWED[resource_type])
    raise UnknownResourceTypeError(
        "this server supports DocumentReference, Task, Binary and Subscription only "
        "(see /fhir/metadata)",
        location="resourceType")

