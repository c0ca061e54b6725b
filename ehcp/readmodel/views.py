"""What the workspace shows an LA's staff, read from the read model (no SQL anywhere else).

A case and its documents are read through the shared service layer
(:class:`ehcp.readmodel.access.LaView`); this module adds what only the workspace needs and
what joins the workspace's own people tables (a case officer's caseload, the officer filter):
the work tray, the alert history and live feed, the unrouted queue and the manager overview.
Written in the service layer's style: every
function takes an :class:`~sqlalchemy.Engine`, the reader's LA code and a :class:`Clock` where
time matters, and returns frozen dataclasses. A case, advice item or document of another LA is
"not found" (None or absent), never returned. A case officer's view is narrowed further to their
caseload by passing ``officer_id``.

"Days overdue" are computed at read time from the due date and the clock (the stored alert's
figure is as of when it was raised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from ehcp.casework.calendar import LONDON
from ehcp.clock import Clock
from ehcp.readmodel import access
from ehcp.readmodel import people as p
from ehcp.readmodel import tables as t

#: Advice still owed by its agency.
OPEN_STATUSES: Final = t.OPEN_ADVICE_STATUSES
#: Open advice due within this many days counts as "due soon" in the tray (the first
#: due-soon alert threshold, ``Policy.due_soon_days``).
DUE_SOON_DAYS: Final = 10
PAGE_SIZE: Final = 50
#: A case-reference search lists the open items of at most this many matching cases.
MAX_SEARCH_MATCHES: Final = 1000


def _int(value: Any) -> int:
    return int(value or 0)


def today(clock: Clock) -> date:
    """The date in London (the day an English LA's staff see on their calendar)."""
    return clock.now().astimezone(ZoneInfo(LONDON)).date()


class TraySort(StrEnum):
    """Orders of the work tray."""

    MOST_OVERDUE = "overdue"  # earliest due date first
    CASE = "case"  # by case reference
    AGENCY = "agency"
    ADVICE_TYPE = "advice_type"


@dataclass(frozen=True, slots=True)
class TrayFilter:
    """The work tray's filters; None means "any"."""

    agency: str | None = None
    advice_type: str | None = None
    officer_id: str | None = None
    stage: str | None = None
    case_search: str | None = None
    school: str | None = None  # the referral's institution (a school URN)
    child_key: str | None = None  # a child identifier's pseudonym (ehcp.readmodel.pseudonyms)
    sort: TraySort = TraySort.MOST_OVERDUE
    page: int = 1


@dataclass(frozen=True, slots=True)
class TrayItem:
    """One open contribution: who owes which advice for which case, and how late it is."""

    case_id: str
    advice_type: str
    regulation: str
    status: str
    agency_system: str | None
    agency_value: str | None
    due_on: date
    days_overdue: int  # negative: days left
    stage: str
    officer: str | None


@dataclass(frozen=True, slots=True)
class TrayPage:
    """One page of the tray, with the counts across every page."""

    items: tuple[TrayItem, ...]
    total: int
    page: int
    pages: int
    overdue: int
    per_agency: tuple[tuple[str, int], ...]  # agency value, open items (filters applied)
    agencies: tuple[str, ...]  # every agency with open items (for the filter's choices)
    stages: tuple[str, ...]


def work_tray(engine: Engine, la_code: str, clock: Clock, flt: TrayFilter, *,
              caseload_of: str | None = None, page_size: int = PAGE_SIZE) -> TrayPage:
    """Open advice of the LA's cases due within :data:`DUE_SOON_DAYS` or overdue.

    Args:
        engine: the read model.
        la_code: the reader's LA; nothing of another LA is returned.
        clock: for today's date (days overdue are live).
        flt: filters, sort and page.
        caseload_of: a case officer's user id: only their cases.
        page_size: items per page.
    """
    ca, cs, asg, us = t.case_advice, t.cases, p.case_assignments, p.users
    day = today(clock)
    # The counts join only what a filter needs: at 100,000 open cases a join with every case
    # row is most of the cost (bench/workspace.py).
    base: list[ColumnElement[bool]] = [
        ca.c.la_code == la_code,
        ca.c.status.in_(OPEN_STATUSES),
        ca.c.due_on <= day + timedelta(days=DUE_SOON_DAYS),
    ]
    officer = caseload_of or flt.officer_id
    if caseload_of is not None and flt.officer_id and flt.officer_id != caseload_of:
        officer = "-"  # a case officer filtering by someone else's caseload sees nothing
    if flt.advice_type:
        base.append(ca.c.advice_type == flt.advice_type)
    if flt.stage:
        base.append(ca.c.case_id.in_(
            select(cs.c.case_id).where(cs.c.la_code == la_code, cs.c.stage == flt.stage)))
    narrowing = (officer is not None or flt.case_search or flt.school is not None
                 or flt.child_key is not None)
    if narrowing:
        # A caseload, a school, a case-reference or child search: the LA's matching cases (one
        # row each) first, then their items by primary key. As subqueries, SQLite walked every
        # open item of the LA instead (~300 ms at 100,000 open cases).
        narrowed = select(cs.c.case_id).where(cs.c.la_code == la_code)
        if flt.school is not None:
            co = t.case_owners
            narrowed = narrowed.where(cs.c.case_id.in_(select(co.c.case_id).where(
                co.c.la_code == la_code, co.c.institution_value == flt.school)))
        if flt.child_key is not None:
            # The pseudonym names cases of any LA: ``cs.la_code`` above keeps the LA's own.
            sk = t.child_search_keys
            narrowed = narrowed.where(cs.c.case_id.in_(
                select(sk.c.case_id).where(sk.c.search_key == flt.child_key)))
        if officer is not None:
            narrowed = narrowed.where(cs.c.case_id.in_(
                select(asg.c.case_id).where(asg.c.user_id == officer)))
        if flt.case_search:
            escaped = (flt.case_search.replace("\\", "\\\\").replace("%", "\\%")
                       .replace("_", "\\_"))
            narrowed = narrowed.where(
                func.lower(cs.c.case_id).like(f"%{escaped.lower()}%", escape="\\")
            ).limit(MAX_SEARCH_MATCHES)
        with engine.connect() as conn:
            matched = [r[0] for r in conn.execute(narrowed)]
        # The matched cases are the LA's: the LA's column is not needed to narrow them.
        base = [ca.c.case_id.in_(matched), *base[1:]]
    filtered = [*base, ca.c.agency_value == flt.agency] if flt.agency else base
    order = {
        TraySort.MOST_OVERDUE: (ca.c.due_on, ca.c.case_id, ca.c.advice_type),
        TraySort.CASE: (ca.c.case_id, ca.c.advice_type),
        TraySort.AGENCY: (ca.c.agency_value, ca.c.due_on, ca.c.case_id),
        TraySort.ADVICE_TYPE: (ca.c.advice_type, ca.c.due_on, ca.c.case_id),
    }[flt.sort]
    with engine.connect() as conn:
        # Counts per agency (the agency filter's choices too), the total and how many are
        # overdue: from the projector's per-(stage, due date, agency, type) counts when no
        # filter needs the cases themselves (a few thousand rows at 100,000 open cases);
        # else one pass over the LA's open items.
        if not narrowing:
            tc = t.tray_counts
            counted = [tc.c.la_code == la_code,
                       tc.c.due_on <= day + timedelta(days=DUE_SOON_DAYS)]
            if flt.advice_type:
                counted.append(tc.c.advice_type == flt.advice_type)
            if flt.stage:
                counted.append(tc.c.stage == flt.stage)
            agency = func.nullif(tc.c.agency_value, "")
            groups = conn.execute(
                select(agency, func.sum(tc.c.open_items),
                       func.sum(case((tc.c.due_on < day, tc.c.open_items), else_=0)))
                .where(*counted).group_by(agency)).all()
        else:
            groups = conn.execute(
                select(ca.c.agency_value, func.count(),
                       func.sum(case((ca.c.due_on < day, 1), else_=0)))
                .where(*base).group_by(ca.c.agency_value)).all()
        chosen = [g for g in groups if not flt.agency or g[0] == flt.agency]
        total = sum(_int(g[1]) for g in chosen)
        overdue = sum(_int(g[2]) for g in chosen)
        pages = max(1, -(-total // page_size))
        page = min(max(1, flt.page), pages)
        keys = conn.execute(
            select(ca.c.case_id, ca.c.advice_type).where(*filtered).order_by(*order)
            .limit(page_size).offset((page - 1) * page_size)).all()
        rows: list[Any] = []
        if keys:
            # By primary key only: an ``la_code =`` condition here made SQLite walk the LA's
            # index instead (about 120 ms at 100,000 cases); the keys are the LA's already,
            # and each row's LA is checked again below.
            found = {(r.case_id, r.advice_type): r for r in conn.execute(
                select(ca.c.case_id, ca.c.advice_type, ca.c.regulation, ca.c.status,
                       ca.c.agency_system, ca.c.agency_value, ca.c.due_on, cs.c.stage,
                       us.c.username, ca.c.la_code)
                .select_from(ca.join(cs, cs.c.case_id == ca.c.case_id)
                             .outerjoin(asg, asg.c.case_id == ca.c.case_id)
                             .outerjoin(us, us.c.user_id == asg.c.user_id))
                .where(ca.c.case_id.in_({k.case_id for k in keys})))
                if r.la_code == la_code}
            rows = [found[(k.case_id, k.advice_type)] for k in keys
                    if (k.case_id, k.advice_type) in found]
        stages = conn.execute(
            select(cs.c.stage).where(cs.c.la_code == la_code).group_by(cs.c.stage)
            .order_by(cs.c.stage)).all()
    per_agency = sorted(((str(g[0] or "(none)"), _int(g[1])) for g in chosen),
                        key=lambda a: (-a[1], a[0]))
    agencies = sorted(str(g[0]) for g in groups if g[0] is not None)
    items = tuple(
        TrayItem(case_id=r.case_id, advice_type=r.advice_type, regulation=r.regulation,
                 status=r.status, agency_system=r.agency_system, agency_value=r.agency_value,
                 due_on=r.due_on, days_overdue=(day - r.due_on).days, stage=r.stage,
                 officer=r.username)
        for r in rows)
    return TrayPage(
        items=items, total=total, page=page, pages=pages, overdue=overdue,
        per_agency=tuple(per_agency), agencies=tuple(agencies),
        stages=tuple(str(s[0]) for s in stages))


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert event of a case (raised or resolved), with the rule and regulation behind it."""

    event_id: str
    alert_id: str
    case_id: str | None
    kind: str
    status: str
    severity: str
    advice_type: str | None
    agency_value: str | None
    due_on: date | None
    days_overdue: int
    regulation: str
    message: str
    as_of: date


def _alert(r: Any, day: date | None = None) -> AlertView:
    live = r.days_overdue
    if day is not None and r.due_on is not None and r.status == "RAISED" \
            and r.kind == "ADVICE_OVERDUE":
        live = (day - r.due_on).days
    return AlertView(
        event_id=r.event_id, alert_id=r.alert_id, case_id=r.case_id, kind=r.kind,
        status=r.status, severity=r.severity, advice_type=r.advice_type,
        agency_value=r.agency_value, due_on=r.due_on, days_overdue=int(live),
        regulation=r.regulation, message=r.message, as_of=r.as_of)


def may_see_case(engine: Engine, la_code: str, case_id: str,
                 caseload_of: str | None = None) -> bool:
    """The case belongs to the LA (and, for a case officer, to their caseload)."""
    query = select(t.case_owners.c.case_id).where(
        t.case_owners.c.case_id == case_id, t.case_owners.c.la_code == la_code)
    if caseload_of is not None:
        query = query.where(t.case_owners.c.case_id.in_(
            select(p.case_assignments.c.case_id)
            .where(p.case_assignments.c.user_id == caseload_of)))
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


@dataclass(frozen=True, slots=True)
class CasePage:
    """What the case page shows: the service layer's case detail, the case's whole alert
    history (raised and resolved events, for the timeline) and its officer."""

    detail: access.CaseDetail
    alert_history: tuple[AlertView, ...]
    officer: str | None

    def advice_days_overdue(self, item: access.AdviceItem, day: date) -> int | None:
        """Live days overdue of an open advice item (None when not open or no due date)."""
        if item.due_on is None or item.status not in OPEN_STATUSES:
            return None
        return (day - item.due_on).days


def case_page(engine: Engine, la_code: str, clock: Clock, case_id: str, *,
              caseload_of: str | None = None) -> CasePage | None:
    """The case page's data through :class:`~ehcp.readmodel.access.LaView`, or None if the case
    is not the LA's (or not in a case officer's caseload)."""
    if not may_see_case(engine, la_code, case_id, caseload_of):
        return None
    detail = access.LaView(engine, la_code, clock).case(case_id)
    if detail is None:
        return None
    day = today(clock)
    with engine.connect() as conn:
        officer = conn.execute(
            select(p.users.c.username).join(
                p.case_assignments, p.case_assignments.c.user_id == p.users.c.user_id)
            .where(p.case_assignments.c.case_id == case_id)).scalar_one_or_none()
        alerts = conn.execute(select(t.alerts).where(
            t.alerts.c.case_id == case_id, t.alerts.c.la_code == la_code)
            .order_by(t.alerts.c.as_of, t.alerts.c.kafka_partition,
                      t.alerts.c.kafka_offset)).all()
    return CasePage(detail, tuple(_alert(a, day) for a in alerts), officer)


def advice_document(engine: Engine, la_code: str, clock: Clock, case_id: str, event_id: str, *,
                    caseload_of: str | None = None) -> access.AdviceReceived | None:
    """Advice with a document on the LA's case (through the service layer), or None."""
    if not may_see_case(engine, la_code, case_id, caseload_of):
        return None
    found = access.LaView(engine, la_code, clock).advice(event_id)
    if found is None or found.case_id != case_id or found.document is None:
        return None
    return found


@dataclass(frozen=True, slots=True)
class Unrouted:
    """A contribution matched to no case (no case, so no LA: managers see them)."""

    event_id: str
    reason: str
    detail: str
    parked: bool
    contribution_id: str
    advice_type: str
    agency_system: str
    agency_value: str
    submitted_at: datetime
    channel: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record a worker could not process, by where it was."""

    partition: int
    offset: int
    original_topic: str
    original_partition: int
    original_offset: int
    stage: str
    exception_class: str
    exception_message: str
    timestamp_ms: int


def _unrouted(r: Any) -> Unrouted:
    return Unrouted(
        event_id=r.event_id, reason=r.reason, detail=r.detail, parked=bool(r.parked),
        contribution_id=r.contribution_id, advice_type=r.advice_type,
        agency_system=r.agency_system, agency_value=r.agency_value,
        submitted_at=r.submitted_at, channel=r.channel)


def unrouted_queue(engine: Engine, limit: int = 200) -> tuple[Unrouted, ...]:
    """The newest unrouted contributions no manager has routed or discarded yet."""
    decided = select(p.unrouted_decisions.c.event_id)
    with engine.connect() as conn:
        rows = conn.execute(select(t.unrouted).where(t.unrouted.c.event_id.not_in(decided))
                            .order_by(t.unrouted.c.submitted_at.desc()).limit(limit)).all()
    return tuple(_unrouted(r) for r in rows)


@dataclass(frozen=True, slots=True)
class UnroutedAt:
    """An unrouted contribution still in the queue, and where its record is in Kafka."""

    item: Unrouted
    partition: int
    offset: int


def unrouted_item(engine: Engine, event_id: str) -> UnroutedAt | None:
    """One queued unrouted contribution by its event id (None if unknown or already decided)."""
    decided = select(p.unrouted_decisions.c.event_id)
    with engine.connect() as conn:
        r = conn.execute(select(t.unrouted).where(
            t.unrouted.c.event_id == event_id,
            t.unrouted.c.event_id.not_in(decided))).first()
    return None if r is None else UnroutedAt(_unrouted(r), r.kafka_partition, r.kafka_offset)


def dead_letter_queue(engine: Engine, limit: int = 200) -> tuple[DeadLetter, ...]:
    """The newest dead letters' error headers (never their bytes)."""
    with engine.connect() as conn:
        rows = conn.execute(select(
            t.dead_letters.c.kafka_partition, t.dead_letters.c.kafka_offset,
            t.dead_letters.c.original_topic, t.dead_letters.c.original_partition,
            t.dead_letters.c.original_offset, t.dead_letters.c.stage,
            t.dead_letters.c.exception_class, t.dead_letters.c.exception_message,
            t.dead_letters.c.timestamp_ms,
        ).order_by(t.dead_letters.c.timestamp_ms.desc()).limit(limit)).all()
    return tuple(DeadLetter(
        partition=r.kafka_partition, offset=r.kafka_offset, original_topic=r.original_topic,
        original_partition=r.original_partition, original_offset=r.original_offset,
        stage=r.stage, exception_class=r.exception_class,
        exception_message=r.exception_message[:500], timestamp_ms=r.timestamp_ms)
        for r in rows)


AlertCursor = dict[int, int]
"""The last alert seen per Kafka partition of the alerts topic (a live feed's position)."""


def alert_cursor(engine: Engine) -> AlertCursor:
    """The position after every alert stored now (a live feed starts here)."""
    with engine.connect() as conn:
        rows = conn.execute(select(t.alerts.c.kafka_partition, func.max(t.alerts.c.kafka_offset))
                            .group_by(t.alerts.c.kafka_partition)).all()
    return {_int(r[0]): _int(r[1]) for r in rows}


def alerts_after(engine: Engine, la_code: str, clock: Clock, cursor: AlertCursor, *,
                 caseload_of: str | None = None,
                 limit: int = 100) -> tuple[tuple[AlertView, ...], AlertCursor]:
    """The LA's alerts stored after ``cursor``, and the cursor after them."""
    al = t.alerts
    after: list[ColumnElement[bool]] = [
        and_(al.c.kafka_partition == part, al.c.kafka_offset > off)
        for part, off in cursor.items()]
    if cursor:
        after.append(al.c.kafka_partition.not_in(list(cursor)))
    query = select(al).where(al.c.la_code == la_code)
    if after:
        query = query.where(or_(*after))
    if caseload_of is not None:
        query = query.where(al.c.case_id.in_(
            select(p.case_assignments.c.case_id)
            .where(p.case_assignments.c.user_id == caseload_of)))
    day = today(clock)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(al.c.kafka_partition, al.c.kafka_offset)
                            .limit(limit)).all()
    moved = dict(cursor)
    for r in rows:
        moved[r.kafka_partition] = max(moved.get(r.kafka_partition, -1), r.kafka_offset)
    return tuple(_alert(r, day) for r in rows), moved


@dataclass(frozen=True, slots=True)
class Series:
    """One chart's data: a title, column headings and rows (the table and the CSV alike)."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    #: (label, number) bars when the chart shows other figures than the rows' first two columns.
    chart: tuple[tuple[str, float], ...] | None = None


def overview(engine: Engine, la_code: str, clock: Clock) -> tuple[Series, ...]:
    """The manager overview: open cases by stage; advice on time by agency by month; days late;
    new plans issued within 20 weeks per calendar year, including and excluding exceptions.

    Advice is on time when it arrived (London date) on or before the due date of the case's
    advice item of that type (reg 8(1)); advice with no due date counts as received, not late.
    """
    day = today(clock)
    cs, ad, ca = t.cases, t.advice, t.case_advice
    with engine.connect() as conn:
        by_stage = conn.execute(
            select(cs.c.stage, func.count()).where(cs.c.la_code == la_code)
            .group_by(cs.c.stage).order_by(cs.c.stage)).all()
        received = conn.execute(
            select(ad.c.agency_value, ad.c.submitted_at, ca.c.due_on)
            .select_from(ad.outerjoin(ca, and_(ca.c.case_id == ad.c.case_id,
                                               ca.c.advice_type == ad.c.advice_type)))
            .where(ad.c.la_code == la_code)).all()
        late = conn.execute(
            select(ca.c.due_on).where(
                ca.c.la_code == la_code, ca.c.status.in_(OPEN_STATUSES),
                ca.c.due_on.is_not(None), ca.c.due_on < day)).all()
        issued = conn.execute(
            select(cs.c.final_plan_issued_on, cs.c.final_plan_due_on, cs.c.exceptions_apply)
            .where(cs.c.la_code == la_code, cs.c.final_plan_issued_on.is_not(None))).all()
    buckets = _late_buckets([(day - r.due_on).days for r in late])
    within_20_weeks = _within_20_weeks(issued)
    return (
        Series("stages", "Open cases by stage", ("stage", "cases"),
               tuple((r[0], _int(r[1])) for r in by_stage)),
        Series("advice-on-time", "Advice received on time, by month and agency",
               ("month and agency", "% on time", "received", "on time"),
               _on_time(received)),
        Series("days-late", "Open advice by days late", ("days late", "items"), buckets),
        Series("plans-20-weeks",
               "New EHC plans issued within 20 weeks, including and excluding exceptions (SEN2)",
               SEN2_COLUMNS, within_20_weeks,
               chart=tuple(
                   (f"{r[0]} {label}", float(r[index])) for r in within_20_weeks
                   for label, index in (("including exceptions", 3),
                                        ("excluding exceptions", 6))
                   if r[index] != "")),
    )


#: The SEN2 timeliness columns, as DfE publishes them per calendar year ("Timeliness of new
#: education, health and care plans": plans_issued_den, plans_issued_within_20_weeks,
#: pc_plans_issued_within_20_weeks and the same three excluding exceptions; docs/workspace.md).
SEN2_COLUMNS: Final = (
    "year", "plans issued", "issued within 20 weeks", "% within 20 weeks",
    "plans issued excluding exceptions", "issued within 20 weeks excluding exceptions",
    "% within 20 weeks excluding exceptions")


def _percent(part: int, whole: int) -> float | str:
    return round(100 * part / whole, 1) if whole else ""


def _within_20_weeks(rows: Sequence[Any]) -> tuple[tuple[Any, ...], ...]:
    """Per calendar year of issue: new plans issued and within 20 weeks (on or before the
    reg 13(2) due date), then the same leaving out cases where the SEN2 "20-week exceptions
    apply" flag is set. A case whose status predates CaseStatus v3 has no issue date and is
    not counted; one with the flag unknown (NULL) counts as no exception."""
    years: dict[int, list[int]] = {}
    for issued_on, due_on, exceptions_apply in rows:
        counts = years.setdefault(issued_on.year, [0, 0, 0, 0])
        on_time = due_on is not None and issued_on <= due_on
        counts[0] += 1
        counts[1] += on_time
        if not exceptions_apply:
            counts[2] += 1
            counts[3] += on_time
    return tuple(
        (year, n, within, _percent(within, n), n_ex, within_ex, _percent(within_ex, n_ex))
        for year, (n, within, n_ex, within_ex) in sorted(years.items()))


def _on_time(rows: Sequence[Any]) -> tuple[tuple[str, int, int, int], ...]:
    """(month agency, % on time, received, on time) per month and agency, oldest month first."""
    counts: dict[tuple[str, str], list[int]] = {}
    for agency, submitted_at, due_on in rows:
        arrived = (submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=UTC)
                   ).astimezone(ZoneInfo(LONDON)).date()
        bucket = counts.setdefault((arrived.strftime("%Y-%m"), str(agency)), [0, 0])
        bucket[0] += 1
        bucket[1] += 1 if due_on is None or arrived <= due_on else 0
    return tuple((f"{month} {agency}", round(100 * on_time / received), received, on_time)
                 for (month, agency), (received, on_time) in sorted(counts.items()))


#: The days-late distribution's buckets (lower bound inclusive, upper exclusive; None: open).
LATE_BUCKETS: Final[Sequence[tuple[int, int | None]]] = (
    (1, 8), (8, 15), (15, 29), (29, 57), (57, None))


def _late_buckets(days: Sequence[int]) -> tuple[tuple[str, int], ...]:
    out = []
    for low, high in LATE_BUCKETS:
        label = f"{low}-{high - 1}" if high is not None else f"{low}+"
        out.append((label, sum(1 for d in days if d >= low and (high is None or d < high))))
    return tuple(out)
