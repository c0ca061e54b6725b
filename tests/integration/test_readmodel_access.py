"""The LA service layer's tests (``tests/unit/readmodel/test_access.py``) on the real PostgreSQL,
and SQLite's WAL mode on a file (the projector writes while other processes read)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ehcp.readmodel.store import create_tables, open_engine
from tests.unit.readmodel.test_access import *  # noqa: F403 - the same tests, on PostgreSQL

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:  # replaces the unit tests' SQLite engine
    """A fresh read model on the session's PostgreSQL server."""
    engine = open_engine(postgres_url)
    create_tables(engine)
    yield engine
    engine.dispose()


def test_a_sqlite_file_is_opened_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    """A file read model uses WAL (readers in other processes do not block the projector)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        engine.dispose()
