"""Keeps the connectors' store of advice requests in step with Kafka, and publishes Task changes.

Kafka is the source of truth: on start the feed reads the advice-requests and task-status topics
from the beginning (no consumer group: every connector process holds every advice request,
whichever agency it was sent to; each is small) and then follows them, so a restarted connector
serves the same requests. FHIR serves those sent to NHS bodies as Tasks; the JSON APIs serve
the others to the school, EP service or social care team asked.
A second feed reads the alerts and shows due-soon and overdue advice on the
health Task (``businessStatus``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.ports import FeedPosition, StoredTask, TaskStore
from connectors.fhir.tasks import task_id_for
from connectors.ports import EventPublisher, PublishedEvent, PublishReceipt
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.records import ADVICE_REQUESTED, ALERT, TASK_STATUS_CHANGED
from ehcp.contract.topics import ADVICE_REQUESTS, ALERTS, TASK_STATUS
from ehcp.errors import ContractError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.kafka_clients import aiokafka_config
from ehcp.metrics import metrics
from ehcp.settings import Settings

log = structlog.get_logger(__name__)
_IDS = uuid.UUID("3c9b8f0e-7a1d-4d5e-9f2a-6b4c8d2e1f03")


def task_status_record(change: TaskStatusChanged) -> dict[str, Any]:
    """The Avro ``TaskStatusChanged`` record for a change."""
    return {
        "event_id": str(
            uuid.uuid5(_IDS, f"{change.request_id}|{change.status}|{change.at.isoformat()}")
        ),
        "request_id": change.request_id,
        "case_id": change.case_id,
        "status": change.status.upper(),
        "reason_code": change.reason_code,
        "reason_text": change.reason_text,
        "owner": {"system": change.owner_system, "value": change.owner_ods},
        "changed_at": change.at,
        "output_document_id": change.output_document_id,
    }


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[Any, int]) -> bool:
    """Whether the consumer has read every partition up to the given end offsets."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


