"""``GET /fhir/Task`` paging and change polling: ``_lastUpdated``, ``_count`` and a cursor (pure).

A trust polls for what changed since its last poll (``_lastUpdated=gt<instant>``) in pages of
``_count`` Tasks. Pages are ordered by (``meta.lastUpdated``, id) and the ``next`` link carries an
opaque cursor "after (time, id)", not an offset: a Task that changes while a trust is paging
moves behind the cursor and is read again on a later page, never skipped.

``meta.lastUpdated`` of a Task is when its advice request reached Kafka, or its last status
change. Dates follow FHIR search: a day (``2026-03-02``) is the whole UTC day; a time must carry
its offset (``2026-03-02T09:00:00Z``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, TypeVar

from connectors.fhir.errors import StructureError

T = TypeVar("T")
PAGING_PARAMS: Final = frozenset({"_lastUpdated", "_count", "_cursor"})
MAX_COUNT: Final = 1000
_PREFIXES: Final = ("eq", "gt", "ge", "lt", "le")


@dataclass(frozen=True, slots=True)
class TaskPaging:
    """The paging part of a Task search.

    Attributes:
        bounds: (prefix, start, end) per ``_lastUpdated``: the value's range [start, end).
        count: page size, or None for every match on one page (no paging).
        after: the cursor: only Tasks after this (time, id).
    """

    bounds: tuple[tuple[str, datetime, datetime], ...] = ()
    count: int | None = None
    after: tuple[datetime, str] | None = None


def _bad(message: str, location: str) -> StructureError:
    return StructureError(message, location=location, issue_code="value")


def _range(value: str) -> tuple[datetime, datetime]:
    if len(value) > 40:
        raise _bad("_lastUpdated is a date or an instant", "_lastUpdated")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad("_lastUpdated is a date (YYYY-MM-DD) or an instant with its offset",
                   "_lastUpdated") from exc
    if instant.tzinfo is None:
        raise _bad("a _lastUpdated time needs its offset (e.g. Z)", "_lastUpdated")
    return instant, instant + timedelta(microseconds=1)


def encode_cursor(updated: datetime, task_id: str) -> str:
    """The opaque ``_cursor`` naming the last Task of a page."""
    raw = json.dumps([updated.astimezone(UTC).isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[datetime, str]:
    try:
        if len(value) > 400:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        stamp, task_id = json.loads(raw)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None or not isinstance(task_id, str):
            raise ValueError("not a cursor")
        return when, task_id
    except (ValueError, TypeError) as exc:
        raise _bad("_cursor is not one this server gave (follow the next link)",
                   "_cursor") from exc


def parse_task_paging(params: Sequence[tuple[str, str]]) -> TaskPaging:
    """Read ``_lastUpdated`` (repeatable), ``_count`` and ``_cursor``.

    Raises:
        StructureError: (400) a value of the wrong form, or ``_count`` outside 1..1000.
    """
    bounds = []
    count: int | None = None
    after = None
    for name, value in params:
        if name == "_lastUpdated":
            prefix = value[:2] if value[:2] in _PREFIXES else "eq"
            start, end = _range(value[2:] if value[:2] in _PREFIXES else value)
            bounds.append((prefix, start, end))
        elif name == "_count":
            if not value.isdigit() or not 1 <= int(value[:6]) <= MAX_COUNT:
                raise _bad(f"_count is a whole number from 1 to {MAX_COUNT}", "_count")
            count = int(value)
        elif name == "_cursor":
            after = _decode_cursor(value)
    return TaskPaging(tuple(bounds), count, after)


def _within(updated: datetime, prefix: str, start: datetime, end: datetime) -> bool:
    match prefix:
        case "gt":
            return updated >= end
        case "ge":
            return updated >= start
        case "lt":
            return updated < start
        case "le":
            return updated < end
        case _:
            return start <= updated < end


def page(items: Sequence[T], paging: TaskPaging, *, updated: Callable[[T], datetime | None],
         key: Callable[[T], str]) -> tuple[list[T], int, str | None]:
    """Filter by ``_lastUpdated``, order by (time, id) when paging, cut one page.

    Items without a time match no ``_lastUpdated`` bound and sort first.

    Returns:
        (the page, the number of matches before paging, the next page's cursor or None).
    """
    floor = datetime.min.replace(tzinfo=UTC)
    matched = [
        item for item in items
        if all((u := updated(item)) is not None and _within(u, p, s, e)
               for p, s, e in paging.bounds)
    ]
    if paging.count is None and paging.after is None:
        return matched, len(matched), None
    ordered = sorted(matched, key=lambda i: (updated(i) or floor, key(i)))
    total = len(ordered)
    if paging.after is not None:
        ordered = [i for i in ordered if (updated(i) or floor, key(i)) > paging.after]
    size = paging.count or MAX_COUNT
    chosen = ordered[:size]
    cursor = None
    if len(ordered) > size:
        last = chosen[-1]
        cursor = encode_cursor(updated(last) or floor, key(last))
    return chosen, total, cursor
