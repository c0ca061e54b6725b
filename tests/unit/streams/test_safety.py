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
from streams.safety import (
    PartitionStalledError,
    StallWatchdog,
    held_partitions,
    install_gap_guard,
    uncommitted_floor,
)

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
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self.in_kafka: dict[Any, int | None] = {self.key: committed}
        self.starts: dict[Any, int] = {}
        self.seeks: list[dict[Any, int]] = []

    async def crash(self, exc: BaseException) -> None:
        self.crashed.append(exc)

    def assignment(self) -> set[Any]:
        return {self.key}

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        return {t: self.ends[t] for t in tps}

    async def seek_to_committed(self) -> dict[Any, int | None]:
        return dict(self.in_kafka)

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {t: self.starts.get(t, 0) for t in tps}

    async def seek_wait(self, positions: dict[Any, int]) -> None:
        self.seeks.append(dict(positions))


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


def test_commit_refused_past_a_dropped_first_offset_without_a_committed_offset() -> None:
    """No committed offset, floor 0, offsets 1-7 acknowledged but 0 never: nothing is committed (#13.20)."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[1, 2, 3, 4, 5, 6, 7], committed=None)
    uncommitted_floor(consumer)[consumer.key] = 0
    assert FaustConsumer._new_offset(consumer, consumer.key) is None
    consumer._acked[consumer.key] = [0, 1, 2, 3, 4, 5, 6, 7]
    assert FaustConsumer._new_offset(consumer, consumer.key) == 8


def test_seek_puts_a_partition_without_a_committed_offset_back_at_its_log_start() -> None:
    """Faust's seek to committed offsets leaves such a partition where the fetcher got to; the guard rewinds it to the start."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[], committed=None)
    done = tp(1)
    consumer.in_kafka[done] = 12
    consumer.starts[consumer.key] = 3
    consumer.assignment = lambda: {consumer.key, done}  # type: ignore[method-assign]
    asyncio.run(FaustConsumer.perform_seek(consumer))
    assert consumer.seeks == [{consumer.key: 3}]
    assert uncommitted_floor(consumer) == {consumer.key: 3}
    assert consumer._committed_offset[done] == 12


def test_seek_leaves_partitions_with_committed_offsets_and_other_topics_alone() -> None:
    """Every input partition has a committed offset and a changelog has none: no extra seek."""
    install_gap_guard({TOPIC})
    consumer = FakeConsumer(acked=[], committed=7)
    changelog = tp(0, "ehcp-streams-cases-changelog")
    consumer.in_kafka[changelog] = None
    consumer.assignment = lambda: {consumer.key, changelog}  # type: ignore[method-assign]
    asyncio.run(FaustConsumer.perform_seek(consumer))
    assert consumer.seeks == []
    assert uncommitted_floor(consumer) == {}


class FlowConsumer:
    """Just the consumer state Faust's resume_partitions and resume_flow touch."""

    def __init__(self, assigned: set[Any]) -> None:
        self.app = SimpleNamespace(consumer_generation_id=7)
        self._active_partitions: set[Any] = set()
        self._paused_partitions: set[Any] = set(assigned)
        self._assigned = assigned
        self.flow_active = False
        self.can_resume_flow = threading.Event()
        self.suspend_flow = threading.Event()

    def _get_active_partitions(self) -> set[Any]:
        return self._active_partitions

    def assignment(self) -> set[Any]:
        return self._assigned


def test_stream_partitions_stay_paused_until_the_flow_resumes() -> None:
    """Recovery resumes the stream partitions before its seek and queue clear: they are only fetched from once the flow resumes, after the clear."""
    install_gap_guard({TOPIC})
    changelog = tp(0, "ehcp-streams-cases-changelog")
    consumer = FlowConsumer({tp(0), tp(1), changelog})
    FaustConsumer.resume_partitions(consumer, {tp(0), tp(1), changelog})
    assert consumer._active_partitions == {changelog}
    FaustConsumer.resume_flow(consumer)
    assert consumer._active_partitions == {tp(0), tp(1), changelog}
    assert consumer._paused_partitions == set()
    assert held_partitions(consumer)[1] == set()


def test_partitions_held_in_an_older_generation_are_not_resumed() -> None:
    """A rebalance between the resume and the flow: the old generation's partitions are not fetched (the new recovery resumes its own)."""
    install_gap_guard({TOPIC})
    consumer = FlowConsumer({tp(0)})
    FaustConsumer.resume_partitions(consumer, {tp(0)})
    consumer.app.consumer_generation_id = 8
    FaustConsumer.resume_flow(consumer)
    assert consumer._active_partitions == set()


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


def test_watchdog_leaves_an_uncommitted_partition_whose_log_start_is_its_end_alone() -> None:
    """No committed offset, and retention emptied the partition (start = end = 40): nothing to read, no crash."""
    consumer = FakeConsumer(acked=[], committed=None)
    consumer.ends[consumer.key] = 40
    uncommitted_floor(consumer)[consumer.key] = 40
    dog = _watchdog(consumer)
    for _ in range(3):
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


def test_watchdog_leaves_a_partition_waiting_behind_a_backlog_alone() -> None:
    """Nothing acknowledged past its head while another partition commits: waiting, not stuck."""
    consumer = FakeConsumer(acked=[], committed=0)
    busy = tp(1)
    consumer.assignment = lambda: {consumer.key, busy}  # type: ignore[method-assign]
    consumer.ends.update({consumer.key: 860, busy: 5000})
    dog = _watchdog(consumer)
    for committed in (100, 200, 300, 400):
        consumer._committed_offset[busy] = committed
        asyncio.run(dog.check())
    assert consumer.crashed == []
    consumer._acked[consumer.key] = [3, 4]  # offsets after the head acknowledged: stuck
    for committed in (500, 600):
        consumer._committed_offset[busy] = committed
        asyncio.run(dog.check())
    assert [type(e) for e in consumer.crashed] == [PartitionStalledError]


def test_a_crashed_worker_whose_stop_hangs_exits_for_its_supervisor(tmp_path: Path) -> None:
    """A guard's crash arms an exit: a process whose stop never finishes leaves with status 70."""
    import subprocess

    from streams.safety import EXIT_STOP_HUNG

    script = tmp_path / "hung.py"
    script.write_text(
        "import asyncio, time\n"
        "from types import SimpleNamespace\n"
        "from faust.types import TP\n"
        "from streams import safety\n"
        "class Consumer:\n"
        "    _committed_offset = {TP('t', 0): 5}\n"
        "    _acked = {}\n"
        "    def assignment(self): return {TP('t', 0)}\n"
        "    async def highwaters(self, *tps): return {tp: 9 for tp in tps}\n"
        "    async def crash(self, exc): pass  # Faust's stop then hangs: nothing stops us\n"
        "safety.exit_when_a_crash_hangs(0.5)\n"
        "app = SimpleNamespace(consumer=Consumer(), rebalancing=False, in_recovery=False)\n"
        "dog = safety.StallWatchdog(app, {'t'}, checks=2)\n"
        "for _ in range(3): asyncio.run(dog.check())\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == EXIT_STOP_HUNG, done.stderr.decode()[-2000:]
    assert time.monotonic() - started < 30
