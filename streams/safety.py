"""Guards around the at-least-once holes measured in faust-streaming 0.15.3.

1. **Skipped offsets counted as done.** When Faust's fetcher hands over a message whose offset is
   more than one past the last one read, Faust records the offsets in between as a "gap" and
   treats them as acknowledged (meant for compacted or transactional topics). Around worker
   restarts and rebalances the fetcher can skip real messages this way, and their offsets are
   then committed: the messages are lost. Measured here: 600 events through a one-agent app with
   three worker restarts lost 13 to 31 events per run, exactly the gap ranges Faust logged.
   Our input topics are never compacted or transactional, so a gap on them is always a skip:
   :func:`install_gap_guard` makes the consumer crash instead of acknowledging it. Nothing past
   the gap is committed, and the supervising ``ehcp worker`` restarts the process, which
   re-reads from the last committed offset (handlers are idempotent).
2. **A dropped event committed past.** Around a rebalance Faust can mark a fetched event as read
   without handing it to the agent; when the next event is acknowledged, Faust's check for a hole
   at the head of the acknowledged offsets is off by one and commits past the dropped event
   (measured: 1 to 3 of 400 referrals lost per run with three worker restarts, each one the
   offset right after the last one the old worker processed). The guard refuses such commits,
   and :class:`StallWatchdog` crashes a worker whose committed offset stays short of a
   partition's end, so the restart re-reads the dropped event.

3. **A partition with no committed offset is not rewound.** Faust drops records it fetched while a
   rebalance or table recovery was under way and relies on ``perform_seek`` ("Seek stream
   partitions to committed offsets") to read them again. aiokafka's ``seek_to_committed`` only
   seeks partitions whose committed offset is above 0, so a partition with none (a fresh group,
   offsets expired while the worker was down, a partition added) stays past the dropped records,
   and guard 2 did not apply because there was no committed offset to compare with. Measured:
   with a non-empty ``cases`` changelog and a fresh group, ``ehcp.referrals.v1[2]@0`` was never
   processed while the offsets after it were, and the group committed past it.
   :func:`install_gap_guard` therefore also wraps ``perform_seek``: every input partition without
   a committed offset goes back to its log start (what ``auto.offset.reset=earliest`` promises),
   and that start becomes the floor the head-offset guard and the watchdog compare with.
4. **Records fetched between the seek and the resume are cleared.** After recovery Faust resumes
   the stream partitions, then seeks them, then resumes its flow control, which *clears* the
   agents' queues (to drop messages of partitions another worker now owns). Whatever was fetched
   in between (from before or after the seek) is cleared although its offsets were read: measured
   with the rewind of guard 3 alone, the first two offsets of every partition were still lost,
   and a partition with a committed offset lost the record right after it. The guard holds the
   stream partitions of our input topics paused until Faust resumes the consumer's flow, which
   it does right after clearing the queues, so nothing is fetched into a queue about to be
   cleared.

The guards touch Faust internals (``Consumer._add_gap``, ``Consumer._new_offset``,
``Consumer.perform_seek``, ``Consumer.resume_partitions``, ``Consumer.resume_flow``,
``Consumer._committed_offset``); they are checked against faust-streaming 0.15.3 and should be
revisited when Faust is upgraded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from typing import Any, Final

import faust
import structlog
from faust.transport.consumer import Consumer as FaustConsumer

from ehcp.errors import EhcpError
from ehcp.metrics import metrics

log = structlog.get_logger(__name__)


class OffsetsSkippedError(EhcpError):
    """Faust skipped offsets of an input partition; the worker must restart and re-read them."""


class PartitionStalledError(EhcpError):
    """An input partition has unread messages and makes no progress; restart and re-read."""


#: Set on Faust's Consumer class once the guards are installed.
_GUARD_MARK: Final = "_ehcp_gap_guard"
#: Per consumer: the log start offset of each input partition that had no committed offset when
#: it was last positioned (the first offset that must be acknowledged before anything commits).
_FLOOR_ATTR: Final = "_ehcp_uncommitted_floor"
#: Per consumer: (generation id, stream partitions held paused until the flow resumes).
_HELD_ATTR: Final = "_ehcp_held_partitions"
_GUARDED: set[str] = set()
#: The guards' names in ``ehcp_worker_guard_trips_total``.
GUARDS: Final = ("offsets_skipped", "partition_stalled")
#: Seconds a worker crashed by a guard has to stop before the process exits anyway (None: never).
_EXIT_AFTER_CRASH_S: list[float | None] = [None]
#: Exit status of a worker that did not stop in time after a guard crashed it.
EXIT_STOP_HUNG: Final = 70


def _exit_if_stop_hangs() -> None:
    """After a guard's crash, exit the process if Faust has not stopped it in time.

    Faust's stop waits for every message it fetched to be acknowledged ("Wait for streams...");
    with a backlog queued when the guard crashed the consumer, that never happens and the worker
    hung there for good (seen with `bench/stream_throughput.py`), so its supervisor never saw it
    exit and never restarted it. A daemon thread, so a blocked event loop cannot hold it up.
    """
    delay = _EXIT_AFTER_CRASH_S[0]
    if delay is None:
        return

    def leave() -> None:
        log.error("worker_stop_hung", seconds=delay)
        os._exit(EXIT_STOP_HUNG)

    timer = threading.Timer(delay, leave)
    timer.daemon = True
    timer.start()


def held_partitions(consumer: Any) -> tuple[int, set[Any]]:
    """The stream partitions guard 4 holds paused on ``consumer``, with their generation id."""
    held: tuple[int, set[Any]] = getattr(consumer, _HELD_ATTR, (-1, set()))
    return held


def uncommitted_floor(consumer: Any) -> dict[Any, int]:
    """The floors recorded on ``consumer`` by the positioning guard (created on first use)."""
    floors: dict[Any, int] | None = getattr(consumer, _FLOOR_ATTR, None)
    if floors is None:
        floors = {}
        setattr(consumer, _FLOOR_ATTR, floors)
    return floors


def first_unread(consumer: Any, tp: Any) -> int | None:
    """The offset to acknowledge next on ``tp``: its committed offset, else its floor.

    Faust keeps a committed offset of 0 as ``None``; the floor (set when the partition was
    positioned at its log start) stands in for it.
    """
    committed: int | None = consumer._committed_offset.get(tp)
    if committed is not None:
        return committed
    return uncommitted_floor(consumer).get(tp)


def exit_when_a_crash_hangs(seconds: float) -> None:
    """When a guard crashes the worker, exit the process ``seconds`` later if it is still up.

    Called by ``ehcp worker`` for its Faust process (its supervisor restarts it); never in a
    process that only builds the app (tests, the CLI).
    """
    _EXIT_AFTER_CRASH_S[0] = seconds


def install_gap_guard(topics: Collection[str]) -> None:
    """Make Faust's consumer crash, not acknowledge, when it skips offsets of ``topics``."""
    _GUARDED.update(topics)
    if getattr(FaustConsumer, _GUARD_MARK, False):
        return
    original = FaustConsumer._add_gap

    async def guarded_add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in _GUARDED:
            await original(self, tp, offset_from, offset_to)
            return
        log.error(
            "kafka_offsets_skipped",
            topic=tp.topic,
            partition=tp.partition,
            first_skipped=offset_from,
            last_skipped=offset_to - 1,
        )
        metrics().guard_trips.labels("offsets_skipped").inc()
        _exit_if_stop_hangs()
        await self.crash(
            OffsetsSkippedError(
                f"{tp.topic}[{tp.partition}] offsets {offset_from}..{offset_to - 1} were skipped"
            )
        )

    original_new_offset = FaustConsumer._new_offset

    def guarded_new_offset(self: Any, tp: Any) -> int | None:
        # Faust's own head-of-queue check is off by one (it compares the first acknowledged
        # offset with the committed offset as if that were the last processed one, but it is
        # the next to read), so an offset dropped right after a commit was committed past.
        # With no committed offset it does not check at all: the floor stands in (guard 3).
        acked = self._acked[tp]
        expected = first_unread(self, tp) if tp.topic in _GUARDED else None
        if acked and expected is not None and min(acked) > expected:
            return None
        result: int | None = original_new_offset(self, tp)
        return result

    original_perform_seek = FaustConsumer.perform_seek

    async def guarded_perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        floors = uncommitted_floor(self)
        floors.clear()
        unset = sorted(
            (tp for tp in self.assignment()
             if tp.topic in _GUARDED and not self._committed_offset.get(tp)),
            key=lambda tp: (tp.topic, tp.partition),
        )
        if not unset:
            return
        starts = await self.earliest_offsets(*unset)
        positions = {tp: int(starts.get(tp) or 0) for tp in unset}
        await self.seek_wait(positions)
        floors.update(positions)
        log.info(
            "kafka_uncommitted_partitions_rewound",
            partitions=[f"{tp.topic}[{tp.partition}]@{positions[tp]}" for tp in unset],
        )

    original_resume_partitions = FaustConsumer.resume_partitions
    original_resume_flow = FaustConsumer.resume_flow

    def guarded_resume_partitions(self: Any, tps: Any) -> None:
        tpset = set(tps)
        hold = {tp for tp in tpset if tp.topic in _GUARDED}
        if hold:
            generation, held = held_partitions(self)
            current = self.app.consumer_generation_id
            setattr(self, _HELD_ATTR, (current, (held if generation == current else set()) | hold))
        original_resume_partitions(self, tpset - hold)

    def guarded_resume_flow(self: Any) -> None:
        original_resume_flow(self)
        generation, held = held_partitions(self)
        if not held:
            return
        setattr(self, _HELD_ATTR, (-1, set()))
        if generation == self.app.consumer_generation_id:
            original_resume_partitions(self, held & set(self.assignment()))

    # Patching Faust's consumer on purpose (see the module docstring); pinned by unit tests.
    FaustConsumer._add_gap = guarded_add_gap  # type: ignore[method-assign]
    FaustConsumer._new_offset = guarded_new_offset  # type: ignore[method-assign]
    FaustConsumer.perform_seek = guarded_perform_seek  # type: ignore[method-assign]
    FaustConsumer.resume_partitions = guarded_resume_partitions  # type: ignore[method-assign]
    FaustConsumer.resume_flow = guarded_resume_flow  # type: ignore[method-assign]
    setattr(FaustConsumer, _GUARD_MARK, True)


