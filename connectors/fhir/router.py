"""The FHIR HTTP interface: thin handlers over :class:`connectors.fhir.service.FhirService`.

The app factory includes ``build_router()`` under ``/fhir`` and keeps the ports on
``app.state``: ``settings``, ``publisher``, ``docstore``, ``credentials``, ``submissions``,
``tasks``, ``task_events``, ``clock`` and optionally ``url_fetcher``. Its exception handlers
answer errors raised here with :func:`connectors.fhir.outcome.error_response`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from importlib import metadata
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response

from connectors.auth import require_scope
from connectors.fhir.bundles import searchset
from connectors.fhir.capability import capability_statement
from connectors.fhir.errors import (
    DocumentTooLargeError,
    MethodNotAllowedError,
    UnknownResourceTypeError,
)
from connectors.fhir.outcome import fhir_response
from connectors.fhir.parsing import check_content_type, parse_json
from connectors.fhir.patch import apply_task_patch, check_patch_content_type, parse_patch
from connectors.fhir.service import FhirPorts, FhirService
from connectors.locks import KeyedLocks
from connectors.ports import Principal

#: Room for the JSON around a base64 document (base64 is 4/3 of the bytes).
JSON_OVERHEAD_BYTES: Final = 256 * 1024
#: What each supported path allows (for 405 answers).
_ALLOWED: Final = {"metadata": ("GET",), "DocumentReference": ("GET", "POST"),
                   "Task": ("GET", "PUT", "PATCH")}

Reader = Annotated[Principal, Depends(require_scope("fhir:read"))]
Writer = Annotated[Principal, Depends(require_scope("fhir:write"))]


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


async def _read_body(request: Request) -> dict[str, Any]:
    """The JSON body, refusing more than a maximal document could need before reading it all."""
    check_content_type(request.headers.get("content-type"))
    return parse_json(await _read_bytes(request))


async def _read_bytes(request: Request) -> bytes:
    """The raw body, refusing more than a maximal document could need before reading it all."""
    limit = request.app.state.settings.max_document_bytes * 4 // 3 + JSON_OVERHEAD_BYTES
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


def build_router() -> APIRouter:
    """The health connector's routes, to be included under ``/fhir``.

    The ports come from ``app.state`` per request (see the module docstring), the clock from
    ``app.state.clock`` (an :class:`ehcp.clock.Clock`).
    """
    router = APIRouter(tags=["fhir"])
    locks = KeyedLocks()

    async def service(request: Request) -> FhirService:  # async: no threadpool hop
        state = request.app.state
        ports = FhirPorts(
            settings=state.settings, publisher=state.publisher, docstore=state.docstore,
            submissions=state.submissions, tasks=state.tasks, task_events=state.task_events,
            url_fetcher=getattr(state, "url_fetcher", None), clock=state.clock,
        )
        return FhirService(ports, locks)

    # A default (not a local Annotated alias): annotations are strings here, and FastAPI
    # resolves them against module globals only.
    service_dep = Depends(service)

    @router.get("/metadata")
    async def metadata_(request: Request) -> Response:
        """The CapabilityStatement (no authentication, as FHIR servers do)."""
        statement = capability_statement(base_url=_base(request, "/metadata"),
                                         date=request.app.state.clock.now().date().isoformat(),
                                         software_version=_software_version())
        return fhir_response(statement)

    @router.post("/DocumentReference")
    async def create_document_reference(request: Request, principal: Writer,
                                        svc: FhirService = service_dep) -> Response:
        """Submit advice (conditional create with ``If-None-Exist: identifier=...``)."""
        data = await _read_body(request)
        result = await svc.submit_advice(principal, data,
                                         if_none_exist=request.headers.get("if-none-exist"))
        outcome = result.outcome
        base = _base(request, "/DocumentReference")
        headers = {"Location": f"{base}/DocumentReference/{outcome.resource_id}/_history/1",
                   "ETag": 'W/"1"', **_http_date(result.last_updated)}
        return fhir_response(dict(outcome.resource), 201 if result.created else 200, headers)

    @router.get("/DocumentReference/{resource_id}")
    @router.get("/DocumentReference/{resource_id}/_history/1")
    async def read_document_reference(resource_id: str, principal: Reader,
                                      svc: FhirService = service_dep) -> Response:
        """Advice the caller's organisation submitted (404 otherwise); the data stays out."""
        result = svc.read_document_reference(principal, resource_id)
        return fhir_response(dict(result.outcome.resource), headers={
            "ETag": 'W/"1"', **_http_date(result.last_updated)})

    @router.post("")
    @router.post("/")
    async def transaction(request: Request, principal: Writer,
                          svc: FhirService = service_dep) -> Response:
        """A transaction Bundle: advice and the completed Task together."""
        data = await _read_body(request)
        return fhir_response(await svc.transaction(principal, data))

    @router.get("/Task")
    async def search_tasks(request: Request, principal: Reader,
                           svc: FhirService = service_dep) -> Response:
        """Tasks owned by the caller's organisation (``owner``, ``status``)."""
        tasks = svc.search_tasks(principal, list(request.query_params.multi_items()))
        return fhir_response(searchset(tasks, base_url=_base(request, "/Task"),
                                       self_link=str(request.url)))

    @router.get("/Task/{task_id}")
    async def read_task(task_id: str, request: Request, principal: Reader,
                        svc: FhirService = service_dep) -> Response:
        """One Task, if the caller's organisation owns it (404 otherwise)."""
        task = svc.read_task(principal, task_id)
        last = task.get("lastModified")
        return fhir_response(task, headers={
            "ETag": f'W/"{task["meta"]["versionId"]}"',
            **_http_date(datetime.fromisoformat(last) if last else None)})

    @router.put("/Task/{task_id}")
    async def update_task(task_id: str, request: Request, principal: Writer,
                          svc: FhirService = service_dep) -> Response:
        """Accept, reject (with statusReason) or complete an advice request."""
        data = await _read_body(request)
        prepared = svc.prepare_task_update(principal, task_id, data)
        stored = await svc.apply_task_update(principal, prepared)
        task = svc.read_task(principal, stored.task_id)
        return fhir_response(task, headers={"ETag": f'W/"{stored.version}"',
                                            **_http_date(stored.last_modified)})

    @router.patch("/Task/{task_id}")
    async def patch_task(task_id: str, request: Request, principal: Writer,
                         svc: FhirService = service_dep) -> Response:
        """Change status (and statusReason) with a JSON Patch; checked as a PUT is."""
        check_patch_content_type(request.headers.get("content-type"))
        ops = parse_patch(await _read_bytes(request))
        patched = apply_task_patch(svc.read_task(principal, task_id), ops)
        prepared = svc.prepare_task_update(principal, task_id, patched)
        stored = await svc.apply_task_update(principal, prepared)
        task = svc.read_task(principal, stored.task_id)
        return fhir_response(task, headers={"ETag": f'W/"{stored.version}"',
                                            **_http_date(stored.last_modified)})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    @router.api_route("/{resource_type}", methods=methods, include_in_schema=False)
    @router.api_route("/{resource_type}/{rest:path}", methods=methods, include_in_schema=False)
    async def unsupported(resource_type: str) -> Response:
        """Anything else: 405 on a supported type, 404 on an unknown one."""
        if resource_type in _ALLOWED:
            raise MethodNotAllowedError(
                f"this interaction on {resource_type} is not supported",
                allow=_ALLOWED[resource_type])
        raise UnknownResourceTypeError(
            "this server supports DocumentReference and Task only (see /fhir/metadata)",
            location="resourceType")

    return router
