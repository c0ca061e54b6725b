"""The connectors' shared store against a real PostgreSQL: ledger, leases and documents."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select, text

from connectors.auth import InMemoryCredentialStore, authenticate, new_credential
from connectors.fhir.ports import InMemoryTaskEvents, InMemoryTaskStore, SubmissionOutcome
from connectors.fhir.service import FhirPorts, FhirService
from connectors.locks import KeyedLocks, LockTimeoutError
from connectors.pgstore import (
    PostgresDocumentStore,
    PostgresSubmissionLedger,
    create_tables,
    open_store_engine,
    submission_identifiers,
)
from connectors.ports import InMemoryPublisher, Principal
from ehcp.clock import FixedClock
from ehcp.errors import StoreError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings
from tests.unit.connectors_fhir.support import NOW, advice_document, advice_request

pytestmark = pytest.mark.integration


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: two connector processes' connection pools."""
    first, second = open_store_engine(postgres_url), open_store_engine(postgres_url)
    create_tables(first)
    create_tables(second)  # a second start-up changes nothing
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


def outcome(n: int) -> SubmissionOutcome:
    """A recorded answer, with a resource as the FHIR connector stores it."""
    return SubmissionOutcome(f"doc-{n}", {"resourceType": "DocumentReference", "id": f"doc-{n}",
                                          "status": "current"}, f"urn:uuid:{n}", f"event-{n}")


def test_what_one_process_records_another_reads(engines: tuple[Engine, Engine]) -> None:
    """Every identifier token and the resource id find the outcome from the other pool."""
    first, second = (PostgresSubmissionLedger(e, cache_size=100) for e in engines)
    assert second.get("ZZ901", "sys|v") is None
    first.record("ZZ901", ["urn:ietf:rfc:3986|urn:uuid:1", "sys|v"], outcome(1))
    assert second.get("ZZ901", "sys|v") == outcome(1)
    assert second.get("ZZ901", "urn:ietf:rfc:3986|urn:uuid:1") == outcome(1)
    assert second.get_resource("ZZ901", "doc-1") == outcome(1)
    assert second.get("ZZ902", "sys|v") is None  # another organisation's token is not theirs
    assert second.get_resource("ZZ902", "doc-1") is None


def test_the_first_outcome_wins_and_long_identifiers_are_stored_by_digest(
        engines: tuple[Engine, Engine]) -> None:
    """A second outcome for a token changes nothing; a 4 kB token fits (its SHA-256 is kept)."""
    ledger = PostgresSubmissionLedger(engines[0], cache_size=0)
    long_token = "https://example.org/ids|" + "x" * 4096
    ledger.record("ZZ901", [long_token], outcome(1))
    ledger.record("ZZ901", [long_token], outcome(2))
    assert ledger.get("ZZ901", long_token) == outcome(1)
    with engines[0].connect() as conn:
        stored = conn.execute(select(submission_identifiers.c.identifier_sha256)).scalars().all()
    assert stored == [hashlib.sha256(long_token.encode()).hexdigest()]


def test_memory_is_bounded_by_the_cache_size(engines: tuple[Engine, Engine]) -> None:
    """30 outcomes through a cache of 4: never more than 4 held, every one still answered."""
    ledger = PostgresSubmissionLedger(engines[0], cache_size=4)
    for n in range(30):
        ledger.record("ZZ901", [f"sys|{n}"], outcome(n))
    for n in range(30):
        assert ledger.get("ZZ901", f"sys|{n}") == outcome(n)
        assert len(ledger.cache) <= 4
    assert len(ledger.cache) == 4


def test_a_lease_excludes_the_other_process_until_released(
        engines: tuple[Engine, Engine]) -> None:
    """The advisory lock holds across pools; another identifier is not blocked."""
    first, second = (PostgresSubmissionLedger(e, cache_size=10) for e in engines)

    async def scenario() -> None:
        lease = await first.acquire("ZZ901", "sys|v", 1.0)
        with pytest.raises(LockTimeoutError):
            await second.acquire("ZZ901", "sys|v", 0.3)
        (await second.acquire("ZZ901", "sys|other", 1.0)).release()
        lease.release()
        lease.release()  # a second release does nothing
        (await second.acquire("ZZ901", "sys|v", 1.0)).release()

    asyncio.run(scenario())


def test_a_holder_whose_session_dies_frees_the_submission(
        engines: tuple[Engine, Engine], postgres_url: str) -> None:
    """A connector that dies mid-submission (its session ends) does not keep the lock."""
    first, second = (PostgresSubmissionLedger(e, cache_size=10) for e in engines)

    async def scenario() -> None:
        await first.acquire("ZZ901", "sys|v", 1.0)  # never released
        with pytest.raises(LockTimeoutError):
            await second.acquire("ZZ901", "sys|v", 0.3)
        admin = create_engine(postgres_url)
        try:
            with admin.begin() as conn:
                killed = conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted")).scalars().all()
            assert killed == [True]
        finally:
            admin.dispose()
        (await second.acquire("ZZ901", "sys|v", 5.0)).release()

    asyncio.run(scenario())


