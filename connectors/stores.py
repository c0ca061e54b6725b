"""Which submission ledger and document store a process uses, chosen by the settings.

``EHCP_CONNECTOR_STORE_URL`` set: both in that PostgreSQL database (:mod:`connectors.pgstore`),
shared by processes on several hosts. Unset: the files (:mod:`connectors.ledger`,
:mod:`connectors.docstore`), for one host.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from connectors.docstore import FileDocumentStore
from connectors.fhir.ports import SubmissionLedger
from connectors.ledger import FileSubmissionLedger
from connectors.ports import DocumentStore
from ehcp.settings import Settings


@dataclass(frozen=True)
class Stores:
    """The ledger, the document store and, if they are in PostgreSQL, its engine."""

    ledger: SubmissionLedger
    documents: DocumentStore
    engine: Engine | None = None

    def create_tables(self) -> None:
        """Create the PostgreSQL tables that do not exist yet (nothing for files).

        Raises:
            StoreError: the database refused or cannot be reached.
        """
        if self.engine is not None:
            from connectors import pgstore

            pgstore.create_tables(self.engine)

    def dispose(self) -> None:
        """Close the database connections, if any."""
        if self.engine is not None:
            self.engine.dispose()


def open_stores(settings: Settings) -> Stores:
    """The stores ``settings`` select (no connection is made yet).

    Raises:
        ConfigurationError: EHCP_CONNECTOR_STORE_URL is not a PostgreSQL URL.
    """
    if settings.connector_store_url is None:
        return Stores(
            ledger=FileSubmissionLedger(settings.submissions_file,
                                        cache_size=settings.submission_cache_size),
            documents=FileDocumentStore(settings.documents_dir),
        )
    from connectors import pgstore

    engine = pgstore.open_store_engine(settings.connector_store_url.get_secret_value())
    return Stores(
        ledger=pgstore.PostgresSubmissionLedger(engine, settings.submission_cache_size),
        documents=pgstore.PostgresDocumentStore(engine),
        engine=engine,
    )
