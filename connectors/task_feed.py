"""Keeps the connectors' store of advice requests in step with Kafka, and publishes Task changes.

Kafka is the source of truth: on start the feed reads the advice-requests and task-status topics
from the beginning (no consumer group: every connector process holds every advice request,
whichever agency it was sent to; each is small) and then follows them, so a restarted connector
serves the same requests. FHIR serves those sent to NHS bodies as Tasks; the JSON APIs serve
the others to the school, EP service or social care team asked.
A second feed reads the alerts and shows due-soon and overdue advice on the
health Task (``businessStatus``), and the reminders LA staff send from the workspace
(``ehcp.reminders.v1``) as a ``Task.note``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.ports import FeedPosition, StoredTask, TaskStore
from connectors.fhir.tasks import task_id_for
from connectors.ports import EventPublisher, PublishedEvent, PublishReceipt
from ehcp.casework.calendar import LONDON
from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.records import (
    ADVICE_REMINDER_SENT,
    ADVICE_REQUESTED,
    ALERT,
    TASK_STATUS_CHANGED,
)
from ehcp.contract.topics import ADVICE_REQUESTS, ALERTS, TASK_STATUS
from ehcp.contract.topics import REMINDERS as REMINDERS_TOPIC
from ehcp.errors import ContractError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.kafka_clients import aiokafka_config
from ehcp.metrics import metrics
from ehcp.settings import Settings

log = structlog.get_logger(__name__)
LONDON_TZ = ZoneInfo(LONDON)
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

    @property
    def caught_up_once(self) -> bool:
        """Everything that was on the topics at start has been read."""
        return self._caught_up

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Fold one decoded record in; ``read`` says where it was read (None: not from Kafka)."""
        raise NotImplementedError

    def caught_up(self) -> None:
        """Everything on the topics at start has been read."""

    def rewind_to(self) -> dict[tuple[str, int], int] | None:
        """Positions to read again from, by (topic, partition), or None (the default: never).

        Asked before each fetched batch is applied; when it returns positions, that batch is
        not applied and the follower seeks back (partitions not named go back to the batch's
        first record), so everything from those positions is read again, in order.
        """
        return None

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
            back = self.rewind_to()
            if back:
                _seek_back(consumer, back, batch)
                continue
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


def _seek_back(consumer: AIOKafkaConsumer, back: dict[tuple[str, int], int],
               batch: dict[Any, list[Any]]) -> None:
    """Seek each partition to ``back``'s position, or to the first record of the batch that is
    being dropped, whichever is earlier (a partition in neither stays where it is)."""
    firsts = {(tp.topic, tp.partition): messages[0].offset
              for tp, messages in batch.items() if messages}
    for tp in consumer.assignment():
        key = (tp.topic, tp.partition)
        targets = [o for o in (back.get(key), firsts.get(key)) if o is not None]
        if targets:
            consumer.seek(tp, min(targets))
    log.info("feed_rewound", positions=sorted(f"{t}[{p}]@{o}" for (t, p), o in back.items()))


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


#: How many reminder alerts the :class:`ReminderFeed` keeps while their Task has not been read
#: (``EHCP_REMINDER_BUFFER_MAX``; the same default).
DEFAULT_MAX_EARLY = 10_000

_Key = tuple[str, str, str]
_Early = tuple[str, dict[str, Any], datetime | None, FeedPosition | None]


