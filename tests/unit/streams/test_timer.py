"""The alert timer's index: rebuilt from the due dates cases store, without evaluating any case."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ehcp.clock import FixedClock
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CASE_TICKS
from streams.io import Outbox
from streams.stages.cases import CaseProcessor
from streams.timer import AlertTimer, DueIndex

CODEC = default_codec()


def test_rebuild_keeps_cases_with_a_due_date_and_pops_them_in_date_order() -> None:
    index = DueIndex()
    index.rebuild([("C-3", date(2026, 11, 3)), ("C-1", date(2026, 11, 1)), ("C-0", None),
                   ("C-2", date(2026, 11, 2))])
    assert len(index) == 3
    assert not index.dirty
    assert index.pop_due(date(2026, 11, 2)) == ["C-1", "C-2"]
    index.set("C-3", date(2026, 11, 9))  # moved on: the stale heap entry is skipped
    assert index.pop_due(date(2026, 11, 5)) == []
    assert index.pop_due(date(2026, 11, 9)) == ["C-3"]


class Topic:
    """Records the keys sent; Kafka acknowledges at once."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []

    async def send(self, *, key: bytes, value: bytes, headers: Any) -> Any:
        self.keys.append(key)
        return asyncio.ensure_future(asyncio.sleep(0))


def test_the_first_run_after_a_rebalance_evaluates_no_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases stored with ``next_due``: the rebuild reads it; only cases due today get a tick."""
    processor = CaseProcessor.default(b"k" * 32)

    def no_evaluation(*_: Any) -> None:
        raise AssertionError("a case was evaluated to rebuild the index")

    monkeypatch.setattr(processor, "assess", no_evaluation)
    cases = {f"C-{n}": {"as_of": "2026-10-01", "next_due": f"2026-11-{n + 1:02d}"}
             for n in range(5)}
    cases["C-none"] = {"as_of": "2026-10-01", "next_due": None}
    topic = Topic()
    timer = AlertTimer(FixedClock(datetime(2026, 11, 3, 12, tzinfo=UTC)), cases,
                       processor.next_due, lambda: Outbox(CODEC, {CASE_TICKS.name: topic}))
    asyncio.run(timer.run_once())
    assert sorted(topic.keys) == [b"C-0", b"C-1", b"C-2"]
    assert len(timer.index) == 2
