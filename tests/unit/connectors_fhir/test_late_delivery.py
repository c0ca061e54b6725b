"""A send the client stopped waiting for (503) may still reach Kafka: its retry must not double it.

The use case is driven directly (no HTTP) so the test controls when the late send ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectors.auth import InMemoryCredentialStore, authenticate, new_credential
from connectors.fhir.ports import InMemoryTaskEvents, InMemoryTaskStore
from connectors.fhir.service import FhirPorts, FhirService
from connectors.ledger import FileSubmissionLedger
from connectors.locks import KeyedLocks
from connectors.ports import InMemoryDocumentStore, PublishedEvent, PublishReceipt
from ehcp.clock import FixedClock
from ehcp.errors import PublishError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings

from .support import NOW, advice_document, advice_request


@dataclass
class SlowKafka:
    """The first send times out for the caller but stays pending; later sends succeed."""

    sends: list[PublishedEvent] = field(default_factory=list)
    late: asyncio.Future[PublishReceipt] | None = None

    async def publish(self, event: PublishedEvent) -> PublishReceipt:
        self.sends.append(event)
        if self.late is None:
            self.late = asyncio.get_running_loop().create_future()
            raise PublishError("Kafka did not acknowledge the event: TimeoutError",
                               pending=asyncio.shield(self.late))
        return PublishReceipt(event.topic, 0, len(self.sends))


def services(tmp_path: Path, kafka: SlowKafka) -> tuple[FhirService, FhirService]:
    """Two connector 'processes': separate ledger objects and locks over one ledger file."""
    settings = Settings(pseudonym_key="p" * 32, publish_timeout_s=0.3)  # type: ignore[arg-type]
    tasks = InMemoryTaskStore()
    tasks.add(advice_request())

    def one() -> FhirService:
        return FhirService(FhirPorts(
            settings=settings, publisher=kafka, docstore=InMemoryDocumentStore(),
            submissions=FileSubmissionLedger(tmp_path / "ledger.jsonl"), tasks=tasks,
            task_events=InMemoryTaskEvents(), url_fetcher=None, clock=FixedClock(NOW),
        ), KeyedLocks())

    return one(), one()


@pytest.fixture
def principal():  # type: ignore[no-untyped-def]
    """RBZ's principal, as the auth dependency builds it."""
    store = InMemoryCredentialStore()
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, "RBZ", "health")
    store.add(credential)
    return authenticate(store, token)


def test_a_late_delivery_is_the_answer_to_the_retry(tmp_path: Path, principal) -> None:  # type: ignore[no-untyped-def]
    """503; the retry elsewhere waits (503 again); the send lands; the retry gets it, unsent."""
    kafka = SlowKafka()
    first, second = services(tmp_path, kafka)

    async def scenario() -> None:
        with pytest.raises(PublishError):
            await first.submit_advice(principal, advice_document())
        with pytest.raises(PublishError, match="still being delivered"):
            await second.submit_advice(principal, advice_document())
        assert kafka.late is not None
        kafka.late.set_result(PublishReceipt("ehcp.contributions.v1", 0, 0))
        for _ in range(100):  # the late-send watcher records, then releases
            await asyncio.sleep(0.01)
            try:
                result = await second.submit_advice(principal, advice_document())
                break
            except PublishError:
                continue
        assert not result.created
        assert len(kafka.sends) == 1

    asyncio.run(scenario())


def test_a_late_send_that_fails_lets_the_retry_publish(tmp_path: Path, principal) -> None:  # type: ignore[no-untyped-def]
    """If the pending send fails after all, the submission is released and the retry publishes."""
    kafka = SlowKafka()
    first, second = services(tmp_path, kafka)

    async def scenario() -> None:
        with pytest.raises(PublishError):
            await first.submit_advice(principal, advice_document())
        assert kafka.late is not None
        kafka.late.set_exception(OSError("connection reset"))
        await asyncio.sleep(0.05)
        result = await second.submit_advice(principal, advice_document())
        assert result.created
        assert len(kafka.sends) == 2
        assert kafka.sends[0].record["event_id"] == kafka.sends[1].record["event_id"]

    asyncio.run(scenario())
