"""The composition root of the stream workers: ``create_app(settings)`` builds the Faust app.

Agents (each with concurrency 1, so one partition's events are handled in order, Faust #606):

- ``route_contributions``: contributions and routing-index entries, keyed by child key (or case
  id). Routes each contribution into its case, parks early ones, reports the rest unrouted.
- ``process_cases``: referrals, casework events, advice requests, Task status changes, routed
  contributions and timer ticks, keyed by case id. Folds them into the ``cases`` table and
  emits advice requests, routing-index entries, case status and alerts.
- ``alert_timer``: each tick, finds the local cases whose alerts fall due (an index by next due
  date, so its cost grows with what falls due, not with open cases) and sends them a tick.

Processing is at-least-once with idempotent handlers (``exactly_once`` is deliberately not used).
Faust's web server is off: its table views would serve personal data.
"""

from __future__ import annotations

import heapq
import uuid
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import faust
import structlog

from ehcp.case_processor import CaseProcessor
from ehcp.clock import Clock, SystemClock
from ehcp.contract.avro import AvroCodec, default_codec
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
    TopicSpec,
)
from ehcp.errors import CaseworkError, ContractError, ValidationError
from ehcp.routing_stage import RoutingProcessor
from ehcp.settings import Settings
from streams.io import Outbox, dead_letter
from streams.safety import StallWatchdog, install_gap_guard

log = structlog.get_logger(__name__)
LONDON = ZoneInfo("Europe/London")
#: Errors that mean "this message cannot be processed": dead-letter it and carry on.
BAD_DATA = (ContractError, CaseworkError, ValidationError)


class DueIndex:
    """Local cases by the next date their alerts change: a heap with lazy deletion."""

    def __init__(self) -> None:
        self._heap: list[tuple[date, str]] = []
        self._due: dict[str, date] = {}
        self.dirty = True

    def set(self, case_id: str, due: date | None) -> None:
        """Record (or clear) a case's next due date."""
        if due is None:
            self._due.pop(case_id, None)
            return
        if self._due.get(case_id) != due:
            self._due[case_id] = due
            heapq.heappush(self._heap, (due, case_id))

    def pop_due(self, as_of: date) -> list[str]:
        """Case ids due on or before ``as_of`` (removed from the index)."""
        out: list[str] = []
        while self._heap and self._heap[0][0] <= as_of:
            due, case_id = heapq.heappop(self._heap)
            if self._due.get(case_id) == due:
                del self._due[case_id]
                out.append(case_id)
        return out

    def rebuild(self, entries: list[tuple[str, date | None]]) -> None:
        """Replace the index with the given cases (after a rebalance)."""
        self._heap, self._due = [], {}
        for case_id, due in entries:
            self.set(case_id, due)
        self.dirty = False


