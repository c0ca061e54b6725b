"""A workspace app over a SQLite read model, fake Kafka and document store, and a movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.audit import InMemoryAuditSpool
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.readmodel import people
from ehcp.readmodel.store import open_engine
from ehcp.settings import Settings
from tests.workspace_support import PSEUDONYM_KEY, MovableClock, add_user, standard_read_model
from workspace.app import Ports, create_app
from workspace.unrouted import InMemoryUnroutedRecords


@dataclass
class Workspace:
    """The app under test and its fakes."""

    app: object
    engine: Engine
    clock: MovableClock
    publisher: InMemoryPublisher
    docstore: InMemoryDocumentStore
    secrets: dict[str, str]
    users: dict[str, people.User]

    def client(self) -> TestClient:
        """A fresh browser (its own cookies)."""
        return TestClient(self.app, base_url="http://127.0.0.1")  # type: ignore[arg-type]


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """Users: a manager, a case officer (holding CASE), a read-only user, another LA's manager."""
    from tests.workspace_support import CASE, OTHER_LA

    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    unrouted_values = standard_read_model(engine)
    clock = MovableClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = Settings(pseudonym_key=PSEUDONYM_KEY, workspace_plain_http=True,
                        data_dir=tmp_path / "data", max_document_bytes=100_000)
    publisher, docstore = InMemoryPublisher(), InMemoryDocumentStore()
    made = {
        "manager": add_user(engine, "mgr.886", people.Role.MANAGER, clock=clock),
        "officer": add_user(engine, "officer.886", people.Role.CASE_OFFICER, clock=clock),
        "reader": add_user(engine, "reader.886", people.Role.READ_ONLY, clock=clock),
        "foreign": add_user(engine, "mgr.999", people.Role.MANAGER, la_code=OTHER_LA,
                            clock=clock),
    }
    people.assign_case(engine, CASE, made["officer"][0].user_id)
    app = create_app(settings, Ports(engine=engine, publisher=publisher, docstore=docstore,
                                     clock=clock, audit_spool=InMemoryAuditSpool(),
                                     unrouted_records=InMemoryUnroutedRecords(
                                         unrouted_values,
                                         dict.fromkeys(unrouted_values, b"child-key"))))
    docstore.put(b"test", "application/pdf")  # the routed advice's claim (sha256 of "test")
    yield Workspace(app, engine, clock, publisher, docstore,
                    {k: v[1] for k, v in made.items()}, {k: v[0] for k, v in made.items()})
    engine.dispose()
