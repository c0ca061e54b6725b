"""A trust's FHIR Subscription against a real broker and a real HTTP receiver: the advice
request published to Kafka reaches the trust's endpoint as a Task, the trust's acceptance (made
through the FHIR API, durable on Kafka and read back by the feed) reaches it once more, and a
connector replaying Kafka from the start sends nothing again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import InMemoryTaskStore
from connectors.fhir.subscriptions import PushingTaskStore, TaskPusher
from connectors.fhir.tasks import task_id_for
from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import InMemoryDocumentStore
from connectors.task_feed import KafkaTaskEvents, TaskFeed
from ehcp.casework.calendar import Calendar
from ehcp.clock import SystemClock
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import TASK_STATUS
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.readmodel.store import open_engine
from ehcp.settings import Settings
from notify import store
from notify.fakes import FakeEmailSender, FakeWebhookSender
from notify.service import Notifier, NotifierConfig
from notify.webhooks import HttpRestHookSender
from tests.support import publish_advice_requests, synthetic_nhs_number
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration
FHIR = "application/fhir+json"


@dataclass
class RestHookReceiver:
    """What a trust's FHIR endpoint was sent: (method, path, headers, Task) per call."""

    url: str
    calls: list[tuple[str, str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def rest_hook_receiver() -> Iterator[RestHookReceiver]:
    """A FHIR endpoint on a free port of 127.0.0.1 that answers 200 to every PUT."""
    state: RestHookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.calls.append((self.command, self.path,
                                    {k.lower(): v for k, v in self.headers.items()},
                                    json.loads(body)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = RestHookReceiver(url=f"http://127.0.0.1:{server.server_address[1]}/fhir")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


async def _until(check: Any, what: str, tries: int = 600) -> None:
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


def test_a_trusts_subscription_receives_the_new_task_and_its_change_once(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """Advice request on Kafka -> PUT {endpoint}/Task/{id} (requested); the trust accepts it through FHIR -> one more PUT (accepted); a replaying connector and a second dispatch add no call."""
    settings = kafka_settings.model_copy(update={"notify_webhook_allow_http": True})
    ods = "R" + uuid.uuid4().hex[:4].upper()
    request_id = f"REQ-SUBS-{uuid.uuid4().hex[:8]}"
    task_id = task_id_for(request_id)
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, ods, "health")
    credentials.add(credential)
    auth = {"Authorization": f"Bearer {token}"}
    engine = open_engine(f"sqlite:///{tmp_path / 'readmodel.sqlite3'}")
    store.create_tables(engine)
    clock = SystemClock()

    async def scenario(receiver: RestHookReceiver, notifier: Notifier) -> None:
        codec = default_codec()
        pusher = TaskPusher(engine, clock)
        tasks = PushingTaskStore(InMemoryTaskStore(complete=False), pusher)
        publisher = KafkaPublisher(settings, codec, source="/tests")
        runner = asyncio.create_task(TaskFeed(settings, codec, tasks).run())
        app = create_app(settings, Ports(
            publisher=publisher, docstore=InMemoryDocumentStore(), credentials=credentials,
            tasks=tasks, task_events=KafkaTaskEvents(publisher), clock=clock,
            readmodel=engine))
        app.state.fhir_pusher = pusher
        try:
            await _until(lambda: tasks.complete, "the feed caught up")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
                made = await client.post("/fhir/Subscription", headers={
                    **auth, "content-type": FHIR}, content=json.dumps({
                        "resourceType": "Subscription", "status": "requested",
                        "reason": "advice requests for the trust's EHR",
                        "criteria": f"Task?owner={ods}",
                        "channel": {"type": "rest-hook", "endpoint": receiver.url,
                                    "payload": FHIR, "header": ["X-Trust-Key: k-123"]}}))
                assert made.status_code == 201, made.text

                await asyncio.to_thread(publish_advice_requests, settings, [advice_request(
                    request_id, owner=ods, nhs_number=synthetic_nhs_number())])
                await _until(lambda: tasks.get(task_id) is not None, "the request was read")
                await asyncio.to_thread(notifier.dispatch)
                assert len(receiver.calls) == 1
                method, path, headers, task = receiver.calls[0]
                assert (method, path) == ("PUT", f"/fhir/Task/{task_id}")
                assert headers["content-type"] == FHIR
                assert headers["x-trust-key"] == "k-123"
                assert (task["resourceType"], task["id"], task["status"]) == (
                    "Task", task_id, "requested")

                accepted = await client.patch(f"/fhir/Task/{task_id}", headers={
                    **auth, "content-type": "application/json-patch+json"},
                    content=json.dumps([{"op": "replace", "path": "/status",
                                         "value": "accepted"}]))
                assert accepted.status_code == 200, accepted.text
                # The feed reads the change back from Kafka: the same change, queued once.
                def read_back() -> bool:
                    stored = tasks.get(task_id)
                    return (stored is not None and stored.position is not None
                            and stored.position[0] == TASK_STATUS.name)

                await _until(read_back, "the change was read back", tries=300)
                for _ in range(2):
                    await asyncio.to_thread(notifier.dispatch)
                assert [c[3]["status"] for c in receiver.calls] == ["requested", "accepted"]

            # A connector (re)started now reads everything from the start: nothing new is sent.
            again = PushingTaskStore(InMemoryTaskStore(complete=False), TaskPusher(engine, clock))
            replay = asyncio.create_task(TaskFeed(settings, codec, again).run())
            try:
                def replayed() -> bool:
                    stored = again.get(task_id)
                    return again.complete and stored is not None and stored.status == "accepted"

                await _until(replayed, "the replay caught up")
                await asyncio.to_thread(notifier.dispatch)
            finally:
                replay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await replay
            assert len(receiver.calls) == 2
            sent = store.deliveries_with(engine, store.SENT)
            assert len(sent) == 2
            assert {d.channel for d in sent} == {"rest-hook"}
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await publisher.close()

    with rest_hook_receiver() as receiver:
        sender = HttpRestHookSender(timeout_s=10)
        notifier = Notifier(engine, email=FakeEmailSender(), webhooks=FakeWebhookSender(),
                            clock=clock, calendar=Calendar(),
                            config=NotifierConfig(instance_id="t"), rest_hooks=sender)
        try:
            asyncio.run(scenario(receiver, notifier))
        finally:
            sender.close()
            engine.dispose()


def test_a_reminder_on_the_task_reaches_the_trusts_subscription(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """An overdue alert on Kafka shows on the trust's Task (businessStatus overdue) and that
    change is PUT to the Subscription's endpoint; a reminder the LA sent from the workspace
    (AdviceReminderSent) adds a note, one more PUT; the alert's resolution clears the business
    status with one more (a real broker, a real HTTP receiver)."""
    from datetime import UTC, date, datetime

    from connectors.ports import PublishedEvent
    from connectors.task_feed import ReminderFeed
    from ehcp.contract.cloudevents import event_type
    from ehcp.contract.topics import ALERTS, REMINDERS
    from tests.notify_support import alert_record, publish

    settings = kafka_settings.model_copy(update={"notify_webhook_allow_http": True})
    ods = "R" + uuid.uuid4().hex[:4].upper()
    case_id = f"CASE-REMIND-{uuid.uuid4().hex[:8]}"
    request_id = f"REQ-REMIND-{uuid.uuid4().hex[:8]}"
    task_id = task_id_for(request_id)
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, ods, "health")
    credentials.add(credential)
    engine = open_engine(f"sqlite:///{tmp_path / 'readmodel.sqlite3'}")
    store.create_tables(engine)
    clock = SystemClock()

    async def scenario(receiver: RestHookReceiver, notifier: Notifier) -> None:
        codec = default_codec()
        pusher = TaskPusher(engine, clock)
        tasks = PushingTaskStore(InMemoryTaskStore(complete=False), pusher)
        reminders = ReminderFeed(settings, codec, tasks)
        publisher = KafkaPublisher(settings, codec, source="/tests")
        runners = [asyncio.create_task(TaskFeed(settings, codec, tasks, reminders).run()),
                   asyncio.create_task(reminders.run())]
        app = create_app(settings, Ports(
            publisher=publisher, docstore=InMemoryDocumentStore(), credentials=credentials,
            tasks=tasks, task_events=KafkaTaskEvents(publisher), clock=clock,
            readmodel=engine))
        app.state.fhir_pusher = pusher
        try:
            await _until(lambda: tasks.complete, "the feed caught up")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
                made = await client.post("/fhir/Subscription", headers={
                    "Authorization": f"Bearer {token}", "content-type": FHIR},
                    content=json.dumps({
                        "resourceType": "Subscription", "status": "requested",
                        "reason": "reminders for the trust's EHR",
                        "criteria": f"Task?owner={ods}",
                        "channel": {"type": "rest-hook", "endpoint": receiver.url,
                                    "payload": FHIR}}))
                assert made.status_code == 201, made.text
            await asyncio.to_thread(publish_advice_requests, settings, [advice_request(
                request_id, owner=ods, case_id=case_id, nhs_number=synthetic_nhs_number())])
            await _until(lambda: tasks.get(task_id) is not None, "the request was read")

            def business_statuses() -> list[str | None]:
                with receiver.lock:
                    return [(c[3].get("businessStatus") or {}).get("coding", [{}])[0].get("code")
                            for c in receiver.calls]

            await asyncio.to_thread(publish, settings, [(ALERTS.name, case_id, alert_record(
                case_id, agency=ods, kind="ADVICE_OVERDUE"))])

            async def sent_until(expected: list[str | None]) -> None:
                for _ in range(600):
                    await asyncio.to_thread(notifier.dispatch)
                    if business_statuses() == expected:
                        return
                    assert len(business_statuses()) <= len(expected), business_statuses()
                    await asyncio.sleep(0.1)
                raise AssertionError(f"the endpoint got {business_statuses()}, not {expected}")

            await sent_until([None, "overdue"])
            _, path, _, shown = receiver.calls[1]
            assert path == f"/fhir/Task/{task_id}"
            assert shown["status"] == "requested"
            assert "overdue" in shown["businessStatus"]["text"]
            assert "note" not in shown
            schema = REMINDERS.value_schema or ""
            sent_at = datetime.now(UTC).replace(microsecond=0)
            await publisher.publish(PublishedEvent(REMINDERS.name, case_id, schema, {
                "event_id": str(uuid.uuid4()), "case_id": case_id, "la_code": "886",
                "advice_type": "MEDICAL",
                "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": ods},
                "due_on": date(2025, 4, 14), "sent_at": sent_at}, event_type(schema), case_id))
            await sent_until([None, "overdue", "overdue"])
            assert receiver.calls[2][3]["note"][0]["time"] == sent_at.isoformat()
            await asyncio.to_thread(publish, settings, [(ALERTS.name, case_id, alert_record(
                case_id, agency=ods, kind="ADVICE_OVERDUE", status="RESOLVED"))])
            await sent_until([None, "overdue", "overdue", None])
            assert {d.channel for d in store.deliveries_with(engine, store.SENT)} == {"rest-hook"}
        finally:
            for runner in runners:
                runner.cancel()
            for runner in runners:
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            await publisher.close()

    with rest_hook_receiver() as receiver:
        sender = HttpRestHookSender(timeout_s=10)
        notifier = Notifier(engine, email=FakeEmailSender(), webhooks=FakeWebhookSender(),
                            clock=clock, calendar=Calendar(),
                            config=NotifierConfig(instance_id="t"), rest_hooks=sender)
        try:
            asyncio.run(scenario(receiver, notifier))
        finally:
            sender.close()
            engine.dispose()
