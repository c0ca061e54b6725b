"""The composition root of the stream workers: ``create_app(settings)`` builds the Faust app.

Agents (each with concurrency 1, so one partition's events are handled in order, Faust #606):

- ``route_contributions``: contributions and routing-index entries, keyed by child key (or case
  id). Routes each contribution into its case, parks early ones, reports the rest unrouted.
- ``process_cases``: referrals, casework events, advice requests, Task status changes, routed
  contributions and timer ticks, keyed by case id. Folds them into the ``cases`` table and
  emits advice requests, routing-index entries, case status and alerts.
- ``alert_timer``: each tick, finds the local cases whose alerts fall due (an index by next due
  date, so its cost grows with what falls due, not with open cases) and sends them a tick
  (:mod:`streams.timer`).

Both agents run :func:`streams.agents.run_stage` over a pure stage from :mod:`streams.stages`.

Processing is at-least-once with idempotent handlers (``exactly_once`` is deliberately not used).
Faust's web server is off: its table views would serve personal data.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import faust

from ehcp.clock import Clock, SystemClock
from ehcp.contract.avro import AvroCodec
from ehcp.contract.records import short_name
from ehcp.contract.topics import (
    ADVICE_REQUESTS,
    CASE_TICKS,
    CASEWORK_EVENTS,
    CHILD_INDEX,
    CONTRIBUTIONS,
    CONTRIBUTIONS_ROUTED,
    DEAD_LETTER,
    EVENT_TOPICS,
    REFERRALS,
    TASK_STATUS,
)
from ehcp.kafka_io.kafka_clients import sasl_credentials, ssl_context
from ehcp.kafka_io.limits import TopicLimits
from ehcp.metrics import metrics
from ehcp.schema_registry.codec import codec_for
from ehcp.settings import Settings
from streams.agents import Stage, Step, run_stage
from streams.io import Outbox
from streams.safety import GUARDS, StallWatchdog, install_gap_guard
from streams.stages import case_store
from streams.stages.cases import CaseProcessor
from streams.stages.routing import RoutingProcessor
from streams.timer import AlertTimer

ROUTING_INPUTS = (CONTRIBUTIONS, CHILD_INDEX)
CASE_INPUTS = (
    REFERRALS,
    CASEWORK_EVENTS,
    ADVICE_REQUESTS,
    TASK_STATUS,
    CONTRIBUTIONS_ROUTED,
    CASE_TICKS,
)


def _faust_credentials(settings: Settings) -> Any:
    """Faust credentials from the same helpers every other client uses (TLS always verified)."""
    context = ssl_context(settings)
    sasl = sasl_credentials(settings)
    if sasl is not None:
        return faust.SASLCredentials(
            username=sasl.username,
            password=sasl.password,
            mechanism=sasl.mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _faust_app(settings: Settings) -> faust.App:
    """The Faust app itself: raw bytes in and out, acks=all, at-least-once, web server off."""
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{b}" for b in settings.kafka_bootstrap.split(",")],
        broker_credentials=_faust_credentials(settings),
        web_enabled=False,
        store=settings.store,
        datadir=str(settings.data_dir / "faust"),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        processing_guarantee="at_least_once",
        table_standby_replicas=0,
        # Recovery after a crash (docs/streams.md, "Restarts"): a static member (one id per
        # supervised worker slot) gets its partitions back as soon as it rejoins.
        consumer_group_instance_id=(
            settings.group_instance_id if settings.static_membership else None
        ),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        # Outputs are pipelined (streams/agents.py): batching them costs latency, not throughput.
        producer_linger=settings.producer_linger_ms / 1000,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    codec: AvroCodec | None = None,
    processor: CaseProcessor | None = None,
) -> faust.App:
    """Build the Faust app with its topics, tables, agents and timers."""
    codec = codec or codec_for(settings)
    processor = processor or CaseProcessor.default(settings.pseudonym_key_bytes())
    app = _faust_app(settings)
    topics = {
        spec.name: app.topic(
            spec.name,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            internal=False,
        )
        for spec in EVENT_TOPICS
    }
    # Case values are kept as their JSON bytes (case_store.dump), not parsed objects: the same
    # changelog values, about a quarter of the memory per open case; a case is parsed when it
    # has input.
    cases = app.Table("cases", partitions=settings.partitions, value_type=bytes)
    routing = app.Table("routing", partitions=settings.partitions)

    limits = TopicLimits(settings, f"{settings.app_id}-limits", app.conf.producer_max_request_size)

    async def producer_send(
        topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Any:
        producer = await app.maybe_start_producer()
        return await producer.send(topic, key, value, partition=None, timestamp=None,
                                   headers=headers)

    def outbox() -> Outbox:
        return Outbox(codec, topics, limits.limit, app.conf.producer_max_request_size,
                      producer_send=producer_send)

    def next_due(value: Any) -> Any:
        known, due = case_store.stored_next_due(value)
        return due if known else processor.next_due(case_store.load(value) or {})

    timer = AlertTimer(clock or SystemClock(), cases, next_due, outbox)
    dead_letters = topics[DEAD_LETTER.name]
    routing_stage = Stage(
        "route_contributions",
        "contribution_routing_done",
        routing_step(RoutingProcessor(codec), routing),
        codec,
        outbox,
        dead_letters,
    )
    case_stage = Stage(
        "process_cases",
        "case_event_processed",
        case_step(processor, cases, timer),
        codec,
        outbox,
        dead_letters,
        key_field="case_id",
    )
    _wire(app, settings, routing_stage, case_stage, timer)
    return app


def routing_step(
    router: RoutingProcessor, routing: MutableMapping[str, Any]
) -> Callable[[str, str, dict[str, Any]], Step]:
    """The routing stage over the ``routing`` table (state per child key)."""

    def route(key: str, name: str, record: dict[str, Any]) -> Step:
        result = router.handle(routing.get(key), key, name, record)

        def save() -> None:
            routing[key] = result.state

        return Step(result.outputs, save, {"outcome": result.summary})

    return route


def case_step(
    processor: CaseProcessor, cases: MutableMapping[str, Any], timer: AlertTimer
) -> Callable[[str, str, dict[str, Any]], Step]:
    """The case stage over the ``cases`` table; the timer's index learns each case's next date."""

    def fold(case_id: str, name: str, record: dict[str, Any]) -> Step:
        outcome = processor.on_event(case_store.load(cases.get(case_id)), case_id, name, record)

        def save() -> None:
            if outcome.changed:
                cases[case_id] = case_store.dump(outcome.state)

        def track() -> None:
            timer.index.set(case_id, outcome.next_due)

        log_fields = {
            "record": short_name(name),
            "changed": outcome.changed,
            "outputs": len(outcome.outputs),
        }
        return Step(outcome.outputs, save, log_fields, after_ack=track)

    return fold


def _wire(
    app: faust.App, settings: Settings, routing_stage: Stage, case_stage: Stage, timer: AlertTimer
) -> None:
    """Register the agents, the timers and the rebalance hook (each agent with concurrency 1)."""
    input_topics = {spec.name for spec in (*ROUTING_INPUTS, *CASE_INPUTS)}
    install_gap_guard(input_topics)
    watchdog = StallWatchdog(app, input_topics)
    for guard in GUARDS:  # exported at 0 from the start, so a rule sees the first trip
        metrics().guard_trips.labels(guard)

    def channel(specs: tuple[Any, ...]) -> Any:
        return app.topic(*(s.name for s in specs), key_type=bytes, value_type=bytes)

    @app.agent(channel(ROUTING_INPUTS), concurrency=1)
    async def route_contributions(stream: faust.StreamT[bytes]) -> None:
        await run_stage(stream, routing_stage)

    @app.agent(channel(CASE_INPUTS), concurrency=1)
    async def process_cases(stream: faust.StreamT[bytes]) -> None:
        await run_stage(stream, case_stage)

    @app.timer(settings.alert_tick_s)  # type: ignore[untyped-decorator]
    async def alert_timer() -> None:
        await timer.run_once()

    @app.timer(settings.stall_check_s)  # type: ignore[untyped-decorator]
    async def stall_watchdog() -> None:
        await watchdog.check()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # async receivers are awaited
    async def _mark_index_dirty(sender: Any, **_: Any) -> None:
        timer.index.dirty = True
