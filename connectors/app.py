"""The connectors' composition root: one ASGI app serving every agency's API.

- ``/fhir``: the health connector (FHIR R4; errors are OperationOutcomes);
- ``/api/education``, ``/api/social-care``: JSON APIs (errors are RFC 9457 problem details);
- ``/api/la``: the LA's pull API (its cases, advice documents and alerts, from the read model);
- ``/healthz``: liveness, no data; ``/readyz``: readiness (Kafka, feeds, databases);
  ``/metrics``: Prometheus, with the metrics token (:mod:`connectors.observability`);
  ``/openapi.json``: the JSON APIs' contract, shown by
  ``/docs`` (Swagger UI from local assets, :mod:`connectors.api_docs`).

``create_app`` takes every port explicitly, so tests pass fakes through the same factory that
``create_production_app`` uses with Kafka, the filesystem document store and the credential file.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors import observability
from connectors.api_docs import install_docs
from connectors.audit import AuditSpool, AuditTrail, FileAuditSpool, InMemoryAuditSpool
from connectors.auth import CredentialStore, FileCredentialStore, authenticate, bearer_token
from connectors.case_owners import CaseOwners
from connectors.documents import DocumentFetchError, DocumentTooLargeError
from connectors.education.requests import router as requests_router
from connectors.education.router import router as json_router
from connectors.fhir import outcome
from connectors.fhir.errors import ConflictError, ResourceNotFoundError
from connectors.fhir.ports import (
    InMemorySubmissionLedger,
    InMemoryTaskEvents,
    InMemoryTaskStore,
    SubmissionLedger,
    TaskEvents,
    TaskStore,
    UrlFetcher,
)
from connectors.fhir.router import router as fhir_router
from connectors.la.router import router as la_router
from connectors.observability import ReadinessCheck
from connectors.ports import DocumentStore, EventPublisher
from ehcp import __version__
from ehcp.clock import Clock, SystemClock
from ehcp.errors import (
    AuthError,
    EhcpError,
    EventTooLargeError,
    NotFoundError,
    PublishError,
    ReadModelError,
    StoreError,
    ValidationError,
)
from ehcp.settings import Settings

log = structlog.get_logger(__name__)

#: pydantic error types whose messages quote only the contract (patterns, bounds, expected
#: values), never the input; any other type gets a generic message.
_SAFE_MESSAGES: Final = frozenset({
    "missing", "string_type", "string_too_short", "string_too_long", "string_pattern_mismatch",
    "int_type", "int_parsing", "int_from_float", "bool_type", "bool_parsing", "float_type",
    "float_parsing", "date_type", "date_parsing", "date_from_datetime_parsing",
    "date_from_datetime_inexact", "datetime_type", "datetime_parsing",
    "datetime_from_date_parsing", "timezone_aware", "enum", "literal_error", "greater_than",
    "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long", "list_type",
    "dict_type", "model_type", "model_attributes_type", "value_error", "json_invalid",
})


@dataclass
class Ports:
    """Every external system the connectors touch."""

    publisher: EventPublisher
    docstore: DocumentStore
    credentials: CredentialStore
    tasks: TaskStore = field(default_factory=InMemoryTaskStore)
    task_events: TaskEvents = field(default_factory=InMemoryTaskEvents)
    submissions: SubmissionLedger = field(default_factory=InMemorySubmissionLedger)
    url_fetcher: UrlFetcher | None = None
    clock: Clock = field(default_factory=SystemClock)
    audit_spool: AuditSpool = field(default_factory=InMemoryAuditSpool)
    case_owners: CaseOwners = field(default_factory=CaseOwners)
    #: The read model the LA read routes answer from; None: they answer 503.
    readmodel: Engine | None = None
    #: What ``/readyz`` checks, by name (docs/operations.md).
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)


def _problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


#: Titles of refusals: 404 is a refusal that must not reveal the thing exists (audited).
_AUTH_TITLES: Final = {401: "Unauthorized", 403: "Forbidden", 404: "Not found"}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """pydantic's errors without the input: no ``input``, no made-up field names, safe texts."""
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"][1:]]
        kind = str(err.get("type", ""))
        if kind == "extra_forbidden":
            loc = loc[:-1]  # the unknown name is input: locate the object holding it
            message = "an unknown field: not in the API contract"
        elif kind in _SAFE_MESSAGES:
            message = str(err["msg"])
        else:
            message = "this value does not fit the API contract"
        errors.append({"location": "/" + "/".join(loc), "message": message})
    return errors


