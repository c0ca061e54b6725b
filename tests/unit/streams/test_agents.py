"""The agents' one loop: outputs acknowledged before state is stored, state before the input is acked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.contract.records import Emit, RefusedError
from ehcp.contract.topics import ALERTS, CASE_TICKS, DEAD_LETTER
from ehcp.errors import ContractError
from streams.agents import Stage, Step, run_stage
from streams.io import Outbox

CODEC = default_codec()


def tick_bytes(case_id: str) -> bytes:
    """A CaseTick record encoded as the agents receive it."""
    record = {"event_id": f"t-{case_id}", "case_id": case_id, "as_of": date(2026, 11, 2)}
    return CODEC.encode(CASE_TICKS.value_schema or "", record)


class RecordingTopic:
    """A topic whose sends are written to a shared journal, acknowledged only when awaited."""

    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.sent: list[tuple[bytes | None, bytes | None]] = []

    async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
        self.sent.append((key, value))
        self.journal.append(f"send {self.name}")

        async def acknowledged() -> None:
            self.journal.append(f"kafka acked {self.name}")

        return asyncio.ensure_future(acknowledged())


def make_stage(journal: list[str], topics: dict[str, Any], handle: Any = None) -> Stage:
    """A stage that emits one tick per input and journals its state writes."""

    def default_handle(key: str, name: str, record: dict[str, Any]) -> Step:
        if key == "BAD":
            raise ContractError("refused")
        return Step(
            [Emit(CASE_TICKS, key, record, key)],
            lambda: journal.append(f"save {key}"),
            {},
            after_ack=lambda: journal.append(f"after ack {key}"),
        )

    return Stage(
        "test_stage",
        "test_done",
        handle or default_handle,
        CODEC,
        lambda: Outbox(CODEC, topics),
        topics[DEAD_LETTER.name],
    )


class FakeStream:
    """Just what run_stage uses of a Faust stream: noack(), events() and ack()."""

    def __init__(self, events: list[Any], journal: list[str]) -> None:
        self._events = events
        self.journal = journal

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[Any]:
        for event in self._events:
            yield event

    async def ack(self, event: Any) -> None:
        self.journal.append(f"ack {event.key.decode()}")


def ce_headers(key: str) -> list[tuple[str, bytes]]:
    """The CloudEvents headers every contract message carries."""
    ce = CloudEvent(id=f"t-{key}", source="/tests", type=event_type(CASE_TICKS.value_schema or ""),
                    time=datetime(2026, 11, 2, tzinfo=UTC), subject=key)
    return ce.headers()


class FakeEvent(SimpleNamespace):
    """An event object (weakly referenceable, as Faust's are: Faust holds the current one so)."""


def fake_event(
    key: str, value: bytes, offset: int, headers: list[tuple[str, bytes]] | None = None
) -> Any:
    """An event with the message fields the loop logs and the dead-letter headers need."""
    message = SimpleNamespace(topic="ehcp.case-ticks.v1", partition=0, offset=offset)
    return FakeEvent(
        key=key.encode(),
        value=value,
        headers=ce_headers(key) if headers is None else headers,
        message=message,
    )


def test_outputs_are_acknowledged_before_state_and_state_before_the_input() -> None:
    """Per event: send, Kafka ack of the send, state write, input ack, then local bookkeeping."""
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        DEAD_LETTER.name: RecordingTopic("dlq", journal),
    }
    stream = FakeStream([fake_event("C-1", tick_bytes("C-1"), 0)], journal)
    asyncio.run(run_stage(stream, make_stage(journal, topics)))
    assert journal == [
        "send ticks",
        "kafka acked ticks",
        "save C-1",
        "ack C-1",
        "after ack C-1",
    ]


def test_bad_data_is_dead_lettered_and_acknowledged_and_the_loop_carries_on() -> None:
    """Undecodable bytes and a stage's ContractError go to the DLQ (acked) and the next event runs."""
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        DEAD_LETTER.name: RecordingTopic("dlq", journal),
    }
    events = [
        fake_event("X", b"not avro", 0),
        fake_event("BAD", tick_bytes("BAD"), 1),
        fake_event("C-2", tick_bytes("C-2"), 2),
    ]
    asyncio.run(run_stage(FakeStream(events, journal), make_stage(journal, topics)))
    assert journal == [
        "send dlq",
        "kafka acked dlq",
        "ack X",
        "send dlq",
        "kafka acked dlq",
        "ack BAD",
        "send ticks",
        "kafka acked ticks",
        "save C-2",
        "ack C-2",
        "after ack C-2",
    ]
    assert [key for key, _ in topics[DEAD_LETTER.name].sent] == [b"X", b"BAD"]
    assert topics[DEAD_LETTER.name].sent[0][1] == b"not avro"


