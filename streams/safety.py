"""Guards around two at-least-once holes measured in faust-streaming 0.15.3.

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

Both guards touch Faust internals (``Consumer._add_gap``, ``Consumer._read_offset``); they are
checked against faust-streaming 0.15.3 and should be revisited when Faust is upgraded.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

import faust
import structlog
from faust.transport.consumer import Consumer as FaustConsumer

from ehcp.errors import EhcpError

log = structlog.get_logger(__name__)


class OffsetsSkippedError(EhcpError):
    """Faust skipped offsets of an input partition; the worker must restart and re-read them."""


class PartitionStalledError(EhcpError):
    """An input partition has unread messages and makes no progress; restart and re-read."""


#: Set on Faust's Consumer class once the guards are installed.
_GUARD_MARK: Final = "_ehcp_gap_guard"
_GUARDED: set[str] = set()


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
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if tp.topic in _GUARDED and acked and committed is not None and min(acked) > committed:
            return None
        result: int | None = original_new_offset(self, tp)
        return result

    # Patching Faust's consumer on purpose (see the module docstring); pinned by unit tests.
    FaustConsumer._add_gap = guarded_add_gap  # type: ignore[method-assign]
    FaustConsumer._new_offset = guarded_new_offset  # type: ignore[method-assign]
    setattr(FaustConsumer, _GUARD_MARK, True)


class StallWatchdog:
    """Crashes the worker when an owned input partition's committed offset stops short of its end.

    A worker that is keeping up commits every few seconds, up to the end of each partition. An
    event that was dropped before reaching its agent is never acknowledged, so (with
    :func:`install_gap_guard`) nothing past it is committed: the committed offset stays below the
    end offset and stops moving. After ``checks`` checks in a row like that, the worker crashes
    and its restart re-reads from the committed offset.
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
        for tp in tps:
            end = ends.get(tp)
            committed = consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
            behind = end is not None and end > (committed or 0)
            if not behind or self._last.get(tp, -1) != committed:
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
                await consumer.crash(
                    PartitionStalledError(
                        f"{tp.topic}[{tp.partition}] stopped short of its end at offset {committed}"
                    )
                )
                return