class StallWatchdog:
    """Crashes the worker when an owned input partition's committed offset stops short of its end.

    A worker that is keeping up commits every few seconds, up to the end of each partition. An
    event that was dropped before reaching its agent is never acknowledged, so (with
    :func:`install_gap_guard`) nothing past it is committed: the committed offset stays below the
    end offset and stops moving. After ``checks`` checks in a row like that, the worker crashes
    and its restart re-reads from the committed offset.

    A partition counts as stuck only if offsets after its head were acknowledged, or no input
    partition committed anything since the last check: under a backlog, a partition can wait
    longer than two checks for its first record to reach the agent (measured: the worker's own
    advice requests waited behind 3,000 queued referrals and casework events) while the others
    commit, and crashing then would only restart the backlog.
    """

    def __init__(self, app: faust.App, topics: Collection[str], checks: int = 2) -> None:
        self._app = app
        self._topics = set(topics)
        self._checks = checks
        self._last: dict[Any, int | None] = {}
        self._strikes: dict[Any, int] = {}

    async def check(self) -> None:
        """One check; call it from a timer."""
        consumer = self._app.consumer
        if self._app.rebalancing or getattr(self._app, "in_recovery", False):
            self._strikes.clear()
            return
        tps = [tp for tp in consumer.assignment() if tp.topic in self._topics]
        if not tps:
            return
        ends = await consumer.highwaters(*tps)
        heads = {tp: first_unread(consumer, tp) for tp in tps}
        # Some partition committed since the last check: the worker is busy, and a partition
        # with nothing acknowledged past its head may just be waiting its turn behind a backlog
        # on the others (starved, not stuck). One with later offsets acknowledged is stuck.
        moving = any(self._last.get(tp, -1) != heads[tp] for tp in tps)
        lag = metrics().consumer_lag
        for tp in tps:
            end = ends.get(tp)
            committed = heads[tp]
            if end is not None:
                behind_by = max(0, end - (committed or 0))
                lag.labels("worker", tp.topic, str(tp.partition)).set(behind_by)
            behind = end is not None and end > (committed or 0)
            waiting = moving and not getattr(consumer, "_acked", {}).get(tp)
            if not behind or self._last.get(tp, -1) != committed or waiting:
                self._strikes[tp] = 0
            else:
                self._strikes[tp] = self._strikes.get(tp, 0) + 1
            self._last[tp] = committed
            if self._strikes[tp] >= self._checks:
                log.error(
                    "kafka_partition_stalled",
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=committed,
                    end_offset=end,
                )
                metrics().guard_trips.labels("partition_stalled").inc()
                _exit_if_stop_hangs()
                await consumer.crash(
                    PartitionStalledError(
                        f"{tp.topic}[{tp.partition}] stopped short of its end at offset {committed}"
                    )
                )
                return