def test_a_failing_send_leaves_state_and_offset_alone() -> None:
    """If Kafka refuses an output, the state is not stored and the input is not acknowledged."""
    journal: list[str] = []

    class RefusingTopic(RecordingTopic):
        async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
            journal.append("send refused")
            raise RuntimeError("broker gone")

    topics = {CASE_TICKS.name: RefusingTopic("ticks", journal), DEAD_LETTER.name: None}
    stream = FakeStream([fake_event("C-3", tick_bytes("C-3"), 0)], journal)
    with pytest.raises(RuntimeError, match="broker gone"):
        asyncio.run(run_stage(stream, make_stage(journal, topics)))
    assert journal == ["send refused"]


def test_faust_test_context_drives_the_manual_ack_loop() -> None:
    """Under Faust's agent.test_context() the noack loop acks a good event after its save, and dead-letters a bad one."""
    app = faust.App(
        "ehcp-agent-test",
        broker="kafka://127.0.0.1:1",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        DEAD_LETTER.name: RecordingTopic("dlq", journal),
    }
    acked_at_save: list[bool] = []
    events: dict[str, Any] = {}

    def handle(key: str, name: str, record: dict[str, Any]) -> Step:
        def save() -> None:
            acked_at_save.append(events[key].message.acked)
            journal.append(f"save {key}")

        return Step([Emit(CASE_TICKS, key, record, key)], save, {})

    stage = make_stage(journal, topics, handle)
    source = app.topic("agent-test-in", key_type=bytes, value_type=bytes)

    @app.agent(source)
    async def agent(stream: faust.StreamT[bytes]) -> None:
        await run_stage(stream, stage)

    async def drive() -> None:
        async with agent.test_context() as tested:
            events["C-4"] = await tested.put(tick_bytes("C-4"), key=b"C-4",
                                             headers=ce_headers("C-4"))
            events["BAD-BYTES"] = await tested.put(b"junk", key=b"BAD-BYTES",
                                                   headers=ce_headers("BAD-BYTES"))
            for _ in range(200):  # put() returns before a manual-ack agent has finished
                if all(e.message.acked for e in events.values()):
                    break
                await asyncio.sleep(0.01)

    asyncio.run(drive())
    assert journal == ["send ticks", "kafka acked ticks", "save C-4", "send dlq", "kafka acked dlq"]
    assert acked_at_save == [False]
    assert all(e.message.acked for e in events.values())


def dead_letter_reasons(topic: RecordingTopic) -> list[tuple[bytes, bytes]]:
    """(exception class, message) of each dead letter a RecordingTopic was sent."""
    return [(dict(h)["__connect.errors.exception.class.name"],
             dict(h)["__connect.errors.exception.message"]) for h in topic.headers]


class HeaderRecordingTopic(RecordingTopic):
    """A RecordingTopic that also keeps each send's headers."""

    def __init__(self, name: str, journal: list[str]) -> None:
        super().__init__(name, journal)
        self.headers: list[Any] = []

    async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
        self.headers.append(headers)
        return await super().send(key=key, value=value, headers=headers)


def test_a_message_without_cloudevents_headers_is_dead_lettered_and_the_next_one_runs() -> None:
    """No ce_* headers (or only some): dead-lettered with the missing names; a valid one follows."""
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        DEAD_LETTER.name: HeaderRecordingTopic("dlq", journal),
    }
    partial = [h for h in ce_headers("C-6") if h[0] != "ce_type"]
    events = [
        fake_event("C-5", tick_bytes("C-5"), 0, headers=[]),
        fake_event("C-6", tick_bytes("C-6"), 1, headers=partial),
        fake_event("C-7", tick_bytes("C-7"), 2),
    ]
    asyncio.run(run_stage(FakeStream(events, journal), make_stage(journal, topics)))
    assert journal == [
        "send dlq", "kafka acked dlq", "ack C-5",
        "send dlq", "kafka acked dlq", "ack C-6",
        "send ticks", "kafka acked ticks", "save C-7", "ack C-7", "after ack C-7",
    ]
    assert dead_letter_reasons(topics[DEAD_LETTER.name]) == [
        (b"MalformedMessageError",
         b"missing CloudEvents headers: ce_specversion, ce_id, ce_source, ce_type"),
        (b"MalformedMessageError", b"missing CloudEvents headers: ce_type"),
    ]