class ReminderFeed(TopicFollower):
    """Shows due-soon and overdue alerts on the asked health body's Task (``businessStatus``).

    A feed of its own, so that reading a year of alerts at start-up never delays the Task
    store's readiness (the :class:`TaskFeed` marks it complete): a reminder may appear a little
    after its Task, never the Task after its reminder.

    An alert read before its Task waits in a buffer of at most ``max_early`` alerts (a Task
    normally follows within seconds; a buffer fills only with alerts whose request is very late
    or never comes). When it would overflow, the buffer is dropped and only the earliest
    position (topic, partition, offset) of what it held is kept; the next time a Task arrives
    the feed reads the alerts topic again from there (:meth:`rewind_to`), so every dropped
    alert is read again, in order, and nothing is lost. Alerts applied before are recognised
    by event id and change nothing when read again. Memory stays bounded; the cost of an
    overflow is one re-read of the topic from the oldest dropped alert per Task that arrives
    (Tasks arriving together cause one re-read).
    """

    topics = (ALERTS.name, REMINDERS_TOPIC.name)
    client_id = "ehcp-connectors-reminder-feed"

    def __init__(self, settings: Settings, codec: AvroCodec, tasks: TaskStore, *,
                 max_early: int = DEFAULT_MAX_EARLY) -> None:
        super().__init__(settings, codec)
        if max_early < 1:
            raise ValueError("max_early must be at least 1")
        self._tasks = tasks
        self._applied: set[str] = set()
        self._max_early = max_early
        #: Reminder alerts read before their request, by (owner, case id, advice type).
        self._early: dict[_Key, list[_Early]] = {}
        self._early_count = 0
        #: After an overflow: the earliest dropped position per (topic, partition).
        self._dropped_from: dict[tuple[str, int], int] = {}
        self._rewind_due = False
        #: How many times the buffer overflowed, and the feed asked to read again (for tests
        #: and operators' logs).
        self.overflows = 0
        self.rewinds = 0

    @property
    def waiting(self) -> int:
        """How many alerts wait for their Task (at most ``max_early``)."""
        return self._early_count

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Apply a reminder alert or an LA's reminder; other records and alerts change
        nothing."""
        if name in (ALERT, ADVICE_REMINDER_SENT):
            read = read or ReadRecord(None, None)
            self._apply_record(name, record, read.timestamp, read.position)

    def task_added(self, task: StoredTask) -> None:
        """A Task arrived: apply the alerts about it that were read before it (after an
        overflow: read the alerts again from the earliest dropped one instead)."""
        if self._dropped_from:
            # Applying what the buffer still holds now would put later alerts before the
            # dropped earlier ones: the re-read applies both, in order.
            self._rewind_due = True
            return
        key = (task.owner_ods.upper(), str(task.request["case_id"]),
               str(task.request["advice_type"]))
        found = self._early.pop(key, [])
        self._early_count -= len(found)
        for name, record, at, position in found:
            self._apply_record(name, record, at, position)

    def rewind_to(self) -> dict[tuple[str, int], int] | None:
        """After an overflow, once a Task has arrived: where to read the alerts again from
        (the earliest dropped alert, or of those still buffered, per partition); the buffer
        is emptied, since everything in it is read again."""
        if not self._rewind_due:
            return None
        back = dict(self._dropped_from)
        for entries in self._early.values():
            for _, _, _, position in entries:
                if position is not None:
                    topic, partition, offset = position
                    back[(topic, partition)] = min(offset, back.get((topic, partition), offset))
        self._early.clear()
        self._early_count = 0
        self._dropped_from.clear()
        self._rewind_due = False
        self.rewinds += 1
        return back

    def _keep_early(self, key: _Key, entry: _Early) -> None:
        if self._early_count >= self._max_early:
            self._overflow(entry)
            return
        self._early.setdefault(key, []).append(entry)
        self._early_count += 1

    def _overflow(self, entry: _Early) -> None:
        held = [e for entries in self._early.values() for e in entries] + [entry]
        lost = 0
        for _, _, _, position in held:
            if position is None:
                lost += 1  # not read from Kafka (a test's direct apply): nowhere to re-read
                continue
            topic, partition, offset = position
            key = (topic, partition)
            self._dropped_from[key] = min(offset, self._dropped_from.get(key, offset))
        self._early.clear()
        self._early_count = 0
        self.overflows += 1
        log.warning("reminder_buffer_overflow", dropped=len(held), max_early=self._max_early,
                    reread_from=sorted(f"{t}[{p}]@{o}" for (t, p), o in
                                       self._dropped_from.items()))
        if lost:
            log.error("reminder_buffer_overflow_unpositioned", lost=lost)

    def _apply_record(self, name: str, record: dict[str, Any], read_at: datetime | None,
                      position: FeedPosition | None = None) -> None:
        agency = record.get("agency") or {}
        case_id, advice_type = record.get("case_id"), record.get("advice_type")
        if name == ADVICE_REMINDER_SENT:
            sent_at: datetime = record["sent_at"]
            code: str | None = ("overdue" if sent_at.astimezone(LONDON_TZ).date()
                                > record["due_on"] else "due-soon")
        else:
            code = REMINDERS.get(str(record["kind"]))
        if (code is None or agency.get("system") != ODS_ORGANISATION_SYSTEM or case_id is None
                or advice_type is None or record["event_id"] in self._applied):
            return
        owner = str(agency["value"]).upper()
        tasks = [t for t in self._tasks.search(owner)
                 if t.request["case_id"] == case_id and t.request["advice_type"] == advice_type]
        if not tasks:
            self._keep_early((owner, case_id, advice_type), (name, record, read_at, position))
            return
        self._applied.add(record["event_id"])
        if name == ADVICE_REMINDER_SENT:
            for task in tasks:
                self._tasks.record_la_reminder(task.task_id, code, record["sent_at"])
            return
        at = read_at or datetime.combine(record["as_of"], datetime.min.time(), UTC)
        for task in tasks:
            if record["status"] == "RAISED":
                self._tasks.set_reminder(task.task_id, code, at)
            elif task.reminder == code:
                self._tasks.set_reminder(task.task_id, None, at)
