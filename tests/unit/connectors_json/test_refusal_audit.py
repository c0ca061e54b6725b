"""A refusal answers at once; its audit event is written in the background, retried, spooled (#13 item 2)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.audit import AuditTrail, FileAuditSpool, InMemoryAuditSpool
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import (
    InMemoryDocumentStore,
    InMemoryPublisher,
    PublishedEvent,
    PublishReceipt,
)
from ehcp.errors import PublishError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


@dataclass
class NeverAnswers:
    """A publisher whose sends hang (like a broker that does not answer) until released.

    So that a regression fails rather than hangs the suite, a send gives up after a minute.
    """

    started: int = 0
    released: asyncio.Event | None = None

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        """Count the attempt, then wait until the test releases it (or a minute), then fail."""
        self.started += 1
        if self.released is None:
            self.released = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.released.wait(), 60)
        raise PublishError("the broker did not answer")


@dataclass
class FailsThenWorks:
    """A publisher that refuses the first ``failures`` sends, then records events."""

    failures: int
    attempts: int = 0
    events: list[PublishedEvent] = field(default_factory=list)

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        """Raise PublishError for the first sends, then accept."""
        self.attempts += 1
        if self.attempts <= self.failures:
            raise PublishError("Kafka is unavailable")
        self.events.append(event)
        return PublishReceipt(topic=event.topic, partition=0, offset=len(self.events) - 1)


def _app(publisher: object, spool: object | None = None) -> tuple[FastAPI, str]:
    """The connectors app with an LA 998 education credential (its token returned)."""
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(LA_CODE_SYSTEM, "998", "education")
    credentials.add(credential)
    ports = Ports(publisher=publisher, docstore=InMemoryDocumentStore(),  # type: ignore[arg-type]
                  credentials=credentials)
    if spool is not None:
        ports.audit_spool = spool  # type: ignore[assignment]
    return create_app(Settings(pseudonym_key="p" * 32), ports), token  # type: ignore[arg-type]


def _record(event_id: str = "e-1") -> dict[str, object]:
    return {"event_id": event_id, "credential_id": "abc123",
            "agency": {"system": LA_CODE_SYSTEM, "value": "998"}, "method": "POST",
            "path": "/api/education/referrals", "reason": "not your LA", "refused_at": NOW}


def test_a_refusal_answers_while_its_audit_write_never_completes() -> None:
    """With a publisher that never answers, the 403 still arrives, and the audit write has begun."""
    publisher = NeverAnswers()
    app, token = _app(publisher)
    app.state.audit = AuditTrail(publisher, InMemoryAuditSpool(), shutdown_wait_s=0)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            post = asyncio.ensure_future(client.post(
                "/api/education/referrals", json=demo.referral(NOW),
                headers={"Authorization": f"Bearer {token}"}))
            # A generous bound: the answer must not depend on the publisher at all.
            answered = (await asyncio.wait([post], timeout=30))[0]
            # The audit write is still hanging: the answer did not wait for it.
            still_writing = app.state.audit.pending if answered else -1
            started = publisher.started
            if publisher.released is not None:
                publisher.released.set()  # let a waiting handler finish, so nothing hangs
            r = await post
        assert answered, "the 403 waited for the audit write"
        assert r.status_code == 403, r.text
        assert started == 1, "the audit write starts before the answer"
        assert still_writing == 1, "and is still under way after it"
        await app.state.audit.close()

    asyncio.run(scenario())


def test_a_failed_audit_write_is_retried_until_it_succeeds() -> None:
    """Two refused sends, then success: three attempts, one event in Kafka, nothing spooled."""
    publisher = FailsThenWorks(failures=2)
    spool = InMemoryAuditSpool()

    async def scenario() -> None:
        trail = AuditTrail(publisher, spool, attempts=5, first_backoff_s=0)
        await trail.refused(_record())
        await trail.close()

    asyncio.run(scenario())
    assert publisher.attempts == 3
    assert [e.record["event_id"] for e in publisher.events] == ["e-1"]
    assert spool.records == []


def test_an_audit_write_that_keeps_failing_is_spooled_not_lost() -> None:
    """After the bounded retries the record goes to the spool, with its event id."""
    publisher = FailsThenWorks(failures=100)
    spool = InMemoryAuditSpool()

    async def scenario() -> None:
        trail = AuditTrail(publisher, spool, attempts=3, first_backoff_s=0)
        await trail.refused(_record())
        await trail.close()

    asyncio.run(scenario())
    assert publisher.attempts == 3
    assert [r["event_id"] for r in spool.records] == ["e-1"]


def test_retries_back_off() -> None:
    """The waits between attempts double (bounded): the retries do not hammer a failing broker."""
    publisher = FailsThenWorks(failures=100)
    sleeps: list[float] = []

    async def recording_sleep(delay: float) -> None:
        sleeps.append(delay)

    async def scenario() -> None:
        trail = AuditTrail(publisher, InMemoryAuditSpool(), attempts=4, first_backoff_s=0.5,
                           sleep=recording_sleep)
        await trail.refused(_record())
        await trail.close()

    asyncio.run(scenario())
    assert sleeps == [0.5, 1.0, 2.0]


def test_shutdown_spools_audit_writes_still_under_way() -> None:
    """Closing the app while a write hangs puts its record in the spool."""
    publisher = NeverAnswers()
    spool = InMemoryAuditSpool()
    app, token = _app(publisher, spool)
    app.state.audit = AuditTrail(publisher, spool, shutdown_wait_s=0.05)
    with TestClient(app) as client:
        r = client.post("/api/education/referrals", json=demo.referral(NOW),
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403
        assert spool.records == []
    (record,) = spool.records
    assert record["path"] == "/api/education/referrals"
    assert record["agency"] == {"system": LA_CODE_SYSTEM, "value": "998"}


def test_the_spool_is_replayed_at_start_up(tmp_path: Path) -> None:
    """A record spooled by an earlier run reaches Kafka when the app starts, and leaves the spool."""
    spool = FileAuditSpool(tmp_path / "audit-spool.jsonl")
    spool.append(_record("spooled-1"))
    publisher = InMemoryPublisher()
    app, _ = _app(publisher, spool)
    with TestClient(app):
        pass
    assert [e.record["event_id"] for e in publisher.events] == ["spooled-1"]
    assert publisher.events[0].record["refused_at"] == NOW
    assert spool.load() == []


def test_a_successful_write_replays_what_was_spooled_before() -> None:
    """Once Kafka takes an audit event again, older spooled records follow it."""
    publisher = FailsThenWorks(failures=0)
    spool = InMemoryAuditSpool([_record("old")])

    async def scenario() -> None:
        trail = AuditTrail(publisher, spool)
        await trail.refused(_record("new"))
        await trail.close()

    asyncio.run(scenario())
    assert sorted(e.record["event_id"] for e in publisher.events) == ["new", "old"]
    assert spool.records == []


def test_a_spool_that_cannot_be_replayed_keeps_its_records(tmp_path: Path) -> None:
    """Replaying while Kafka is still away writes nothing and forgets nothing."""
    spool = FileAuditSpool(tmp_path / "audit-spool.jsonl")
    spool.append(_record("a"))
    spool.append(_record("b"))
    publisher = InMemoryPublisher(unavailable=True)

    written = asyncio.run(AuditTrail(publisher, spool).replay())
    assert written == 0
    assert [r["event_id"] for r in spool.load()] == ["a", "b"]


def test_the_spool_file_is_private_and_survives_a_torn_line(tmp_path: Path) -> None:
    """The spool is mode 0600, and a half-written last line does not hide the records before it."""
    path = tmp_path / "audit-spool.jsonl"
    spool = FileAuditSpool(path)
    spool.append(_record("a"))
    with path.open("a") as handle:
        handle.write('{"event_id": "torn"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r["event_id"] for r in spool.load()] == ["a"]
    assert json.loads(path.read_text().splitlines()[0])["refused_at"] == NOW.isoformat()


def test_a_spooled_document_read_is_replayed_as_a_record_read(tmp_path: Path) -> None:
    """A RecordRead Kafka did not take is spooled with its record type and replayed as one
    (and encodes with its Avro schema); an old spool line without a type stays AccessRefused."""
    from ehcp.contract import records
    from ehcp.contract.avro import default_codec
    from tests.unit.contract.records import RECORD_READ

    spool = FileAuditSpool(tmp_path / "audit-spool.jsonl")
    spool.append(_record("old-line"))

    async def fail_then_spool() -> None:
        trail = AuditTrail(FailsThenWorks(failures=100), spool, attempts=2, first_backoff_s=0)
        await trail.read({**RECORD_READ, "event_id": "read-1"})
        await trail.close()

    asyncio.run(fail_then_spool())
    publisher = InMemoryPublisher()
    asyncio.run(AuditTrail(publisher, spool).replay())
    by_id = {e.record["event_id"]: e for e in publisher.events}
    assert by_id["read-1"].schema_name == records.RECORD_READ
    assert by_id["old-line"].schema_name == records.ACCESS_REFUSED
    assert by_id["read-1"].record["read_at"] == RECORD_READ["read_at"]
    assert "_schema" not in by_id["read-1"].record
    codec = default_codec()
    for event in publisher.events:
        assert codec.decode(codec.encode(event.schema_name, event.record))[0] == event.schema_name
    assert spool.load() == []