def test_concurrent_copies_of_one_submission_in_two_processes_publish_one_event(
        engines: tuple[Engine, Engine]) -> None:
    """20 copies spread over two services sharing the database: one event, one resource id."""
    settings = Settings(pseudonym_key="p" * 32, publish_timeout_s=30)  # type: ignore[arg-type]
    tasks = InMemoryTaskStore()
    tasks.add(advice_request())
    kafka = InMemoryPublisher()

    def service(engine: Engine) -> FhirService:
        return FhirService(FhirPorts(
            settings=settings, publisher=kafka, docstore=PostgresDocumentStore(engine),
            submissions=PostgresSubmissionLedger(engine, cache_size=10), tasks=tasks,
            task_events=InMemoryTaskEvents(), url_fetcher=None, clock=FixedClock(NOW),
        ), KeyedLocks())

    services = [service(e) for e in engines]
    principal = rbz()

    async def scenario() -> list[str]:
        results = await asyncio.gather(*(services[n % 2].submit_advice(principal,
                                                                        advice_document())
                                         for n in range(20)))
        assert sum(r.created for r in results) == 1
        return [r.outcome.resource_id for r in results]

    ids = asyncio.run(scenario())
    advice = [e for e in kafka.events if e.schema_name.endswith("AdviceSubmitted")]
    assert len(advice) == 1
    assert len(set(ids)) == 1


def rbz() -> Principal:
    """RBZ's principal, as the auth dependency builds it."""
    store = InMemoryCredentialStore()
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, "RBZ", "health")
    store.add(credential)
    return authenticate(store, token)


def test_documents_are_shared_and_stored_once(engines: tuple[Engine, Engine]) -> None:
    """Bytes put through one pool are read through the other; the same bytes, the same claim."""
    first, second = (PostgresDocumentStore(e) for e in engines)
    content = b"%PDF-1.4 Educational psychology advice.\n" + bytes(range(256)) * 100
    claim = first.put(content, "application/pdf")
    assert claim == second.put(content, "application/pdf")
    assert claim.sha256 == hashlib.sha256(content).hexdigest()
    assert claim.size_bytes == len(content)
    assert second.get(claim.sha256) == content
    handle = second.open(claim.sha256)
    assert handle is not None
    assert handle.read() == content
    assert second.get("0" * 64) is None
    assert second.get("not-a-digest") is None
    assert second.open("'; DROP TABLE connector_documents; --") is None
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM connector_documents")).scalar_one() == 1


def test_an_unreachable_database_is_a_store_error_not_a_crash(postgres_url: str) -> None:
    """Every operation names the store as unavailable (503 at the edge) when it is down."""
    down = open_store_engine(postgres_url.rsplit(":", 1)[0] + ":1/none")
    ledger, documents = PostgresSubmissionLedger(down, cache_size=10), PostgresDocumentStore(down)
    try:
        with pytest.raises(StoreError):
            ledger.get("ZZ901", "sys|v")
        with pytest.raises(StoreError):
            ledger.record("ZZ901", ["sys|v"], outcome(1))
        with pytest.raises(StoreError):
            documents.put(b"advice", "text/plain")
        with pytest.raises(StoreError):
            documents.get("0" * 64)
        with pytest.raises(StoreError):
            asyncio.run(ledger.acquire("ZZ901", "sys|v", 1.0))
        with pytest.raises(StoreError):
            create_tables(down)
    finally:
        down.dispose()


def test_a_submission_while_the_store_is_down_publishes_nothing(postgres_url: str) -> None:
    """The lease cannot be taken: the caller gets an error to retry and Kafka gets nothing."""
    down = open_store_engine(postgres_url.rsplit(":", 1)[0] + ":1/none")
    kafka = InMemoryPublisher()
    tasks = InMemoryTaskStore()
    tasks.add(advice_request())
    service = FhirService(FhirPorts(
        settings=Settings(pseudonym_key="p" * 32),  # type: ignore[arg-type]
        publisher=kafka, docstore=PostgresDocumentStore(down),
        submissions=PostgresSubmissionLedger(down, cache_size=10), tasks=tasks,
        task_events=InMemoryTaskEvents(), url_fetcher=None, clock=FixedClock(NOW),
    ), KeyedLocks())
    try:
        with pytest.raises(StoreError):
            asyncio.run(service.submit_advice(rbz(), advice_document()))
        assert kafka.events == []
    finally:
        down.dispose()
