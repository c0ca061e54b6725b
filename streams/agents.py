"""The one loop both agents run: decode, call a stage, send what it returns, store, acknowledge.

Manual acks: Faust's automatic ack also fires when the loop body is cancelled (worker stopping
mid-event), which would commit an event whose outputs were never sent; so the agents iterate
``stream.noack()`` and acknowledge each event themselves, after its work is durable.

Per event, in this order:

1. check the CloudEvents headers, decode and call the stage; bad data (:data:`BAD_DATA`) goes
   to the dead-letter topic, is acknowledged, and the loop carries on (a
   :class:`~ehcp.contract.records.RefusedError` first sends the alert it carries);
2. send every :class:`~ehcp.contract.records.Emit` and wait until Kafka acknowledges them; an
   output Kafka could never take (:class:`~ehcp.errors.EventTooLargeError`) is bad data too:
   the input is dead-lettered for it, as in 1. Every other send error crashes the agent;
3. store the stage's new state (``Step.save``);
4. acknowledge the input, then run ``Step.after_ack`` (local bookkeeping such as the due index).

Outputs first, state second: if the worker dies in between, the input is processed again (its
offset is not committed) and the outputs are re-sent with the same event ids, instead of being
skipped as a duplicate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog

from ehcp.contract.avro import AvroCodec
from ehcp.contract.cloudevents import CloudEvent
from ehcp.contract.records import Emit, RefusedError
from ehcp.errors import CaseworkError, ContractError, EventTooLargeError, ValidationError
from streams.io import Outbox, dead_letter, headers_of

log = structlog.get_logger(__name__)

#: Errors that mean "this message cannot be processed": dead-letter it and carry on. They include
#: :class:`~ehcp.errors.EventTooLargeError` (an output Kafka could never take) and a missing
#: CloudEvents header (:class:`~ehcp.errors.MalformedMessageError`).
BAD_DATA = (ContractError, CaseworkError, ValidationError)


def _nothing() -> None:
    return None


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


async def run_stage(stream: Any, stage: Stage) -> None:
    """Run ``stage`` over every event of a Faust stream, acknowledging each one by hand."""
    manual = stream.noack()
    async for event in manual.events():
        await handle_event(event, stage, manual.ack)


async def _send_about_refusal(stage: Stage, refused: RefusedError) -> None:
    """Send what a refusal raises (its alert) before the input is dead-lettered."""
    box = stage.outbox()
    try:
        await box.send_all(refused.emits)
        await box.flush()
    except EventTooLargeError:
        log.warning("refusal_alert_too_large")  # the dead letter still records the refusal


async def handle_event(
    event: faust.EventT[Any], stage: Stage, ack: Callable[[faust.EventT[Any]], Awaitable[Any]]
) -> None:
    """Carry one event through the stage (see the module docstring for the order)."""
    msg = event.message
    key = (event.key or b"").decode()
    context: dict[str, Any] = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
    if stage.key_field:
        context[stage.key_field] = key
    with structlog.contextvars.bound_contextvars(**context):
        try:
            CloudEvent.from_headers(headers_of(event))  # the contract requires them on read
            name, record = stage.codec.decode(event.value or b"")
            step = stage.handle(key, name, record)
            box = stage.outbox()
            await box.send_all(step.emits)
            await box.flush()
        except BAD_DATA as exc:
            if isinstance(exc, RefusedError):
                await _send_about_refusal(stage, exc)
            await dead_letter(stage.dead_letters, event, stage.name, exc)
            await ack(event)
            return
        step.save()
        await ack(event)
        step.after_ack()
        log.info(stage.done_event, **step.log_fields)
