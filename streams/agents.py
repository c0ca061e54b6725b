"""The one loop both agents run: decode, call a stage, send what it returns, store, acknowledge.

Manual acks: Faust's automatic ack also fires when the loop body is cancelled (worker stopping
mid-event), which would commit an event whose outputs were never sent; so the agents iterate
``stream.noack()`` and acknowledge each event themselves, after its work is durable.

Per event, in this order:

1. wait until no earlier input with the same key is in flight (step 2 to 4 below), so the
   stage reads the state that input stored;
2. check the CloudEvents headers, decode and call the stage; bad data (:data:`BAD_DATA`) goes
   to the dead-letter topic once every earlier input is complete, is acknowledged, and the loop
   carries on (a :class:`~ehcp.contract.records.RefusedError` first sends the alert it carries);
3. send every :class:`~ehcp.contract.records.Emit`; an output Kafka could never take
   (:class:`~ehcp.errors.EventTooLargeError`) is bad data too: the input is dead-lettered for
   it, as in 2. The loop then goes on to the next input (up to :data:`MAX_IN_FLIGHT` inputs
   in flight) while a task of its own completes the inputs in arrival order:
4. wait until Kafka acknowledges the input's outputs (Kafka refusing one for its size
   dead-letters the input instead; every other send error crashes the agent), store the
   stage's new state (``Step.save``), acknowledge the input, then run ``Step.after_ack``
   (local bookkeeping such as the due index).

Outputs first, state second: if the worker dies in between, the input is processed again (its
offset is not committed) and the outputs are re-sent with the same event ids, instead of being
skipped as a duplicate. Inputs are acknowledged in order, so a committed offset never passes an
input whose outputs are not durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import faust.streams
import structlog

from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent
from ehcp.contract.records import Emit, RefusedError
from ehcp.errors import CaseworkError, ContractError, EventTooLargeError, ValidationError
from ehcp.metrics import metrics
from streams.io import Outbox, dead_letter, headers_of

log = structlog.get_logger(__name__)

#: Errors that mean "this message cannot be processed": dead-letter it and carry on. They include
#: :class:`~ehcp.errors.EventTooLargeError` (an output Kafka could never take) and a missing
#: CloudEvents header (:class:`~ehcp.errors.MalformedMessageError`).
BAD_DATA = (ContractError, CaseworkError, ValidationError)


def _nothing() -> None:
    return None


@contextlib.contextmanager
def current_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event while a table is written outside the agent's loop.

    Faust picks the changelog partition of a table write from the event being processed, a
    context variable its stream sets (``faust.streams._current_event``, an internal: re-check
    on every Faust upgrade). Inputs are completed by the pipeline's own task, so it sets it.
    """
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


@dataclass(frozen=True, slots=True)
class Step:
    """What a stage made of one input, for :func:`run_stage` to carry out in order.

    Attributes:
        emits: the records to send before anything is stored.
        save: stores the stage's new state (called once the emits are acknowledged).
        log_fields: what the loop logs about the input once it is done.
        after_ack: local bookkeeping once the input is acknowledged.
    """

    emits: Sequence[Emit]
    save: Callable[[], None]
    log_fields: Mapping[str, Any]
    after_ack: Callable[[], None] = field(default=_nothing)


@dataclass(frozen=True, slots=True)
class Stage:
    """One agent's stage and where its results go.

    Attributes:
        name: the agent's name (the dead-letter ``stage`` header).
        done_event: the log event written after each input.
        handle: the stage: ``(key, record name, record) -> Step``.
        codec: decodes the input values.
        outbox: a fresh :class:`~streams.io.Outbox` per input.
        dead_letters: the dead-letter topic.
        key_field: the log-context name of the Kafka key, if it is worth binding (a case id).
    """

    name: str
    done_event: str
    handle: Callable[[str, str, dict[str, Any]], Step]
    codec: AvroCodec
    outbox: Callable[[], Outbox]
    dead_letters: faust.TopicT
    key_field: str | None = None


#: Inputs whose outputs may be on their way to Kafka at once (the pipeline's window).
MAX_IN_FLIGHT = 256


async def run_stage(stream: Any, stage: Stage) -> None:
    """Run ``stage`` over every event of a Faust stream, acknowledging each one by hand."""
    manual = stream.noack()
    pipeline = _Pipeline(stage, manual.ack)
    try:
        async for event in manual.events():
            await handle_event(event, stage, pipeline)
        await pipeline.drain()
    finally:
        pipeline.close()


