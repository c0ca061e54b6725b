"""The workspace's composition root: ``create_app(settings, ports)``.

Tests pass fakes (an in-memory publisher and document store, a fixed clock, a SQLite engine)
through the same factory that :func:`create_production_app` uses with Kafka, the filesystem
document store and the configured database.

Every response carries a strict Content-Security-Policy (scripts and styles from this origin
only: no CDN, no inline script), ``X-Frame-Options: DENY`` and ``no-store`` for pages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors import observability
from connectors.audit import AuditSpool, AuditTrail, InMemoryAuditSpool
from connectors.observability import ReadinessCheck
from connectors.ports import DocumentStore, EventPublisher
from ehcp import __version__
from ehcp.clock import Clock, SystemClock
from ehcp.errors import AuthError, EhcpError, StoreError, ValidationError
from ehcp.readmodel.gauges import ReadModelGauges
from ehcp.readmodel.people import create_people_tables
from ehcp.readmodel.store import create_tables
from ehcp.settings import Settings
from notify.store import create_tables as create_notify_tables
from workspace.audit import AuditedDocumentReads, DocumentReads
from workspace.render import STATIC, make_templates, page
from workspace.routes import act, auth, live, notifications, pages, queue
from workspace.security import SignInNeeded
from workspace.unrouted import InMemoryUnroutedRecords, KafkaUnroutedRecords, UnroutedRecords

log = structlog.get_logger(__name__)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Ports:
    """Every external system the workspace touches."""

    engine: Engine
    publisher: EventPublisher
    docstore: DocumentStore
    clock: Clock = field(default_factory=SystemClock)
    audit_spool: AuditSpool = field(default_factory=InMemoryAuditSpool)
    document_reads: DocumentReads | None = None
    #: Reads an unrouted contribution back from Kafka to route it (none: routing is refused).
    unrouted_records: UnroutedRecords = field(default_factory=InMemoryUnroutedRecords)
    #: What ``/readyz`` checks, by name (docs/operations.md).
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)


async def _error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInNeeded):
        if request.method == "GET" and not request.url.path.startswith("/events"):
            return RedirectResponse("/signin", status_code=303)
        return page(request, "error.html", {"title": "Sign in first",
                                            "message": "Your session has ended. Sign in again."},
                    status_code=401)
    if isinstance(exc, AuthError):
        if exc.status == 404:
            return page(request, "error.html", {
                "title": "Not found",
                "message": "There is no such page, or it is not one you may see."}, 404)
        if exc.status == 403:
            return page(request, "error.html", {"title": "Not allowed", "message": exc.message},
                        403)
        return page(request, "error.html", {"title": "Sign in first", "message": exc.message},
                    exc.status)
    if isinstance(exc, ValidationError | RequestValidationError):
        return page(request, "error.html", {
            "title": "Check what you entered",
            "message": exc.message if isinstance(exc, ValidationError)
            else "A value in the address or form is not valid."}, 400)
    if isinstance(exc, StarletteHTTPException):
        return page(request, "error.html", {"title": "Not found" if exc.status_code == 404
                                            else "Request refused",
                                            "message": "There is no such page."
                                            if exc.status_code == 404 else str(exc.detail)},
                    exc.status_code)
    if isinstance(exc, StoreError):  # the shared document store (PostgreSQL) is unreachable
        return page(request, "error.html", {"title": "Documents unavailable",
                                            "message": "The document store cannot be reached. "
                                                       "Try again in a minute."}, 503)
    log.error("workspace_unhandled_error", path=request.url.path, error=type(exc).__name__)
    return page(request, "error.html", {"title": "Something went wrong",
                                        "message": "Try again; if it keeps happening, tell your "
                                                   "system administrator."}, 500)


def create_app(settings: Settings, ports: Ports, *, lifespan: Any = None) -> FastAPI:
    """Build the workspace app around the given ports (tables created if missing)."""
    create_tables(ports.engine)
    create_people_tables(ports.engine)
    create_notify_tables(ports.engine)  # users' subscriptions, the delivery log's page

    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit: AuditTrail = app.state.audit
        # The audit trail is closed (its writes under way finished or spooled) before the
        # outer lifespan closes the publisher it writes through.
        async with contextlib.AsyncExitStack() as stack:
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            audit.start_replay()
            try:
                yield
            finally:
                await audit.close()

    app = FastAPI(title="EHCP Exchange workspace", version=__version__, lifespan=app_lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = ports.engine
    app.state.publisher = ports.publisher
    app.state.docstore = ports.docstore
    app.state.clock = ports.clock
    app.state.audit = AuditTrail(ports.publisher, ports.audit_spool)
    app.state.document_reads = ports.document_reads or AuditedDocumentReads(
        app.state.audit, ports.clock)
    app.state.unrouted_records = ports.unrouted_records
    app.state.templates = make_templates()

    for exc_type in (EhcpError, StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(exc_type, _error)

    @app.middleware("http")
    async def headers(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    observability.install(app, "workspace", settings, checks=ports.readiness,
                          collectors=[ReadModelGauges(ports.engine, ports.clock)])

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for router in (auth.router, pages.router, act.router, queue.router, live.router,
                   notifications.router):
        app.include_router(router)
    return app


def create_production_app(settings: Settings) -> FastAPI:
    """The app with Kafka, the filesystem document store and the configured database."""
    from connectors.audit import FileAuditSpool
    from connectors.kafka_publisher import KafkaPublisher
    from connectors.stores import open_stores
    from ehcp.readmodel.store import open_engine
    from ehcp.schema_registry.codec import codec_for

    settings.pseudonym_key_bytes()  # fail at start-up, not on the first advice recorded
    publisher = KafkaPublisher(settings, codec_for(settings), source="/ehcp-exchange/workspace")
    engine = open_engine(settings.readmodel_database_url())
    stores = open_stores(settings)  # the connectors' document store (files or PostgreSQL)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(stores.create_tables)
        try:
            yield
        finally:
            await publisher.close()
            engine.dispose()
            stores.dispose()

    ports = Ports(
        engine=engine, publisher=publisher,
        docstore=stores.documents,
        audit_spool=FileAuditSpool(settings.audit_spool_file.with_name(
            "workspace-" + settings.audit_spool_file.name)),
        unrouted_records=KafkaUnroutedRecords(settings),
        readiness={"kafka": publisher.ready, "read_model": observability.database_check(engine),
                   **({"store": observability.database_check(stores.engine)}
                      if stores.engine is not None else {})},
    )
    return create_app(settings, ports, lifespan=lifespan)
