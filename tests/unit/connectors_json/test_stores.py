"""The LRU cache in front of a ledger, and the setting that chooses files or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.docstore import FileDocumentStore
from connectors.ledger import FileSubmissionLedger
from connectors.outcome_cache import LruCache
from connectors.pgstore import PostgresDocumentStore, PostgresSubmissionLedger, lock_key
from connectors.stores import open_stores
from ehcp.errors import ConfigurationError
from ehcp.settings import Settings


def test_the_cache_drops_the_least_recently_used_entry_beyond_its_bound() -> None:
    """Three entries, room for two: the one not read since is dropped, the one read is kept."""
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    """EHCP_SUBMISSION_CACHE_SIZE=0: every outcome is read from the store."""
    cache: LruCache[str, int] = LruCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_negative_cache_size_is_refused() -> None:
    """A negative bound is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        LruCache(-1)


def test_without_a_store_url_the_stores_are_files(tmp_path: Path) -> None:
    """The embedded default: the ledger file and the documents folder, no engine."""
    settings = Settings(submissions_file=tmp_path / "s.jsonl", documents_dir=tmp_path / "docs",
                        submission_cache_size=7)
    stores = open_stores(settings)
    assert isinstance(stores.ledger, FileSubmissionLedger)
    assert isinstance(stores.documents, FileDocumentStore)
    assert stores.engine is None
    stores.create_tables()  # nothing to create for files


def test_a_postgresql_url_selects_the_shared_stores_without_connecting() -> None:
    """EHCP_CONNECTOR_STORE_URL=postgresql+psycopg://...: both stores in PostgreSQL (lazily)."""
    settings = Settings(connector_store_url="postgresql+psycopg://ehcp@127.0.0.1:1/none")  # type: ignore[arg-type]
    stores = open_stores(settings)
    try:
        assert isinstance(stores.ledger, PostgresSubmissionLedger)
        assert isinstance(stores.documents, PostgresDocumentStore)
        assert stores.engine is not None
    finally:
        stores.dispose()


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://u@h/db", "not a url"])
def test_a_store_url_that_is_not_postgresql_is_refused(url: str) -> None:
    """Advisory locks need PostgreSQL: anything else fails at start-up, naming the variable."""
    settings = Settings(connector_store_url=url)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="EHCP_CONNECTOR_STORE_URL"):
        open_stores(settings)


def test_lock_keys_are_signed_64_bit_and_differ_by_agency() -> None:
    """A PostgreSQL bigint, and the same identifier of two agencies is two locks."""
    key = lock_key("ZZ901", "sys|v")
    assert -(2**63) <= key < 2**63
    assert key == lock_key("ZZ901", "sys|v")
    assert key != lock_key("ZZ902", "sys|v")


def test_an_unreachable_store_is_a_503_to_retry_in_both_error_formats() -> None:
    """StoreError: problem details and an OperationOutcome, both 503 with Retry-After, and no
    database detail in the body."""
    import json

    from starlette.requests import Request

    from connectors.app import _json_error
    from connectors.fhir.outcome import error_response
    from ehcp.errors import StoreError

    exc = StoreError("submission ledger unreachable: OperationalError at db.internal")
    request = Request({"type": "http", "method": "POST", "path": "/api/education/advice",
                       "headers": []})
    problem = _json_error(request, exc)
    fhir = error_response(exc)
    for answer in (problem, fhir):
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "30"
        assert b"db.internal" not in bytes(answer.body)
    assert json.loads(bytes(fhir.body))["issue"][0]["code"] == "transient"