def _json_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RequestValidationError):
        errors = _validation_errors(exc)
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return _problem(400, "Malformed JSON", "the request body is not valid JSON", errors)
        return _problem(422, "Invalid request", "the request does not fit the API contract", errors)
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _problem(exc.status, _AUTH_TITLES.get(exc.status, "Forbidden"), exc.message,
                        headers=headers)
    if isinstance(exc, ResourceNotFoundError):  # answered exactly as a refused (404) one
        return _problem(404, _AUTH_TITLES[404], str(exc))
    if isinstance(exc, ConflictError):
        return _problem(409, "Conflict", exc.message,
                        [{"location": exc.location or "/", "message": exc.message}])
    if isinstance(exc, DocumentTooLargeError):
        return _problem(413, "Document too large", exc.message,
                        [{"location": exc.location or "/", "message": exc.message}])
    if isinstance(exc, DocumentFetchError):
        return _problem(502, "Document url unreadable", str(exc))
    if isinstance(exc, EventTooLargeError):
        return _problem(413, "Event too large",
                        "the event would be larger than Kafka accepts on its topic; shorten the "
                        "identifiers and text (retrying cannot help)")
    if isinstance(exc, ValidationError):
        return _problem(
            422,
            "Invalid request",
            exc.message,
            [{"location": exc.location or "/", "message": exc.message}],
        )
    if isinstance(exc, StarletteHTTPException):
        return _problem(exc.status_code, "HTTP error", str(exc.detail))
    if isinstance(exc, PublishError):
        return _problem(
            503,
            "Kafka unavailable",
            "the event could not be made durable; retry",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, NotFoundError):
        return _problem(404, "Not found", str(exc))
    if isinstance(exc, ReadModelError):
        return _problem(503, "Read model unavailable", str(exc), headers={"Retry-After": "30"})
    if isinstance(exc, StoreError):
        return _problem(503, "Store unavailable", "the connector store cannot be reached; retry",
                        headers={"Retry-After": "30"})
    log.error("unhandled_error", path=request.url.path, error=type(exc).__name__)
    return _problem(500, "Internal error", "an unexpected error occurred")


async def _audit_refusal(request: Request, exc: AuthError) -> None:
    """Start writing an AccessRefused audit event; the refusal does not wait for Kafka."""
    try:
        principal = authenticate(request.app.state.credentials, bearer_token(request))
    except AuthError:
        return
    record = {
        "event_id": str(uuid.uuid4()),
        "credential_id": principal.credential_id,
        "agency": {"system": principal.agency_system, "value": principal.agency_value},
        "method": request.method,
        "path": request.url.path,
        "reason": exc.message[:300],
        "refused_at": request.app.state.clock.now(),
    }
    await request.app.state.audit.refused(record)
    log.warning("access_refused", credential_id=principal.credential_id, path=request.url.path)