class KafkaTaskEvents:
    """Publishes Task status changes to the task-status topic (acks=all)."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, event: TaskStatusChanged) -> PublishReceipt:
        """Publish one change; raises PublishError if Kafka cannot take it."""
        schema = TASK_STATUS.value_schema or ""
        return await self._publisher.publish(
            PublishedEvent(
                topic=TASK_STATUS.name,
                key=event.case_id or event.request_id,
                schema_name=schema,
                record=task_status_record(event),
                ce_type=event_type(schema),
                ce_subject=event.case_id or event.request_id,
            )
        )


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """Where a record was read: its position on Kafka and the timestamp Kafka gave it."""

    position: FeedPosition | None
    timestamp: datetime | None

    @classmethod
    def of(cls, message: Any) -> ReadRecord:
        """The position and timestamp of an aiokafka ``ConsumerRecord``."""
        millis = getattr(message, "timestamp", None)
        when = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int) else None
        return cls((message.topic, message.partition, message.offset), when)


class TopicFollower:
    """Reads topics from the beginning (no consumer group) and then follows them.

    Subclasses say which topics, and fold each decoded record in :meth:`apply`; once everything
    that was on the topics at start has been read, :meth:`caught_up` is called.
    """

    topics: tuple[str, ...] = ()
    client_id = "ehcp-connectors-feed"

    def __init__(self, settings: Settings, codec: AvroCodec) -> None:
        self._settings = settings
        self._codec = codec
        self._caught_up = False

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Fold one decoded record in; ``read`` says where it was read (None: not from Kafka)."""
        raise NotImplementedError

    def caught_up(self) -> None:
        """Everything on the topics at start has been read."""

    @property
    def is_caught_up(self) -> bool:
        """True once everything on the topics at start has been read (for readiness)."""
        return self._caught_up

    async def run(self) -> None:
        """Follow the topics until cancelled, reconnecting after broker outages."""
        while True:
            consumer = AIOKafkaConsumer(
                *self.topics,
                group_id=None,  # every partition, read from the start by every process
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                client_id=self.client_id,
                **aiokafka_config(self._settings),
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("feed_reconnecting", client_id=self.client_id,
                            error=type(exc).__name__)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        ends: dict[Any, int] | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    self._apply_message(message)
                self._measure(consumer, tp, messages)
            if self._caught_up:
                continue
            assigned = consumer.assignment()
            if ends is None and assigned:
                ends = await consumer.end_offsets(list(assigned))
            if ends is not None and await _caught_up(consumer, ends):
                self._caught_up = True
                self.caught_up()
                log.info("feed_caught_up", client_id=self.client_id, partitions=len(ends))

    def _measure(self, consumer: AIOKafkaConsumer, tp: Any, messages: list[Any]) -> None:
        """Count what was read and how far the partition's end still is."""
        m = metrics()
        m.events_consumed.labels(self.client_id, tp.topic).inc(len(messages))
        end = consumer.highwater(tp)
        if end is not None and messages:
            m.consumer_lag.labels(self.client_id, tp.topic, str(tp.partition)).set(
                max(0, end - messages[-1].offset - 1))

    def _apply_message(self, message: Any) -> None:
        try:
            name, record = self._codec.decode(message.value or b"")
            self.apply(name, record, ReadRecord.of(message))
        except ContractError as exc:
            log.warning(
                "feed_skipped",
                client_id=self.client_id,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                error=type(exc).__name__,
            )


class TaskFeed(TopicFollower):
    """Folds advice requests for every agency, and their status changes, into a TaskStore."""

    topics = (ADVICE_REQUESTS.name, TASK_STATUS.name)
    client_id = "ehcp-connectors-task-feed"

    def __init__(self, settings: Settings, codec: AvroCodec, tasks: TaskStore,
                 reminders: ReminderFeed | None = None) -> None:
        super().__init__(settings, codec)
        self._tasks = tasks
        self._reminders = reminders
        self._applied: set[str] = set()
        #: Status changes read before their request (the two topics are not ordered together).
        self._early: dict[str, list[tuple[dict[str, Any], ReadRecord]]] = {}

    def caught_up(self) -> None:
        """Mark the store complete: until then a missing Task may only not have been read yet."""
        self._tasks.mark_complete()

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Apply one decoded record to the store; a record seen before changes nothing.

        After a broker outage the feed reads both topics from the start again; status changes
        already applied are recognised by event id, so Task versions do not count up twice. A
        status change read before its request waits for the request.
        """
        read = read or ReadRecord(None, None)
        if name == ADVICE_REQUESTED:
            task = self._tasks.add(record, position=read.position, at=read.timestamp)
            for change, change_read in self._early.pop(task.task_id, []):
                self._apply_status(task.task_id, change, change_read)
            if self._reminders is not None:
                self._reminders.task_added(task)
        elif name == TASK_STATUS_CHANGED:
            task_id = task_id_for(record["request_id"])
            if self._tasks.get(task_id) is None:
                self._early.setdefault(task_id, []).append((record, read))
            else:
                self._apply_status(task_id, record, read)

    def _apply_status(self, task_id: str, record: dict[str, Any], read: ReadRecord) -> None:
        if record["event_id"] in self._applied:
            return
        self._applied.add(record["event_id"])
        task = self._tasks.get(task_id)
        owner = record["owner"]
        if task is None or not task.owned_by(owner["system"], owner["value"]) or (
                record.get("case_id") not in (None, task.request.get("case_id"))):
            # Not the body the request was sent to (the worker refuses it too), or a request of
            # the same id in another case: it never changes what this request's owner sees.
            log.warning("feed_status_change_ignored", request_id=record["request_id"],
                        position=read.position)
            return
        self._tasks.set_status(task_id, record["status"].lower(), record["reason_code"],
                               record["reason_text"], record["changed_at"],
                               output_document_id=record.get("output_document_id"),
                               position=read.position)



#: Alert kinds shown on the asked body's Task as a reminder (``Task.businessStatus``).
REMINDERS = {"ADVICE_DUE_SOON": "due-soon", "ADVICE_OVERDUE": "overdue"}


class ReminderFeed(TopicFollower):
    """Shows due-soon and overdue alerts on the asked health body's Task (``businessStatus``).

    A feed of its own, so that reading a year of alerts at start-up never delays the Task
    store's readiness (the :class:`TaskFeed` marks it complete): a reminder may appear a little
    after its Task, never the Task after its reminder.
    """

    topics = (ALERTS.name,)
    client_id = "ehcp-connectors-reminder-feed"

    def __init__(self, settings: Settings, codec: AvroCodec, tasks: TaskStore) -> None:
        super().__init__(settings, codec)
        self._tasks = tasks
        self._applied: set[str] = set()
        #: Reminder alerts read before their request, by (owner, case id, advice type).
        self._early: dict[tuple[str, str, str],
                          list[tuple[dict[str, Any], datetime | None]]] = {}

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Apply a reminder alert; other records and alerts change nothing."""
        if name == ALERT:
            self._apply_alert(record, read.timestamp if read else None)

    def task_added(self, task: StoredTask) -> None:
        """A Task arrived: apply the alerts about it that were read before it."""
        key = (task.owner_ods.upper(), str(task.request["case_id"]),
               str(task.request["advice_type"]))
        for alert, at in self._early.pop(key, []):
            self._apply_alert(alert, at)

    def _apply_alert(self, record: dict[str, Any], read_at: datetime | None) -> None:
        code = REMINDERS.get(str(record["kind"]))
        agency = record.get("agency") or {}
        case_id, advice_type = record.get("case_id"), record.get("advice_type")
        if (code is None or agency.get("system") != ODS_ORGANISATION_SYSTEM or case_id is None
                or advice_type is None or record["event_id"] in self._applied):
            return
        owner = str(agency["value"]).upper()
        tasks = [t for t in self._tasks.search(owner)
                 if t.request["case_id"] == case_id and t.request["advice_type"] == advice_type]
        if not tasks:
            self._early.setdefault((owner, case_id, advice_type), []).append((record, read_at))
            return
        self._applied.add(record["event_id"])
        at = read_at or datetime.combine(record["as_of"], datetime.min.time(), UTC)
        for task in tasks:
            if record["status"] == "RAISED":
                self._tasks.set_reminder(task.task_id, code, at)
            elif task.reminder == code:
                self._tasks.set_reminder(task.task_id, None, at)