def test_an_output_over_the_topic_limit_dead_letters_its_input_and_the_next_one_runs() -> None:
    """An output bigger than the topic's max.message.bytes: nothing sent, input dead-lettered with the sizes."""
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        DEAD_LETTER.name: HeaderRecordingTopic("dlq", journal),
    }
    big = "C-" + "x" * 3000

    async def limit(topic: str) -> int:
        return 2000 if topic == CASE_TICKS.name else 1_000_000

    stage = make_stage(journal, topics)
    stage = Stage(stage.name, stage.done_event, stage.handle, CODEC,
                  lambda: Outbox(CODEC, topics, limit), stage.dead_letters)
    events = [fake_event(big, tick_bytes(big), 0), fake_event("C-8", tick_bytes("C-8"), 1)]
    asyncio.run(run_stage(FakeStream(events, journal), stage))
    assert journal == [
        "send dlq", "kafka acked dlq", f"ack {big}",
        "send ticks", "kafka acked ticks", "save C-8", "ack C-8", "after ack C-8",
    ]
    ((cls, message),) = dead_letter_reasons(topics[DEAD_LETTER.name])
    assert cls == b"EventTooLargeError"
    assert message.endswith(b"ehcp.case-ticks.v1 accepts at most 2000")


def test_kafka_refusing_an_output_for_its_size_dead_letters_the_input() -> None:
    """MessageSizeTooLargeError from the send (as Faust wraps it) is a dead letter, not a crash."""
    from aiokafka.errors import MessageSizeTooLargeError
    from faust.exceptions import ProducerSendError

    journal: list[str] = []

    class TooLargeTopic(RecordingTopic):
        async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
            journal.append("send refused")
            if key == b"BIG":
                try:
                    raise MessageSizeTooLargeError()
                except MessageSizeTooLargeError as exc:
                    raise ProducerSendError("Error while sending") from exc
            return await super().send(key=key, value=value, headers=headers)

    class BrokerRefusesTopic(RecordingTopic):
        async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            fut.set_exception(MessageSizeTooLargeError())
            journal.append("send accepted, broker refuses")
            return fut

    dlq = HeaderRecordingTopic("dlq", journal)
    for topic in (TooLargeTopic("ticks", journal), BrokerRefusesTopic("ticks", journal)):
        journal.clear()
        topics = {CASE_TICKS.name: topic, DEAD_LETTER.name: dlq}
        asyncio.run(run_stage(FakeStream([fake_event("BIG", tick_bytes("BIG"), 0)], journal),
                              make_stage(journal, topics)))
        assert journal[-3:] == ["send dlq", "kafka acked dlq", "ack BIG"]
        assert "save BIG" not in journal
    assert [cls for cls, _ in dead_letter_reasons(dlq)] == [b"EventTooLargeError"] * 2


def test_a_transient_send_error_still_crashes() -> None:
    """A send error that is not about size (broker gone) is not dead-lettered: the agent crashes."""
    from aiokafka.errors import KafkaConnectionError

    journal: list[str] = []

    class GoneTopic(RecordingTopic):
        async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
            journal.append("send failed")
            raise KafkaConnectionError()

    topics = {CASE_TICKS.name: GoneTopic("ticks", journal),
              DEAD_LETTER.name: RecordingTopic("dlq", journal)}
    with pytest.raises(KafkaConnectionError):
        asyncio.run(run_stage(FakeStream([fake_event("C-9", tick_bytes("C-9"), 0)], journal),
                              make_stage(journal, topics)))
    assert journal == ["send failed"]


def test_a_refused_record_sends_its_alert_before_its_dead_letter() -> None:
    """RefusedError: the alert it carries is sent and acknowledged, then the input is dead-lettered and acked."""
    journal: list[str] = []
    topics = {
        CASE_TICKS.name: RecordingTopic("ticks", journal),
        ALERTS.name: RecordingTopic("alerts", journal),
        DEAD_LETTER.name: HeaderRecordingTopic("dlq", journal),
    }
    alert = {"event_id": "a-1", "alert_id": "a", "case_id": "C-10", "kind": "CONTRIBUTION_UNROUTED",
             "status": "RAISED", "severity": "CRITICAL", "advice_type": None, "agency": None,
             "due_on": None, "days_overdue": 0, "regulation": "reg 6(1)", "message": "refused",
             "as_of": date(2026, 11, 2)}

    def handle(key: str, name: str, record: dict[str, Any]) -> Step:
        raise RefusedError("advice submitted by LA 886, but the case belongs to LA 999",
                           [Emit(ALERTS, key, alert, key)])

    events = [fake_event("C-10", tick_bytes("C-10"), 0)]
    asyncio.run(run_stage(FakeStream(events, journal), make_stage(journal, topics, handle)))
    assert journal == ["send alerts", "kafka acked alerts", "send dlq", "kafka acked dlq",
                       "ack C-10"]
    assert dead_letter_reasons(topics[DEAD_LETTER.name]) == [
        (b"RefusedError", b"advice submitted by LA 886, but the case belongs to LA 999")]


