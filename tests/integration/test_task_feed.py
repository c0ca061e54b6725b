"""The health connector's Task feed against a real broker: it says when it has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from connectors.fhir.ports import InMemoryTaskStore
from connectors.fhir.tasks import task_id_for
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import PublishedEvent
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import ADVICE_REQUESTS
from ehcp.settings import Settings
from tests.support import synthetic_nhs_number
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration


def test_the_store_is_complete_only_once_earlier_requests_are_in(kafka_settings: Settings) -> None:
    """Requests published before start are all in the store when it is marked complete."""
    codec = default_codec()
    request_ids = [f"REQ-FEED-{uuid.uuid4().hex[:8]}" for _ in range(5)]

    async def scenario() -> None:
        publisher = KafkaPublisher(kafka_settings, codec, source="/tests")
        try:
            for request_id in request_ids:
                record = advice_request(request_id, owner="ZZ903",
                                        nhs_number=synthetic_nhs_number())
                schema = ADVICE_REQUESTS.value_schema or ""
                await publisher.publish(PublishedEvent(
                    ADVICE_REQUESTS.name, str(record["case_id"]), schema, record,
                    event_type(schema), str(record["case_id"])))
        finally:
            await publisher.close()
        from connectors.task_feed import TaskFeed

        tasks = InMemoryTaskStore(complete=False)
        runner = asyncio.create_task(TaskFeed(kafka_settings, codec, tasks).run())
        try:
            for _ in range(600):
                if tasks.complete:
                    break
                assert not runner.done(), runner
                await asyncio.sleep(0.1)
            assert tasks.complete, "the feed never caught up"
            assert all(tasks.get(task_id_for(r)) is not None for r in request_ids)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    asyncio.run(scenario())
