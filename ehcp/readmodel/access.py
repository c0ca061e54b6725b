"""What a local authority may see: the one service layer over the read model.

The LA pull API (``/api/la``), the FHIR DocumentReference search for LAs and the workspace read
the read model only through :class:`LaView`. A view is bound to one LA code: every query filters
on the ``la_code`` column (the LA whose referral opened the case, docs/readmodel.md), so a case,
alert, advice or document of another LA is "not found" (``None``), never returned.

Lists page by an opaque cursor, "changed after change number N": the single projector gives
every change the next number of one sequence and commits in order, so a client that resumes
from its cursor sees every later change, and a case changed while the client pages comes again
later (with a higher number) instead of being skipped.

Errors: :class:`~ehcp.errors.ValidationError` for a bad cursor, limit, date or id (the caller's
fault, a 4xx); :class:`~ehcp.errors.ReadModelError` when the database cannot answer (a 503).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from ehcp.clock import Clock
from ehcp.errors import ReadModelError, ValidationError
from ehcp.readmodel import tables as t
from ehcp.readmodel.mapping import LIMITS

#: Most items one page holds; a larger ``limit`` is cut to this (never an error).
MAX_PAGE: Final = 200
#: Items a page holds when the caller names no limit.
DEFAULT_PAGE: Final = 50
#: Days are counted on the LA's calendar (statutory limits are calendar days in England).
LONDON: Final = ZoneInfo("Europe/London")
#: The regulation behind each statutory date a ``CaseStatus`` carries.
FINAL_PLAN_REGULATION: Final = "reg 13(2)"
ADVICE_DUE_REGULATION: Final = "reg 8(1)"

_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_CURSOR_PREFIX: Final = "c1."

T = TypeVar("T")


# --- what a reader gets ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Agency:
    """An agency identifier: naming system and code (an ODS code, an LA code, a school URN)."""

    system: str
    value: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list.

    Attributes:
        items: the page, oldest change first.
        cursor: where the next page starts; store it and pass it back (also when ``items`` is
            empty: it is then the cursor given, and a later call returns what has changed since).
        has_more: more items had already changed when this page was read.
    """

    items: tuple[T, ...]
    cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case as listed: its stage, its main dates and when it last changed."""

    case_id: str
    stage: str
    received_on: date | None
    final_plan_due_on: date | None
    as_of: date
    open_alerts: int
    updated_at: datetime
    decided_to_assess_on: date | None = None
    final_plan_issued_on: date | None = None
    exceptions_apply: bool | None = None  # SEN2 flag; None: status written before v3


@dataclass(frozen=True, slots=True)
class StatutoryDate:
    """A time limit of the case with the regulation behind it.

    Attributes:
        name: the casework engine's name of the limit (``decision_to_assess_due``,
            ``final_plan_due``, ``annual_review_due``, ...), or ``advice_due`` (then
            ``advice_type`` says which advice).
        due_on: the last day on which the limit is kept.
        regulation: e.g. ``reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)``.
        advice_type: for ``advice_due``, the advice it is about.
        status: PENDING, MET, MISSED or NOT_APPLICABLE (None for ``advice_due``, whose state is
            its advice item's, and for a status written before v3).
        completed_on: the day the step was done, if it was.
        excused: an exception applies, so missing it is not a breach.
        exception_ids: the exceptions that excuse it.
        rule_text: the rule in plain words.
    """

    name: str
    due_on: date
    regulation: str
    advice_type: str | None = None
    status: str | None = None
    completed_on: date | None = None
    excused: bool = False
    exception_ids: tuple[str, ...] = ()
    rule_text: str = ""


@dataclass(frozen=True, slots=True)
class AdviceItem:
    """One piece of advice the assessment needs or has asked for, as the case stands."""

    advice_type: str
    regulation: str
    status: str
    request_id: str | None
    agency: Agency | None
    due_on: date | None
    decline_reason: str | None
    contribution_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DocumentClaim:
    """A stored document: its SHA-256 (the document's id), size and media type."""

    sha256: str
    size_bytes: int
    content_type: str


@dataclass(frozen=True, slots=True)
class AdviceReceived:
    """Advice that arrived on the case, with the claim of its document if it has one."""

    event_id: str
    case_id: str
    contribution_id: str
    request_id: str | None
    advice_type: str
    agency: Agency
    submitted_at: datetime
    channel: str
    document: DocumentClaim | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert's latest state (its latest event decides open or resolved).

    Attributes:
        days_overdue: for an open alert with a due date, the days between ``due_on`` and today
            (London) when read; for a resolved one, as its last event said.
        open: the latest event of the alert raised it (not resolved).
    """

    event_id: str
    alert_id: str
    case_id: str | None
    kind: str
    status: str
    severity: str
    advice_type: str | None
    agency: Agency | None
    due_on: date | None
    days_overdue: int
    regulation: str
    message: str
    as_of: date
    open: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """Everything the LA may read of one case."""

    summary: CaseSummary
    statutory_dates: tuple[StatutoryDate, ...]
    advice_items: tuple[AdviceItem, ...]
    advice_received: tuple[AdviceReceived, ...]
    open_alerts: tuple[AlertView, ...]


# --- cursors and limits ----------------------------------------------------------------------


def encode_cursor(seq: int) -> str:
    """The opaque cursor for "changed after change number ``seq``"."""
    raw = f"{_CURSOR_PREFIX}{seq}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> int:
    """The change number a cursor stands for (0 for none).

    Raises:
        ValidationError: (location ``cursor``) not a cursor this service gave out.
    """
    if cursor is None or cursor == "":
        return 0
    problem = ValidationError("the cursor is not one this API gave out; start again without one",
                              location="cursor")
    if len(cursor) > 64:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise problem from exc
    number = raw.removeprefix(_CURSOR_PREFIX)
    if number == raw or not number.isdigit() or len(number) > 18:
        raise problem
    return int(number)


def page_limit(limit: int | None) -> int:
    """The page size for a requested ``limit``: the default if none, at most :data:`MAX_PAGE`.

    Raises:
        ValidationError: (location ``limit``) a limit below 1.
    """
    if limit is None:
        return DEFAULT_PAGE
    if limit < 1:
        raise ValidationError("limit must be at least 1", location="limit")
    return min(limit, MAX_PAGE)


def _aware(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite returns naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _since(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationError("a time needs its offset from UTC (e.g. 2026-03-01T09:00:00Z)",
                              location="updated_since")
    return value.astimezone(UTC)


def is_sha256(value: str) -> bool:
    """True for 64 lower-case hex digits (how documents are named)."""
    return _SHA256.fullmatch(value) is not None


# --- the view --------------------------------------------------------------------------------


class LaView:
    """The read model as one LA may see it.

    Args:
        engine: the read model's database.
        la_code: the LA (its three-digit code); every answer is limited to its cases.
        clock: tells today's date for days overdue.
    """

    def __init__(self, engine: Engine, la_code: str, clock: Clock) -> None:
        self._engine = engine
        self._la = la_code
        self._clock = clock

    @property
    def la_code(self) -> str:
        """The LA this view is for."""
        return self._la

    def today(self) -> date:
        """Today's date in England."""
        return self._clock.now().astimezone(LONDON).date()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise ReadModelError(f"the read model cannot answer: {type(exc).__name__}") from exc

    # cases

    def cases_changed(self, *, cursor: str | None = None, updated_since: datetime | None = None,
                      limit: int | None = None) -> Page[CaseSummary]:
        """The LA's cases changed after ``cursor`` (and at or after ``updated_since``), oldest
        change first.

        Raises:
            ValidationError: a bad cursor, a limit below 1, a time without its UTC offset.
        """
        after, size, since = decode_cursor(cursor), page_limit(limit), _since(updated_since)
        c = t.cases.c
        query = select(t.cases).where(c.la_code == self._la, c.change_seq > after)
        if since is not None:
            query = query.where(c.updated_at >= since)
        return self._page(query.order_by(c.change_seq), size, after, "change_seq", _summary)

    def case(self, case_id: str) -> CaseDetail | None:
        """One of the LA's cases, or None (unknown, or another LA's)."""
        if len(case_id) > LIMITS["case_id"]:
            return None
        with self._read() as conn:
            row = conn.execute(select(t.cases).where(
                t.cases.c.case_id == case_id, t.cases.c.la_code == self._la)).mappings().first()
            if row is None:
                return None
            ca = t.case_advice.c
            items = tuple(_advice_item(r) for r in conn.execute(
                select(t.case_advice).where(ca.case_id == case_id, ca.la_code == self._la)
                .order_by(ca.advice_type)).mappings())
            received = tuple(_received(r) for r in conn.execute(
                select(t.advice).where(t.advice.c.case_id == case_id,
                                       t.advice.c.la_code == self._la)
                .order_by(t.advice.c.seq)).mappings())
            alerts = tuple(self._alert(r) for r in conn.execute(
                self._latest_alerts().where(t.alerts.c.case_id == case_id,
                                            t.alerts.c.status == "RAISED")
                .order_by(t.alerts.c.seq)).mappings())
            cd = t.case_dates.c
            limits = tuple(_limit(r) for r in conn.execute(
                select(t.case_dates).where(cd.case_id == case_id, cd.la_code == self._la)
                .order_by(cd.position)).mappings()) if row["has_statutory_dates"] else None
        summary = _summary(row)
        return CaseDetail(summary, _statutory_dates(summary, items, limits), items, received,
                          alerts)

    # alerts

    def alerts(self, *, cursor: str | None = None, open_only: bool = False,
               limit: int | None = None) -> Page[AlertView]:
        """The LA's alerts whose latest event came after ``cursor``, one per alert, oldest first.

        Each alert is shown by its latest event (an event re-sent with the same id is stored
        once); ``open_only`` leaves out alerts whose latest event resolved them.

        Raises:
            ValidationError: a bad cursor or a limit below 1.
        """
        after, size = decode_cursor(cursor), page_limit(limit)
        query = self._latest_alerts().where(t.alerts.c.seq > after)
        if open_only:
            query = query.where(t.alerts.c.status == "RAISED")
        return self._page(query.order_by(t.alerts.c.seq), size, after, "seq", self._alert)

    def _latest_alerts(self) -> Select[Any]:
        """Each of the LA's alerts by its latest event (highest change number per alert id)."""
        a = t.alerts.c
        latest = (select(func.max(a.seq).label("seq")).where(a.la_code == self._la)
                  .group_by(a.alert_id).subquery())
        return select(t.alerts).join(latest, a.seq == latest.c.seq).where(a.la_code == self._la)

    def _alert(self, row: Any) -> AlertView:
        is_open = row["status"] == "RAISED"
        days = int(row["days_overdue"])
        if is_open and row["due_on"] is not None:
            days = max(0, (self.today() - row["due_on"]).days)
        return AlertView(
            event_id=row["event_id"], alert_id=row["alert_id"], case_id=row["case_id"],
            kind=row["kind"], status=row["status"], severity=row["severity"],
            advice_type=row["advice_type"],
            agency=_agency(row["agency_system"], row["agency_value"]),
            due_on=row["due_on"], days_overdue=days, regulation=row["regulation"],
            message=row["message"], as_of=row["as_of"], open=is_open,
            updated_at=_aware(row["updated_at"]),
        )

    # documents

    def document(self, sha256: str) -> DocumentClaim | None:
        """The claim of a document, if advice on one of the LA's cases carries it; else None.

        Raises:
            ValidationError: (location ``sha256``) not 64 lower-case hex digits.
        """
        if not is_sha256(sha256):
            raise ValidationError("a document id is its SHA-256: 64 lower-case hex digits",
                                  location="sha256")
        a = t.advice.c
        with self._read() as conn:
            row = conn.execute(select(a.document_sha256, a.document_size_bytes,
                                      a.document_content_type)
                               .where(a.la_code == self._la, a.document_sha256 == sha256)
                               .limit(1)).first()
        if row is None:
            return None
        return DocumentClaim(str(row[0]), int(row[1]), str(row[2]))

    def document_advice(self, sha256: str) -> AdviceReceived | None:
        """The first advice on the LA's cases that carries the document ``sha256``, or None.

        Raises:
            ValidationError: (location ``sha256``) not 64 lower-case hex digits.
        """
        if self.document(sha256) is None:
            return None
        a = t.advice.c
        with self._read() as conn:
            row = conn.execute(select(t.advice).where(
                a.la_code == self._la, a.document_sha256 == sha256).order_by(a.seq).limit(1)
            ).mappings().first()
        return None if row is None else _received(row)

    def advice(self, event_id: str) -> AdviceReceived | None:
        """One advice event of the LA's cases, by its event id, or None."""
        if len(event_id) > LIMITS["event_id"]:
            return None
        with self._read() as conn:
            row = conn.execute(select(t.advice).where(
                t.advice.c.event_id == event_id, t.advice.c.la_code == self._la)
            ).mappings().first()
        return None if row is None else _received(row)

    def documents(self, *, cursor: str | None = None, case_id: str | None = None,
                  updated_after: datetime | None = None, inclusive: bool = False,
                  limit: int | None = None) -> Page[AdviceReceived]:
        """Advice with a document on the LA's cases, changed after ``cursor``, oldest first.

        Args:
            cursor: resume after this page's cursor.
            case_id: only this case's.
            updated_after: only advice recorded after this time (at or after, if ``inclusive``).
            inclusive: see ``updated_after``.
            limit: page size (capped at :data:`MAX_PAGE`).

        Raises:
            ValidationError: a bad cursor, a limit below 1, a time without its UTC offset.
        """
        after, size, since = decode_cursor(cursor), page_limit(limit), _since(updated_after)
        a = t.advice.c
        query = select(t.advice).where(a.la_code == self._la, a.seq > after,
                                       a.document_sha256.is_not(None))
        if case_id is not None:
            query = query.where(a.case_id == case_id)
        if since is not None:
            query = query.where(a.updated_at >= since if inclusive else a.updated_at > since)
        return self._page(query.order_by(a.seq), size, after, "seq", _received)

    # paging

    def _page(self, query: Select[Any], size: int, after: int, seq_column: str,
              convert: Callable[[Any], T]) -> Page[T]:
        with self._read() as conn:
            rows = list(conn.execute(query.limit(size + 1)).mappings())
        shown = rows[:size]
        last = int(shown[-1][seq_column]) if shown else after
        return Page(tuple(convert(r) for r in shown), encode_cursor(last), len(rows) > size)


# --- rows to views ---------------------------------------------------------------------------


def _agency(system: str | None, value: str | None) -> Agency | None:
    return None if system is None or value is None else Agency(system, value)


def _summary(row: Any) -> CaseSummary:
    return CaseSummary(
        case_id=row["case_id"], stage=row["stage"], received_on=row["received_on"],
        final_plan_due_on=row["final_plan_due_on"], as_of=row["as_of"],
        open_alerts=int(row["open_alerts"]), updated_at=_aware(row["updated_at"]),
        decided_to_assess_on=row["decided_to_assess_on"],
        final_plan_issued_on=row["final_plan_issued_on"],
        exceptions_apply=row["exceptions_apply"],
    )


def _limit(row: Any) -> StatutoryDate:
    return StatutoryDate(
        name=row["name"], due_on=row["due_on"], regulation=row["regulation"],
        status=row["status"], completed_on=row["completed_on"], excused=bool(row["excused"]),
        exception_ids=tuple(json.loads(row["exception_ids"])), rule_text=row["rule_text"])


def _advice_item(row: Any) -> AdviceItem:
    return AdviceItem(
        advice_type=row["advice_type"], regulation=row["regulation"], status=row["status"],
        request_id=row["request_id"], agency=_agency(row["agency_system"], row["agency_value"]),
        due_on=row["due_on"], decline_reason=row["decline_reason"],
        contribution_ids=tuple(json.loads(row["contribution_ids"])),
    )


def _received(row: Any) -> AdviceReceived:
    document = None
    if row["document_sha256"] is not None:
        document = DocumentClaim(row["document_sha256"], int(row["document_size_bytes"]),
                                 row["document_content_type"])
    agency = _agency(row["agency_system"], row["agency_value"])
    assert agency is not None  # noqa: S101 - the column is NOT NULL
    return AdviceReceived(
        event_id=row["event_id"], case_id=row["case_id"], contribution_id=row["contribution_id"],
        request_id=row["request_id"], advice_type=row["advice_type"], agency=agency,
        submitted_at=_aware(row["submitted_at"]), channel=row["channel"], document=document,
        updated_at=_aware(row["updated_at"]),
    )


def _statutory_dates(summary: CaseSummary, items: Sequence[AdviceItem],
                     limits: Sequence[StatutoryDate] | None) -> tuple[StatutoryDate, ...]:
    """The time limits the case's status carries, each with its regulation, soonest first:
    every limit the casework engine works out (CaseStatus v3, ``limits``) and each advice item's
    due date. A status written before v3 (``limits`` None) carried only the final plan's."""
    dates = [StatutoryDate("advice_due", i.due_on, ADVICE_DUE_REGULATION, i.advice_type)
             for i in items if i.due_on is not None]
    if limits is not None:
        dates.extend(limits)
    elif summary.final_plan_due_on is not None:
        dates.append(StatutoryDate("final_plan_due", summary.final_plan_due_on,
                                   FINAL_PLAN_REGULATION))
    return tuple(sorted(dates, key=lambda d: (d.due_on, d.name, d.advice_type or "")))