class HeldTopic(RecordingTopic):
    """A topic whose sends Kafka acknowledges only when the test says so (or refuses)."""

    def __init__(self, name: str, journal: list[str]) -> None:
        super().__init__(name, journal)
        self.futures: dict[bytes, asyncio.Future[Any]] = {}

    async def send(self, *, key: bytes | None, value: bytes | None, headers: Any) -> Any:
        self.journal.append(f"send {key.decode() if key else ''}")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures[key or b""] = fut
        return fut

    def acknowledge(self, key: str, error: BaseException | None = None) -> None:
        self.journal.append(f"kafka {'refuses' if error else 'acks'} {key}")
        fut = self.futures[key.encode()]
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _pipelined(keys: list[str], drive: Any) -> tuple[list[str], list[str], Any]:
    """Run the loop over ticks for ``keys`` with held sends; ``drive(topic)`` acknowledges them."""
    journal: list[str] = []
    handled: list[str] = []
    ticks = HeldTopic("ticks", journal)
    topics = {CASE_TICKS.name: ticks, DEAD_LETTER.name: RecordingTopic("dlq", journal)}

    def handle(key: str, name: str, record: dict[str, Any]) -> Step:
        handled.append(key)
        return Step([Emit(CASE_TICKS, key, record, key)],
                    lambda: journal.append(f"save {key}"), {})

    events = [fake_event(k, tick_bytes(k.split("#")[0]), i) for i, k in enumerate(keys)]
    for event in events:
        event.key = event.key.split(b"#")[0]

    async def main() -> Any:
        task = asyncio.create_task(run_stage(FakeStream(events, journal),
                                             make_stage(journal, topics, handle)))
        await _settle()
        await drive(ticks)
        await _settle()
        return task.exception() if task.done() else task

    outcome = asyncio.run(main())
    return journal, handled, outcome


def test_outputs_of_later_inputs_are_sent_before_earlier_ones_are_acknowledged() -> None:
    """One round trip per window, not per input; yet saves and input acks follow Kafka's acks, in order."""

    async def drive(ticks: HeldTopic) -> None:
        ticks.acknowledge("C-2")  # Kafka may acknowledge out of order ...
        await _settle()
        ticks.acknowledge("C-1")

    journal, _, outcome = _pipelined(["C-1", "C-2"], drive)
    assert outcome is None
    assert journal == [
        "send C-1", "send C-2",
        "kafka acks C-2",  # ... but nothing of C-2 is stored or acked before C-1 is
        "kafka acks C-1",
        "save C-1", "ack C-1", "save C-2", "ack C-2",
    ]


def test_an_input_waits_for_the_earlier_input_of_its_key() -> None:
    """The stage never reads a case's state while an earlier input of that case is in flight."""

    async def drive(ticks: HeldTopic) -> None:
        ticks.acknowledge("C-1")
        await _settle()
        ticks.acknowledge("C-2")
        await _settle()
        ticks.acknowledge("C-1")  # the second input of C-1, sent only after the first is saved

    journal, handled, outcome = _pipelined(["C-1", "C-2", "C-1#2"], drive)
    assert outcome is None
    assert handled == ["C-1", "C-2", "C-1"]
    assert journal.index("save C-1") < journal.index("send C-1", journal.index("send C-2"))
    assert journal[-3:] == ["kafka acks C-1", "save C-1", "ack C-1"]


def test_a_failed_send_in_flight_stores_and_acknowledges_nothing_after_it() -> None:
    """A send error on input 1 while input 2 is in flight: neither is stored or acked; the loop crashes."""
    from aiokafka.errors import KafkaConnectionError

    async def drive(ticks: HeldTopic) -> None:
        ticks.acknowledge("C-2")
        ticks.acknowledge("C-1", KafkaConnectionError())

    journal, _, outcome = _pipelined(["C-1", "C-2", "C-3"], drive)
    assert not any(line.startswith(("save", "ack")) for line in journal)
    assert isinstance(outcome, KafkaConnectionError)


def test_kafka_refusing_an_output_in_flight_dead_letters_that_input_in_order() -> None:
    """Too large for the broker: input 1 is dead-lettered and acked before input 2 is acked."""
    from aiokafka.errors import MessageSizeTooLargeError

    async def drive(ticks: HeldTopic) -> None:
        ticks.acknowledge("C-2")
        ticks.acknowledge("C-1", MessageSizeTooLargeError())

    journal, _, outcome = _pipelined(["C-1", "C-2"], drive)
    assert outcome is None
    assert journal[-5:] == ["send dlq", "kafka acked dlq", "ack C-1", "save C-2", "ack C-2"]
    assert "save C-1" not in journal