def _faust_credentials(settings: Settings) -> Any:
    """Faust credentials for the configured security protocol (TLS verification always on)."""
    protocol = settings.kafka_security_protocol.upper()
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        ssl_context = create_ssl_context(cafile=cafile)
    if protocol.startswith("SASL"):
        password = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        )
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    codec: AvroCodec | None = None,
    processor: CaseProcessor | None = None,
) -> faust.App:
    """Build the Faust app with its topics, tables, agents and timer."""
    clock = clock or SystemClock()
    codec = codec or default_codec()
    processor = processor or CaseProcessor.default(settings.pseudonym_key_bytes())
    router = RoutingProcessor(codec)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
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
    )
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
    cases = app.Table("cases", partitions=settings.partitions)
    routing = app.Table("routing", partitions=settings.partitions)
    index = DueIndex()

    def outbox() -> Outbox:
        return Outbox(codec, topics)

    routing_in = app.topic(CONTRIBUTIONS.name, CHILD_INDEX.name, key_type=bytes, value_type=bytes)
    input_topics = {
        CONTRIBUTIONS.name,
        CHILD_INDEX.name,
        REFERRALS.name,
        CASEWORK_EVENTS.name,
        ADVICE_REQUESTS.name,
        TASK_STATUS.name,
        CONTRIBUTIONS_ROUTED.name,
        CASE_TICKS.name,
    }
    install_gap_guard(input_topics)
    watchdog = StallWatchdog(app, input_topics)

    @app.agent(routing_in, concurrency=1)
    async def route_contributions(stream: faust.StreamT[bytes]) -> None:
        # Manual acks: Faust's automatic ack also fires when the loop body is cancelled (worker
        # stopping mid-event), which would commit an event whose outputs were never sent.
        manual = stream.noack()  # type: ignore[attr-defined]  # Stream has it; StreamT lacks it
        async for event in manual.events():
            msg = event.message
            key = (event.key or b"").decode()
            with structlog.contextvars.bound_contextvars(
                topic=msg.topic, partition=msg.partition, offset=msg.offset
            ):
                try:
                    name, record = codec.decode(event.value or b"")
                    result = router.handle(routing.get(key), key, name, record)
                except BAD_DATA as exc:
                    await dead_letter(topics[DEAD_LETTER.name], event, "route_contributions", exc)
                    await manual.ack(event)
                    continue
                # Outputs first, state second: if the worker dies in between, the input is
                # processed again (its offset is not committed) and the outputs are re-sent with
                # the same event ids, instead of being skipped as a duplicate.
                box = outbox()
                for spec_name, out_key, rec, subject in result.outputs:
                    await box.send(_spec(spec_name), out_key, rec, subject)
                await box.flush()
                routing[key] = result.state
                await manual.ack(event)
                log.info("contribution_routing_done", outcome=result.summary)

    cases_in = app.topic(
        REFERRALS.name,
        CASEWORK_EVENTS.name,
        ADVICE_REQUESTS.name,
        TASK_STATUS.name,
        CONTRIBUTIONS_ROUTED.name,
        CASE_TICKS.name,
        key_type=bytes,
        value_type=bytes,
    )

    @app.agent(cases_in, concurrency=1)
    async def process_cases(stream: faust.StreamT[bytes]) -> None:
        manual = stream.noack()  # type: ignore[attr-defined]  # Stream has it; StreamT lacks it  # see route_contributions
        async for event in manual.events():
            msg = event.message
            case_id = (event.key or b"").decode()
            with structlog.contextvars.bound_contextvars(
                topic=msg.topic, partition=msg.partition, offset=msg.offset, case_id=case_id
            ):
                try:
                    name, record = codec.decode(event.value or b"")
                    outcome = processor.on_event(cases.get(case_id), case_id, name, record)
                except BAD_DATA as exc:
                    await dead_letter(topics[DEAD_LETTER.name], event, "process_cases", exc)
                    await manual.ack(event)
                    continue
                box = outbox()  # outputs before state, as in route_contributions
                for spec_name, out_key, rec, subject in outcome.outputs:
                    await box.send(_spec(spec_name), out_key, rec, subject)
                await box.flush()
                if outcome.changed:
                    cases[case_id] = outcome.state
                await manual.ack(event)
                index.set(case_id, outcome.next_due)
                log.info(
                    "case_event_processed",
                    record=name.rsplit(".", 1)[-1],
                    changed=outcome.changed,
                    outputs=len(outcome.outputs),
                )

    @app.timer(settings.alert_tick_s)  # type: ignore[untyped-decorator]
    async def alert_timer() -> None:
        today = clock.now().astimezone(LONDON).date()
        if index.dirty:
            index.rebuild([(k, processor.next_due(v)) for k, v in cases.items()])
        due = index.pop_due(today)
        if not due:
            return
        box = outbox()
        for case_id in due:
            tick = {
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tick|{case_id}|{today}")),
                "case_id": case_id,
                "as_of": today,
            }
            await box.send(CASE_TICKS, case_id, tick, case_id)
        await box.flush()
        log.info("alert_ticks_sent", cases=len(due), as_of=today.isoformat())

    @app.timer(settings.stall_check_s)  # type: ignore[untyped-decorator]
    async def stall_watchdog() -> None:
        await watchdog.check()

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # async receivers are awaited
    async def _mark_index_dirty(sender: Any, **_: Any) -> None:
        index.dirty = True

    return app


_SPECS = {spec.name: spec for spec in EVENT_TOPICS}


def _spec(name: str) -> TopicSpec:
    return _SPECS[name]
