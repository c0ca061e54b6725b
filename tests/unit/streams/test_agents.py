"""The agents' one loop: outputs acknowledged before state is stored, state before the input is acked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from ehcp.contract.avro import default_codec
from ehcp.contract.records import Emit
from ehcp.contract.topics import CASE_TICKS, DEAD_LETTER
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


def fake_event(key: str, value: bytes, offset: int) -> Any:
    """An event with the message fields the loop logs and the dead-letter headers need."""
    message = SimpleNamespace(topic="ehcp.case-ticks.v1", partition=0, offset=offset)
    return SimpleNamespace(key=key.encode(), value=value, headers=[], message=message)


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
            events["C-4"] = await tested.put(tick_bytes("C-4"), key=b"C-4")
            events["BAD-BYTES"] = await tested.put(b"junk", key=b"BAD-BYTES")
            for _ in range(200):  # put() returns before a manual-ack agent has finished
                if all(e.message.acked for e in events.values()):
                    break
                await asyncio.sleep(0.01)

    asyncio.run(drive())
    assert journal == ["send ticks", "kafka acked ticks", "save C-4", "send dlq", "kafka acked dlq"]
    assert acked_at_save == [False]
    assert all(e.message.acked for e in events.values())
