"""The connectors' Task feed against a real broker: it says when it has caught up, and it
serves requests sent to any agency (here a social care team) with their Kafka positions."""

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


def test_social_care_pages_its_requests_from_kafka_and_its_decline_is_durable(
        kafka_settings: Settings) -> None:
    """Requests for LA 886's social care on several partitions, read by a real feed: paged one by one through next links, then declined: the TaskStatusChanged is on Kafka and the feed reads it back once."""
    import httpx

    from connectors.app import Ports, create_app
    from connectors.auth import InMemoryCredentialStore, new_credential
    from connectors.kafka_publisher import KafkaPublisher
    from connectors.ports import InMemoryDocumentStore
    from connectors.task_feed import KafkaTaskEvents
    from ehcp.contract.topics import TASK_STATUS
    from ehcp.identifiers import LA_CODE_SYSTEM
    from ehcp.kafka_io.readers import read_partitions

    tag = uuid.uuid4().hex[:8]
    records = []
    for n in range(3):
        record = advice_request(f"REQ-SC-{tag}-{n}", case_id=f"EHC-886-{tag}-{n}",
                                nhs_number=synthetic_nhs_number())
        record.update(advice_type="SOCIAL_CARE", regulation="reg 6(1)(e)",
                      agency={"system": LA_CODE_SYSTEM, "value": "886"})
        records.append(record)
    publish_advice_requests(kafka_settings, records)
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(LA_CODE_SYSTEM, "886", "social_care")
    credentials.add(credential)
    headers = {"Authorization": f"Bearer {token}"}
    mine = {r["request_id"] for r in records}

    async def scenario() -> None:
        codec = default_codec()
        tasks = InMemoryTaskStore(complete=False)
        publisher = KafkaPublisher(kafka_settings, codec, source="/tests")
        runner = asyncio.create_task(TaskFeed(kafka_settings, codec, tasks).run())
        app = create_app(kafka_settings, Ports(
            publisher=publisher, docstore=InMemoryDocumentStore(), credentials=credentials,
            tasks=tasks, task_events=KafkaTaskEvents(publisher)))
        try:
            for _ in range(600):
                if tasks.complete:
                    break
                await asyncio.sleep(0.1)
            assert tasks.complete, "the feed never caught up"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
                seen: list[str] = []
                url: str | None = "/api/social-care/requests?limit=1"
                while url is not None:
                    page = await client.get(url, headers=headers)
                    assert page.status_code == 200, page.text
                    seen += [r["request_id"] for r in page.json()["requests"]]
                    url, cursor = page.json()["next"], page.json()["cursor"]
                assert mine <= set(seen)
                assert len(seen) == len(set(seen)), "no request listed twice"

                target = records[1]["request_id"]
                r = await client.post(
                    f"/api/social-care/requests/{target}/status",
                    json={"status": "DECLINED", "reason": "WRONG_SERVICE"}, headers=headers)
                assert r.status_code == 200, r.text
                on_kafka = [codec.decode(m.value or b"")[1]
                            for m in read_partitions(kafka_settings, TASK_STATUS.name)]
                (change,) = [c for c in on_kafka if c["request_id"] == target]
                assert change["owner"] == {"system": LA_CODE_SYSTEM, "value": "886"}
                assert change["reason_code"] == "WRONG_SERVICE"
                for _ in range(300):  # the feed reads its own change back: still version 2
                    stored = tasks.get(task_id_for(target))
                    if stored is not None and stored.position and stored.position[0] == (
                            TASK_STATUS.name):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1)
                stored = tasks.get(task_id_for(target))
                assert stored is not None
                assert (stored.status, stored.version) == ("rejected", 2)
                later = await client.get("/api/social-care/requests",
                                         params={"cursor": cursor}, headers=headers)
                assert [x["request_id"] for x in later.json()["requests"]] == [target]
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await publisher.close()

    asyncio.run(scenario())


def test_a_reminder_buffer_overflow_loses_nothing_on_a_real_broker(
        kafka_settings: Settings) -> None:
    """Alerts published before their requests overflow a buffer of 2; once the requests are
    read, the feed seeks back and every Task shows its reminder."""
    from connectors.task_feed import ReminderFeed
    from ehcp.contract.topics import ALERTS
    from tests.notify_support import alert_record, publish

    codec = default_codec()
    owner = f"Z{uuid.uuid4().hex[:4].upper()}"
    cases = [f"CASE-OVERFLOW-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    publish(kafka_settings, [(ALERTS.name, case, alert_record(case, agency=owner))
                             for case in cases])

    async def scenario() -> None:
        tasks = InMemoryTaskStore(complete=False)
        reminders = ReminderFeed(kafka_settings, codec, tasks, max_early=2)
        runners = [asyncio.create_task(reminders.run()),
                   asyncio.create_task(TaskFeed(kafka_settings, codec, tasks, reminders).run())]
        try:
            for _ in range(600):  # the alerts are read (and overflow) before any request
                if reminders.caught_up_once:
                    break
                await asyncio.sleep(0.1)
            assert reminders.caught_up_once, "the reminder feed never caught up"
            assert reminders.waiting <= 2
            assert reminders.overflows >= 1
            await asyncio.to_thread(publish_advice_requests, kafka_settings, [
                advice_request(f"REQ-{case}", owner=owner, case_id=case,
                               nhs_number=synthetic_nhs_number()) for case in cases])
            shown: dict[str, str | None] = {}
            for _ in range(1200):
                shown = {case: getattr(tasks.get(task_id_for(f"REQ-{case}")), "reminder", None)
                         for case in cases}
                if set(shown.values()) == {"overdue"}:
                    break
                assert not any(r.done() for r in runners), runners
                await asyncio.sleep(0.1)
            assert shown == dict.fromkeys(cases, "overdue")
            assert reminders.rewinds >= 1  # read again from Kafka, not from memory
        finally:
            for runner in runners:
                runner.cancel()
            for runner in runners:
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    asyncio.run(scenario())