def create_app(settings: Settings, ports: Ports, *, lifespan: Any = None) -> FastAPI:
    """Build the connectors app around the given ports.

    The app's own lifespan replays the audit spool at start-up and, at shutdown, waits for the
    audit writes under way (spooling what Kafka did not take); ``lifespan`` runs inside it.
    """
    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit: AuditTrail = app.state.audit
        audit.start_replay()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            await audit.close()

    app = FastAPI(
        title="EHCP Exchange connectors",
        version=__version__,
        lifespan=app_lifespan,
        docs_url=None,  # install_docs serves /docs from local assets, not a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.publisher = ports.publisher
    app.state.docstore = ports.docstore
    app.state.credentials = ports.credentials
    app.state.tasks = ports.tasks
    app.state.task_events = ports.task_events
    app.state.submissions = ports.submissions
    app.state.url_fetcher = ports.url_fetcher
    app.state.clock = ports.clock
    app.state.case_owners = ports.case_owners
    app.state.readmodel = ports.readmodel
    app.state.audit = AuditTrail(ports.publisher, ports.audit_spool)

    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, AuthError) and exc.status in (403, 404):
            await _audit_refusal(request, exc)
        if request.url.path.startswith("/fhir"):
            return outcome.error_response(exc)
        return _json_error(request, exc)

    # EhcpError and HTTPException are handled inside the app (a response, no traceback);
    # a handler for bare Exception alone would run in Starlette's outermost layer and re-raise.
    for exc_type in (EhcpError, StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(exc_type, handle)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    observability.install(app, "connectors", settings, checks=ports.readiness)

    app.include_router(json_router, prefix="/api")
    app.include_router(la_router, prefix="/api")
    app.include_router(requests_router, prefix="/api")
    app.include_router(fhir_router, prefix="/fhir")
    return app


def create_production_app(settings: Settings) -> FastAPI:
    """The app with Kafka, the stores the settings select and the credential file."""
    from connectors.case_owners import CaseOwnerFeed
    from connectors.fhir.subscriptions import PushingTaskStore, TaskPusher
    from connectors.fhir.url_fetcher import HttpsUrlFetcher
    from connectors.kafka_publisher import KafkaPublisher
    from connectors.stores import open_stores
    from connectors.task_feed import KafkaTaskEvents, ReminderFeed, TaskFeed
    from ehcp.readmodel.store import open_engine
    from ehcp.schema_registry.codec import codec_for
    from notify import store as notify_store

    settings.pseudonym_key_bytes()  # fail at start-up, not on the first submission
    stores = open_stores(settings)
    codec = codec_for(settings)
    publisher = KafkaPublisher(settings, codec, source="/ehcp-exchange/connectors")
    # Read only for the read model's own tables (the projector writes them); the FHIR
    # Subscriptions and the Tasks they queue go to the notifier's tables (notify.store).
    readmodel = open_engine(settings.readmodel_database_url())
    pusher = TaskPusher(readmodel, SystemClock())
    tasks = PushingTaskStore(InMemoryTaskStore(complete=False), pusher)  # until caught up
    reminders = ReminderFeed(settings, codec, tasks,  # Task.businessStatus from the alerts
                             max_early=settings.reminder_buffer_max)
    feed = TaskFeed(settings, codec, tasks, reminders)
    case_owners = CaseOwners()
    owners_feed = CaseOwnerFeed(settings, codec, case_owners)
    fetcher = (
        HttpsUrlFetcher(settings.document_url_hosts, timeout_s=settings.document_fetch_timeout_s,
                        ca_file=settings.document_fetch_ca_file)
        if settings.document_url_hosts else None
    )
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.fhir_pusher = pusher
        try:
            await asyncio.to_thread(notify_store.create_tables, readmodel)
        except ReadModelError as exc:  # the Subscriptions answer 503 until the database is back
            log.error("fhir_subscription_tables_unavailable", error=str(exc))
        try:
            await asyncio.to_thread(stores.create_tables)
        except StoreError as exc:  # submissions and documents answer 503 until it is back
            log.error("connector_store_unavailable", error=str(exc))
        runners = [asyncio.create_task(feed.run()), asyncio.create_task(owners_feed.run()),
                   asyncio.create_task(reminders.run())]
        try:
            yield
        finally:
            for runner in runners:
                runner.cancel()
            for runner in runners:
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            await publisher.close()
            if fetcher is not None:
                await fetcher.close()
            readmodel.dispose()
            stores.dispose()

    ports = Ports(
        publisher=publisher,
        docstore=stores.documents,
        credentials=FileCredentialStore(settings.credentials_file),
        submissions=stores.ledger,
        audit_spool=FileAuditSpool(settings.audit_spool_file),
        tasks=tasks,
        case_owners=case_owners,
        task_events=KafkaTaskEvents(publisher),
        url_fetcher=fetcher,
        readmodel=readmodel,
        readiness=readiness_checks(publisher, (feed, owners_feed, reminders), readmodel, stores),
    )
    return create_app(settings, ports, lifespan=lifespan)


def readiness_checks(publisher: Any, feeds: Sequence[Any], readmodel: Engine,
                     stores: Any) -> dict[str, ReadinessCheck]:
    """``/readyz`` of a production connector process: Kafka producer started, every feed caught
    up (Tasks, case owners, reminders), read model reachable, shared store reachable (if set)."""

    async def feeds_caught_up() -> bool:
        return all(f.caught_up_once for f in feeds)

    checks: dict[str, ReadinessCheck] = {
        "kafka": publisher.ready,
        "feeds": feeds_caught_up,
        "read_model": observability.database_check(readmodel),
    }
    if stores.engine is not None:
        checks["store"] = observability.database_check(stores.engine)
    return checks


def production_app() -> FastAPI:
    """The production app, built from the environment in a uvicorn worker process.

    ``ehcp connectors`` passes this factory to uvicorn when ``EHCP_HTTP_WORKERS`` is above 1:
    each worker process builds its own app (its own producer and Task feed) and they share the
    submission ledger file, whose locks work across processes.
    """
    from ehcp.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    return create_production_app(settings)
