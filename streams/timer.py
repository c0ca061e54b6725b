"""The alert timer: which local cases' alerts fall due today, and a tick for each.

Time reaches a case as an event (``CaseTick`` on ``ehcp.case-ticks.v1``), so a replay gives the
same alerts. :class:`DueIndex` keeps the local cases by the next date their alerts change, so a
timer run costs what falls due, not the number of open cases; it is rebuilt from the ``cases``
table after a rebalance, from the next due date each case stores (no case is evaluated for it).
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from ehcp.casework.calendar import LONDON
from ehcp.clock import Clock
from ehcp.contract.records import Emit
from ehcp.contract.topics import CASE_TICKS
from streams.io import Outbox

log = structlog.get_logger(__name__)


class DueIndex:
    """Local cases by the next date their alerts change: a heap with lazy deletion."""

    def __init__(self) -> None:
        self._heap: list[tuple[date, str]] = []
        self._due: dict[str, date] = {}
        self.dirty = True

    def __len__(self) -> int:
        return len(self._due)

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

    def rebuild(self, entries: Iterable[tuple[str, date | None]]) -> None:
        """Replace the index with the given cases (after a rebalance): O(cases), one heapify."""
        self._due = {case_id: due for case_id, due in entries if due is not None}
        self._heap = [(due, case_id) for case_id, due in self._due.items()]
        heapq.heapify(self._heap)
        self.dirty = False


def tick(case_id: str, today: date) -> Emit:
    """The tick that moves a case's evaluation to ``today`` (one id per case and day)."""
    record = {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tick|{case_id}|{today}")),
        "case_id": case_id,
        "as_of": today,
    }
    return Emit(CASE_TICKS, case_id, record, case_id)


class AlertTimer:
    """Sends a tick to each local case whose alerts change today (England's date)."""

    def __init__(
        self,
        clock: Clock,
        cases: Mapping[str, Any],
        next_due: Callable[[Mapping[str, Any]], date | None],
        outbox: Callable[[], Outbox],
    ) -> None:
        self.index = DueIndex()
        self._clock = clock
        self._cases = cases
        self._next_due = next_due
        self._outbox = outbox
        self._zone = ZoneInfo(LONDON)

    async def run_once(self) -> None:
        """One timer run: rebuild the index if a rebalance made it stale, then send the ticks."""
        today = self._clock.now().astimezone(self._zone).date()
        if self.index.dirty:
            started = time.monotonic()
            self.index.rebuild((k, self._next_due(v)) for k, v in self._cases.items())
            log.info(
                "due_index_rebuilt",
                cases=len(self.index),
                seconds=round(time.monotonic() - started, 3),
            )
        due = self.index.pop_due(today)
        if not due:
            return
        box = self._outbox()
        for case_id in due:
            await box.send(*tick(case_id, today))
        await box.flush()
        log.info("alert_ticks_sent", cases=len(due), as_of=today.isoformat())