async def _send_about_refusal(stage: Stage, refused: RefusedError) -> None:
    """Send what a refusal raises (its alert) before the input is dead-lettered."""
    box = stage.outbox()
    try:
        await box.send_all(refused.emits)
        await box.flush()
    except EventTooLargeError:
        log.warning("refusal_alert_too_large")  # the dead letter still records the refusal


@dataclass(frozen=True, slots=True)
class _InFlight:
    """An input whose outputs are sent and not yet all acknowledged by Kafka."""

    event: Any
    key: str
    step: Step
    box: Outbox
    context: Mapping[str, Any]


class _Pipeline:
    """Completes inputs in the order they arrived: outputs acknowledged, state, input ack.

    The agent sends an input's outputs and goes on to the next input while Kafka acknowledges
    them (one round trip per window, not per input); a task completes the inputs in order.
    An input waits for the earlier input of the same key to complete first (its stage reads the
    state that one stores), so state is still stored only after what made it is durable, and an
    input is acknowledged only after everything before it.
    """

    def __init__(self, stage: Stage, ack: Callable[[Any], Awaitable[Any]]) -> None:
        self._stage = stage
        self._ack = ack
        self._queue: deque[_InFlight] = deque()
        self._keys: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    async def put(self, item: _InFlight) -> None:
        """Hand over a sent input; waits while the window is full."""
        self._check()
        self._queue.append(item)
        self._keys[item.key] = self._keys.get(item.key, 0) + 1
        if self._task is None:
            self._task = asyncio.create_task(self._complete())
        async with self._changed:
            self._changed.notify_all()
            await self._changed.wait_for(
                lambda: len(self._queue) < MAX_IN_FLIGHT or self._error is not None
            )
        self._check()

    async def wait_key(self, key: str) -> None:
        """Wait until no earlier input of ``key`` is in flight."""
        if key in self._keys:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: key not in self._keys or self._error is not None
                )
        self._check()

    async def drain(self) -> None:
        """Wait until every input handed over is complete."""
        if self._queue:
            async with self._changed:
                await self._changed.wait_for(lambda: not self._queue or self._error is not None)
        self._check()

    async def acknowledge(self, event: Any) -> None:
        """Acknowledge an input handled outside the pipeline (after :meth:`drain`)."""
        await self._ack(event)

    def close(self) -> None:
        """Stop completing (the agent is stopping): what is in flight is not acknowledged."""
        if self._task is not None:
            self._task.cancel()

    async def _complete(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self._queue))
                item = self._queue[0]
                await self._finish(item)
                self._queue.popleft()
                left = self._keys[item.key] - 1
                if left:
                    self._keys[item.key] = left
                else:
                    del self._keys[item.key]
                async with self._changed:
                    self._changed.notify_all()
        except Exception as exc:  # noqa: BLE001 - handed to the agent, which raises it
            # The agent raises it on its next input (a loud crash); with no next input, the
            # unacknowledged offset trips the stall watchdog, which restarts the worker.
            log.error("stage_completion_failed", error=type(exc).__name__)
            self._error = exc
            async with self._changed:
                self._changed.notify_all()

    async def _finish(self, item: _InFlight) -> None:
        with structlog.contextvars.bound_contextvars(**item.context):
            try:
                await item.box.flush()
            except EventTooLargeError as exc:
                await dead_letter(self._stage.dead_letters, item.event, self._stage.name, exc)
                await self._ack(item.event)
                return
            with current_event(item.event):
                item.step.save()
            await self._ack(item.event)
            item.step.after_ack()
            log.info(self._stage.done_event, **item.step.log_fields)


async def handle_event(event: faust.EventT[Any], stage: Stage, pipeline: _Pipeline) -> None:
    """Carry one event through the stage (see the module docstring for the order)."""
    msg = event.message
    metrics().events_consumed.labels("worker", msg.topic).inc()
    key = (event.key or b"").decode()
    context: dict[str, Any] = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
    if stage.key_field:
        context[stage.key_field] = key
    with structlog.contextvars.bound_contextvars(**context):
        await pipeline.wait_key(key)
        try:
            CloudEvent.from_headers(headers_of(event))  # the contract requires them on read
            name, record = stage.codec.decode(event.value or b"")
            step = stage.handle(key, name, record)
            box = stage.outbox()
            await box.send_all(step.emits)
        except BAD_DATA as exc:
            await pipeline.drain()  # acknowledged in order, after every earlier input
            if isinstance(exc, RefusedError):
                await _send_about_refusal(stage, exc)
            await dead_letter(stage.dead_letters, event, stage.name, exc)
            await pipeline.acknowledge(event)
            return
        await pipeline.put(_InFlight(event, key, step, box, context))
