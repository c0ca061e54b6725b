"""Guards against the Faust offset holes measured in bench/restart_soak.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from cli.supervisor import supervise
from streams.safety import PartitionStalledError, StallWatchdog, install_gap_guard

TOPIC = "ehcp.referrals.v1"


def tp(partition: int = 0, topic: str = TOPIC) -> Any:
    """A topic-partition as Faust passes them."""
    return TP(topic, partition)


class FakeConsumer:
    """Just the consumer state the guards read."""

    def __init__(self, acked: list[int], committed: int | None) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._gap: dict[Any, Any] = defaultdict(lambda: None)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self.key = tp()
        self._acked[self.key] = acked
        self._acked_index[self.key] = set(acked)
        self._committed_offset[self.key] = committed
        self.crashed: list[BaseException] = []
        self.ends: dict[Any, int] = {}

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)

    def assignment(self) -> set[Any]:
        return {self.key}

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        return {t: self.ends[t] for t in tps}


def test_commit_refused_past_a_dropped_offset() -> None:
    """Committed at 52 with 53 acknowledged but 52 never: nothing is committed (Faust would commit 54)."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[53], committed=52)
    assert FaustConsumer._new_offset(consumer, consumer.key) is None


def test_contiguous_acks_still_commit() -> None:
    """Committed at 52 with 52 and 53 acknowledged: the guard lets Faust commit 54."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[52, 53], committed=52)
    assert FaustConsumer._new_offset(consumer, consumer.key) == 54


def test_skipped_offsets_crash_instead_of_counting_as_done() -> None:
    """A gap on an input topic crashes the consumer rather than acknowledging the skipped offsets."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[], committed=10)
    asyncio.run(FaustConsumer._add_gap(consumer, consumer.key, 11, 14))
    assert len(consumer.crashed) == 1
    assert "11..13" in str(consumer.crashed[0])


def _watchdog(consumer: FakeConsumer) -> StallWatchdog:
    app = SimpleNamespace(consumer=consumer, rebalancing=False, in_recovery=False)
    return StallWatchdog(app, {TOPIC}, checks=2)  # type: ignore[arg-type]


def test_watchdog_crashes_a_partition_stuck_short_of_its_end() -> None:
    """Committed offset below the end and not moving for two checks: the worker crashes."""
    consumer = FakeConsumer(acked=[], committed=5)
    consumer.ends[consumer.key] = 6
    dog = _watchdog(consumer)
    for _ in range(3):
        asyncio.run(dog.check())
    assert [type(e) for e in consumer.crashed] == [PartitionStalledError]


def test_watchdog_leaves_a_caught_up_or_moving_partition_alone() -> None:
    """A partition at its end, or one whose commits keep moving, never trips the watchdog."""
    consumer = FakeConsumer(acked=[], committed=6)
    consumer.ends[consumer.key] = 6
    dog = _watchdog(consumer)
    for committed in (6, 6, 6):
        consumer._committed_offset[consumer.key] = committed
        asyncio.run(dog.check())
    consumer.ends[consumer.key] = 100
    for committed in (10, 20, 30, 40):
        consumer._committed_offset[consumer.key] = committed
        asyncio.run(dog.check())
    assert consumer.crashed == []


def test_supervisor_restarts_a_child_that_exits_on_its_own() -> None:
    """A child that keeps exiting is restarted (with back-off) until the restart limit."""
    waits: list[float] = []
    code = supervise(
        [sys.executable, "-c", "raise SystemExit(3)"], sleep=waits.append, max_restarts=3
    )
    assert code == 3
    assert waits == [1.0, 2.0, 4.0]


def test_supervisor_kills_a_child_that_ignores_the_stop_signal(tmp_path: Path) -> None:
    """SIGTERM is forwarded; a child still running after the grace period is killed."""
    ready = tmp_path / "ready"
    child = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    def send_term_when_ready() -> None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_term_when_ready, daemon=True).start()
    started = time.monotonic()
    code = supervise([sys.executable, "-c", child], stop_grace_s=1.0)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 15
