"""The connectors' shared store in PostgreSQL: the FHIR submission ledger and the documents.

Connector processes on several hosts (and the workspace, which stores the LA's own documents)
point ``EHCP_CONNECTOR_STORE_URL`` at one PostgreSQL database -- it may be the read model's --
instead of sharing files. Then:

- a FHIR submission is published once whichever process gets it, and a retry sent to another
  host gets the original answer (:class:`PostgresSubmissionLedger`);
- a document stored by one process can be read through any other (:class:`PostgresDocumentStore`).

Exclusion across hosts: :meth:`PostgresSubmissionLedger.acquire` takes a session-level advisory
lock (``pg_try_advisory_lock``) on a connection it keeps until the lease is released. The
server drops the lock when that session ends, so a connector that dies mid-submission cannot
keep the identifier locked. Within a process, holders of one lock stripe queue on an asyncio
lock first, so waiters do not each hold a pooled connection.

Every database error becomes :class:`~ehcp.errors.StoreError` (503 at the edge: retry later).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Iterable
from typing import Any, BinaryIO, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connectors.fhir.ports import SubmissionOutcome
from connectors.locks import LockTimeoutError
from connectors.outcome_cache import LruCache
from connectors.ports import DocumentClaim
from ehcp.errors import ConfigurationError, StoreError

metadata = MetaData()

#: One row per published submission; ``resource`` is the DocumentReference without inline data.
submission_outcomes: Final = Table(
    "connector_submission_outcomes", metadata,
    Column("agency", String(64), primary_key=True),
    Column("resource_id", String(128), primary_key=True),
    Column("resource", JSON, nullable=False),
    Column("contribution_id", String(1024), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: Every identifier token of a submission, by its SHA-256 (tokens may be kilobytes long).
submission_identifiers: Final = Table(
    "connector_submission_identifiers", metadata,
    Column("agency", String(64), primary_key=True),
    Column("identifier_sha256", String(64), primary_key=True),
    Column("resource_id", String(128), nullable=False),
)

#: Content-addressed documents: the same bytes, one row.
documents: Final = Table(
    "connector_documents", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content_type", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: How many asyncio locks a ledger spreads keys over in one process (keys may share one).
STRIPES: Final = 256
_POLL_S: Final = 0.05
#: Connections a process keeps open to the store, the extra ones it may open under load, and
#: how long a caller waits for one (docs/configuration.md, EHCP_CONNECTOR_STORE_URL).
POOL_SIZE: Final = 10
POOL_OVERFLOW: Final = 20
POOL_TIMEOUT_S: Final = 10.0


def open_store_engine(url: str) -> Engine:
    """An engine for the shared store's PostgreSQL database.

    Raises:
        ConfigurationError: the URL cannot be parsed or is not PostgreSQL.
    """
    from sqlalchemy import create_engine

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"EHCP_CONNECTOR_STORE_URL cannot be parsed: {exc}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError("EHCP_CONNECTOR_STORE_URL must be a postgresql URL, not "
                                 f"{parsed.get_backend_name()} (unset it to use the files)")
    # Each submission in progress holds one connection for its lease (the advisory lock is the
    # session's), so the pool bounds the submissions a process handles at once; past it a
    # submission waits up to pool_timeout for a connection, then answers 503 (retry).
    return create_engine(parsed, pool_pre_ping=True, pool_size=POOL_SIZE,
                         max_overflow=POOL_OVERFLOW, pool_timeout=POOL_TIMEOUT_S)


def create_tables(engine: Engine) -> None:
    """Create the shared store's tables that do not exist yet (never drops anything).

    Raises:
        StoreError: the database refused or cannot be reached.
    """
    try:
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the connector store's tables: {type(exc).__name__}") \
            from exc


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def lock_key(agency: str, identifier: str) -> int:
    """The advisory lock key of (agency, identifier): 64 bits of a SHA-256, signed as bigint."""
    raw = hashlib.sha256(f"ehcp-submission|{agency}|{identifier}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


class AdvisoryLease:
    """A PostgreSQL advisory lock held on its own connection (and this process's stripe lock)."""

    def __init__(self, conn: Connection, key: int, local: asyncio.Lock) -> None:
        self._conn: Connection | None = conn
        self._key = key
        self._local = local

    def release(self) -> None:
        """Unlock and return the connection; a second call does nothing.

        If the unlock fails the connection is discarded: the server ends its session, which
        drops the lock all the same.
        """
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(select(func.pg_advisory_unlock(self._key)))
            conn.close()
        except SQLAlchemyError:
            conn.invalidate()
            conn.close()
        finally:
            self._local.release()


class PostgresSubmissionLedger:
    """Submission outcomes by (agency, identifier) in PostgreSQL, shared by every connector
    process using the database, with the last ``cache_size`` outcomes used kept in memory."""

    def __init__(self, engine: Engine, cache_size: int) -> None:
        self._engine = engine
        self._local: dict[int, asyncio.Lock] = {}
        self.cache: LruCache[tuple[str, str, str], SubmissionOutcome] = LruCache(cache_size)

    async def acquire(self, agency: str, identifier: str, timeout_s: float) -> AdvisoryLease:
        """Lock (agency, identifier) across every process using this database.

        Raises:
            LockTimeoutError: another holder kept it for ``timeout_s``.
            StoreError: the database cannot be reached.
        """
        deadline = time.monotonic() + timeout_s
        key = lock_key(agency, identifier)
        local = self._local.setdefault(key % STRIPES, asyncio.Lock())
        try:
            await asyncio.wait_for(local.acquire(), timeout_s)
        except TimeoutError:
            raise LockTimeoutError(f"{agency}|{identifier}") from None
        conn: Connection | None = None
        try:
            conn = await asyncio.to_thread(self._connect)
            while not await asyncio.to_thread(_try_lock, conn, key):
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(f"{agency}|{identifier}")
                await asyncio.sleep(_POLL_S)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            local.release()
            if isinstance(exc, SQLAlchemyError):
                raise StoreError(f"submission ledger unreachable: {type(exc).__name__}") \
                    from exc
            raise
        return AdvisoryLease(conn, key, local)

    def _connect(self) -> Connection:
        return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def get(self, agency: str, identifier: str) -> SubmissionOutcome | None:
        """The outcome recorded for this agency and identifier token, or None.

        Raises:
            StoreError: the database cannot be reached.
        """
        cache_key = ("identifier", agency, identifier)
        cached = self.cache.get(cache_key)
        if cached is not None:
            return cached
        query = (
            select(submission_outcomes)
            .join(submission_identifiers, (submission_identifiers.c.agency
                                           == submission_outcomes.c.agency)
                  & (submission_identifiers.c.resource_id == submission_outcomes.c.resource_id))
            .where(submission_identifiers.c.agency == agency,
                   submission_identifiers.c.identifier_sha256 == _digest(identifier))
        )
        return self._fetch(query, cache_key)

    def get_resource(self, agency: str, resource_id: str) -> SubmissionOutcome | None:
        """The outcome whose DocumentReference has this id, if this agency submitted it.

        Raises:
            StoreError: the database cannot be reached.
        """
        cache_key = ("resource", agency, resource_id)
        cached = self.cache.get(cache_key)
        if cached is not None:
            return cached
        query = select(submission_outcomes).where(submission_outcomes.c.agency == agency,
                                                  submission_outcomes.c.resource_id == resource_id)
        return self._fetch(query, cache_key)

    def _fetch(self, query: Any, cache_key: tuple[str, str, str]) -> SubmissionOutcome | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except SQLAlchemyError as exc:
            raise StoreError(f"submission ledger unreachable: {type(exc).__name__}") from exc
        if row is None:
            return None  # not cached: another process may record it any moment
        outcome = SubmissionOutcome(resource_id=row["resource_id"], resource=row["resource"],
                                    contribution_id=row["contribution_id"],
                                    event_id=row["event_id"])
        self.cache.put(cache_key, outcome)
        return outcome

    def record(self, agency: str, identifiers: Iterable[str], outcome: SubmissionOutcome) -> None:
        """Store the outcome and its identifiers in one transaction (the first outcome wins).

        Raises:
            StoreError: the database refused or cannot be reached.
        """
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(submission_outcomes).values(
                    agency=agency, resource_id=outcome.resource_id,
                    resource=dict(outcome.resource), contribution_id=outcome.contribution_id,
                    event_id=outcome.event_id,
                ).on_conflict_do_nothing())
                rows = [{"agency": agency, "identifier_sha256": _digest(identifier),
                         "resource_id": outcome.resource_id} for identifier in set(identifiers)]
                if rows:
                    conn.execute(insert(submission_identifiers).values(rows)
                                 .on_conflict_do_nothing())
        except SQLAlchemyError as exc:
            raise StoreError(f"submission not recorded: {type(exc).__name__}") from exc


