"""The health connector's Task feed against a real broker: it says when it has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest

from connectors.fhir.ports import InMemoryTaskStore
from connectors.fhir.tasks import task_id_for
from connectors.task_feed import TaskFeed
from ehcp.contract.avro import default_codec
from ehcp.settings import Settings
from tests.support import publish_advice_requests, synthetic_nhs_number
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration


def test_the_store_is_complete_only_once_earlier_requests_are_in(kafka_settings: Settings) -> None:
    """Requests published before start are all in the store when it is marked complete."""
    codec = default_codec()
    request_ids = [f"REQ-FEED-{uuid.uuid4().hex[:8]}" for _ in range(5)]

    publish_advice_requests(kafka_settings, [
        advice_request(r, owner="ZZ903", nhs_number=synthetic_nhs_number()) for r in request_ids])

    async def scenario() -> None:
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
