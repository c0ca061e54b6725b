"""Typed FastAPI dependencies: what a handler may ask for, read from the app's ports.

The composition root (:func:`connectors.app.create_app`) puts the ports on ``app.state``;
handlers never read ``app.state`` themselves but declare one of these ``Annotated`` aliases,
so their signatures say what they use and tests reach the same ports through the same app.
The aliases live at module level because the routers defer annotations and FastAPI resolves
them against module globals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from connectors.agency_requests import AgencyRequests
from connectors.audit import AuditTrail
from connectors.auth import require_any_scope, require_scope
from connectors.case_owners import CaseOwners
from connectors.documents import UrlFetcher
from connectors.fhir.service import FhirPorts, FhirService
from connectors.locks import KeyedLocks
from connectors.ports import DocumentStore, EventPublisher, Principal
from ehcp.clock import Clock
from ehcp.errors import AuthError, ReadModelError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.readmodel.access import LaView
from ehcp.settings import Settings


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_publisher(request: Request) -> EventPublisher:
    """Where events go (Kafka in production, a recorder in tests)."""
    publisher: EventPublisher = request.app.state.publisher
    return publisher


async def get_clock(request: Request) -> Clock:
    """The app's clock (never ``datetime.now()`` in a handler)."""
    clock: Clock = request.app.state.clock
    return clock


async def get_case_owners(request: Request) -> CaseOwners:
    """Which LA owns each case the connector has read a referral for."""
    owners: CaseOwners = request.app.state.case_owners
    return owners


async def get_docstore(request: Request) -> DocumentStore:
    """The content-addressed document store advice documents are put in."""
    docstore: DocumentStore = request.app.state.docstore
    return docstore


async def get_url_fetcher(request: Request) -> UrlFetcher | None:
    """Reads allow-listed document urls; None where no hosts are configured."""
    fetcher: UrlFetcher | None = getattr(request.app.state, "url_fetcher", None)
    return fetcher


async def get_agency_requests(request: Request) -> AgencyRequests:
    """The requests routes' use cases over the app's Task store, built once per app (its locks
    must be shared by every request, as for :func:`get_fhir_service`)."""
    state = request.app.state
    service: AgencyRequests | None = getattr(state, "agency_requests", None)
    if service is None:
        service = AgencyRequests(state.tasks, state.task_events, state.clock, KeyedLocks())
        state.agency_requests = service
    return service


async def get_fhir_service(request: Request) -> FhirService:
    """The health connector's use cases over the app's ports, built once per app.

    Built on first use rather than per request: its per-key locks must be shared by every
    request of the app. (Async, so there is no threadpool hop, and nothing awaits between the
    check and the store, so two first requests cannot build two services.)
    """
    state = request.app.state
    service: FhirService | None = getattr(state, "fhir_service", None)
    if service is None:
        ports = FhirPorts(
            settings=state.settings,
            publisher=state.publisher,
            docstore=state.docstore,
            submissions=state.submissions,
            tasks=state.tasks,
            task_events=state.task_events,
            url_fetcher=getattr(state, "url_fetcher", None),
            clock=state.clock,
        )
        service = FhirService(ports, KeyedLocks())
        state.fhir_service = service
    return service


async def get_audit(request: Request) -> AuditTrail:
    """Where audit events go (background writes, spooled if Kafka does not take them)."""
    audit: AuditTrail = request.app.state.audit
    return audit


async def get_readmodel(request: Request) -> Engine:
    """The read model's database.

    Raises:
        ReadModelError: the connectors were started without one (a 503).
    """
    engine: Engine | None = request.app.state.readmodel
    if engine is None:
        raise ReadModelError("these connectors have no read model to answer from "
                             "(EHCP_READMODEL_URL; docs/readmodel.md)")
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
PublisherDep = Annotated[EventPublisher, Depends(get_publisher)]
ClockDep = Annotated[Clock, Depends(get_clock)]
CaseOwnersDep = Annotated[CaseOwners, Depends(get_case_owners)]
DocumentStoreDep = Annotated[DocumentStore, Depends(get_docstore)]
UrlFetcherDep = Annotated[UrlFetcher | None, Depends(get_url_fetcher)]
AgencyRequestsDep = Annotated[AgencyRequests, Depends(get_agency_requests)]
FhirServiceDep = Annotated[FhirService, Depends(get_fhir_service)]

EducationReader = Annotated[Principal, Depends(require_scope("education:read"))]
EducationWriter = Annotated[Principal, Depends(require_scope("education:write"))]
SocialCareReader = Annotated[Principal, Depends(require_scope("social_care:read"))]
SocialCareWriter = Annotated[Principal, Depends(require_scope("social_care:write"))]
FhirReader = Annotated[Principal, Depends(require_scope("fhir:read"))]
FhirWriter = Annotated[Principal, Depends(require_scope("fhir:write"))]
AuditDep = Annotated[AuditTrail, Depends(get_audit)]
ReadModelDep = Annotated[Engine, Depends(get_readmodel)]
CasesReader = Annotated[Principal, Depends(require_scope("cases:read"))]
DocumentsReader = Annotated[Principal, Depends(require_scope("documents:read"))]
#: A FHIR DocumentReference read: by its submitting trust (fhir:read) or by the LA.
DocumentReferenceReader = Annotated[
    Principal, Depends(require_any_scope("fhir:read", "documents:read"))]


def la_view(principal: Principal, engine: Engine, clock: Clock) -> LaView:
    """What the caller's LA may see.

    Raises:
        AuthError: (403) a credential not named by an LA code (read scopes are only given to
            ``local_authority`` credentials, which are).
    """
    if principal.agency_system != LA_CODE_SYSTEM:
        raise AuthError("only a local authority's credential may read cases", status=403)
    return LaView(engine, principal.agency_value, clock)