def _try_lock(conn: Connection, key: int) -> bool:
    return bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one())


class PostgresDocumentStore:
    """Content-addressed documents in PostgreSQL (``bytea``): the same bytes, one row.

    A document is read whole into memory to be streamed out: documents are bounded by
    ``EHCP_MAX_DOCUMENT_BYTES`` (10 MB by default).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, content: bytes, content_type: str) -> DocumentClaim:
        """Store bytes durably (committed) and return their claim.

        Raises:
            StoreError: the database refused or cannot be reached.
        """
        digest = hashlib.sha256(content).hexdigest()
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(documents).values(
                    sha256=digest, content_type=content_type[:255], size_bytes=len(content),
                    content=content,
                ).on_conflict_do_nothing())
        except SQLAlchemyError as exc:
            raise StoreError(f"document not stored: {type(exc).__name__}") from exc
        return DocumentClaim(sha256=digest, size_bytes=len(content), content_type=content_type)

    def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None.

        Raises:
            StoreError: the database cannot be reached.
        """
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            return None
        try:
            with self._engine.connect() as conn:
                content = conn.execute(
                    select(documents.c.content).where(documents.c.sha256 == sha256)
                ).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise StoreError(f"document store unreachable: {type(exc).__name__}") from exc
        return None if content is None else bytes(content)

    def open(self, sha256: str) -> BinaryIO | None:
        """The stored bytes as a file in memory, or None."""
        content = self.get(sha256)
        return None if content is None else io.BytesIO(content)
