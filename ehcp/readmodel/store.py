"""Writing the read model: rows and the consumed offsets in one transaction per batch.

Every write is an idempotent upsert (``INSERT ... ON CONFLICT``), and a record at an offset below
the stored next offset of its partition is skipped, so applying a batch twice changes nothing.
The offsets live in the same database as the rows and are written in the same transaction: a
projector that stops anywhere resumes exactly where the data ends.

Run one projector per database: two writing the same database would each apply the batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ehcp.contract.avro import AvroCodec
from ehcp.errors import ConfigurationError, ReadModelError
from ehcp.readmodel import tables as t
from ehcp.readmodel.mapping import Kind, Row, Source, rows_for

SUPPORTED_DIALECTS = ("sqlite", "postgresql")

def open_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); a SQLite file's folder is created.

    Raises:
        ConfigurationError: a URL that is not SQLite or PostgreSQL, or cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"EHCP_READMODEL_URL cannot be parsed: {exc}") from exc
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigurationError(
            f"EHCP_READMODEL_URL must be sqlite or postgresql, not {parsed.get_backend_name()}"
        )
    database = parsed.database
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed)
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: How long a SQLite reader or writer waits for another process's lock before failing.
SQLITE_BUSY_TIMEOUT_S: Final = 30.0


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    """WAL: the projector writes while the connectors and the workspace read, from other
    processes; readers never block the writer nor see half a batch. The busy timeout makes a
    lock wait instead of failing at once (the WAL file itself needs a short exclusive lock)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def create_tables(engine: Engine) -> None:
    """Create the read model's tables that do not exist yet.

    Raises:
        ReadModelError: the database refused, or its tables lack columns of this version (a read
            model made by an older version): ``ehcp workspace rebuild`` remakes it from Kafka.
    """
    try:
        missing = outdated_columns(engine)  # before creating what is missing
        if not missing:
            t.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"cannot create the read model's tables: {exc}") from exc
    if missing:
        raise ReadModelError(
            f"the read model was made by an older version (no {', '.join(missing)}); "
            "run `ehcp workspace rebuild` to remake it from Kafka")


#: Tables derived from other tables as they are projected: one created empty beside a read model
#: that already holds cases would be wrong, so its absence means "made by an older version".
DERIVED_TABLES: Final = (t.tray_counts,)


def outdated_columns(engine: Engine) -> list[str]:
    """The ``table.column`` names this version declares that the database's tables lack, and
    ``table`` for a derived table (:data:`DERIVED_TABLES`) missing beside projected ``cases``."""
    found = inspect(engine)
    missing: list[str] = []
    if found.has_table(t.cases.name):
        missing.extend(table.name for table in DERIVED_TABLES if not found.has_table(table.name))
    for table in t.metadata.sorted_tables:
        if not found.has_table(table.name):
            continue
        present = {c["name"] for c in found.get_columns(table.name)}
        missing.extend(f"{table.name}.{c.name}" for c in table.columns if c.name not in present)
    return missing


def reset(engine: Engine) -> None:
    """Drop and recreate every table (rows and offsets): the next projection starts from zero."""
    try:
        t.metadata.drop_all(engine)
        t.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"cannot reset the read model: {exc}") from exc


def stored_offsets(engine: Engine) -> dict[tuple[str, int], int]:
    """The next offset to read for each (topic, partition) projected so far."""
    with engine.connect() as conn:
        return _offsets(conn)


def _offsets(conn: Connection) -> dict[tuple[str, int], int]:
    rows = conn.execute(select(t.offsets)).mappings()
    return {(str(r["topic"]), int(r["kafka_partition"])): int(r["next_offset"]) for r in rows}


def apply_batch(engine: Engine, sources: Sequence[Source], codec: AvroCodec,
                pseudonym_key: bytes | None = None) -> int:
    """Write the rows of ``sources`` and the new offsets in one transaction.

    Records below their partition's stored next offset were applied before and are skipped.
    Every change gets the next number of the read model's one sequence (``cases.change_seq``,
    ``alerts.seq``, ``advice.seq``), written in the same transaction: as one projector writes
    and commits in order, a reader that has seen change N has seen every change below N.
    With ``pseudonym_key`` (the projector always passes it) referrals also store the keyed
    pseudonyms of their child identifiers for the work tray's search (:mod:`.pseudonyms`).

    Returns:
        How many records were applied (not skipped).

    Raises:
        ReadModelError: the database refused; nothing of the batch is kept.
    """
    try:
        with engine.begin() as conn:
            positions = _offsets(conn)
            moved: dict[tuple[str, int], int] = {}
            applied = 0
            changes = _Changes(conn)
            for source in sources:
                tp = (source.topic, source.partition)
                if source.offset < moved.get(tp, positions.get(tp, 0)):
                    continue
                at = datetime.fromtimestamp(source.timestamp_ms / 1000, UTC)
                for row in rows_for(source, codec, pseudonym_key):
                    _write(changes, row, at)
                moved[tp] = source.offset + 1
                applied += 1
            changes.save()
            for (topic, partition), next_offset in moved.items():
                _upsert(conn, t.offsets, {
                    "topic": topic, "kafka_partition": partition, "next_offset": next_offset})
            return applied
    except SQLAlchemyError as exc:
        raise ReadModelError(f"read model batch not written: {type(exc).__name__}: {exc}") from exc


class _Changes:
    """The change numbers of one batch: read once, handed out in order, saved with the batch."""

    _NAME = "change"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        found = conn.execute(select(t.sequence.c.last_value)
                             .where(t.sequence.c.name == self._NAME)).scalar_one_or_none()
        self._last = int(found or 0)
        self._first = self._last

    def next(self) -> int:
        """The next change number."""
        self._last += 1
        return self._last

    def save(self) -> None:
        """Store the last number handed out (nothing if none was)."""
        if self._last != self._first:
            _upsert(self.conn, t.sequence, {"name": self._NAME, "last_value": self._last})


#: Columns that record the order in which the projector applied changes, not what the records
#: say: a rebuild reads the partitions of the six topics interleaved differently from the
#: increments it replaces (how many records each poll returns from each partition), so change
#: numbers and "changed at" times differ while every other column is equal.
ORDER_COLUMNS: Final = frozenset({"change_seq", "seq", "updated_at"})
_ORDER_TABLES: Final = frozenset({t.sequence.name})


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, without :data:`ORDER_COLUMNS`: for comparing two read models
    (rebuild against incremental).

    Timestamps are given as naive UTC, as SQLite returns them, so that a SQLite and a PostgreSQL
    read model of the same records compare equal.
    """
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(_naive_utc(v) for v in row) for row in conn.execute(select(*(
                    c for c in table.columns if c.name not in ORDER_COLUMNS)))),
                key=repr,
            )
            for table in t.metadata.sorted_tables
            if table.name not in _ORDER_TABLES
        }


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _key(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _insert_once(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert a row unless its key is stored; True if it was inserted."""
    result = conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing(
        index_elements=_key(table)))
    return bool(result.rowcount)


def _upsert(conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
    stmt = _insert(conn, table).values(**values)
    changed = {name: stmt.excluded[name] for name in values if name not in _key(table)}
    conn.execute(stmt.on_conflict_do_update(index_elements=_key(table), set_=changed))


def _owner(conn: Connection, case_id: str | None) -> str | None:
    if case_id is None:
        return None
    found = conn.execute(
        select(t.case_owners.c.la_code).where(t.case_owners.c.case_id == case_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def _referral_la(conn: Connection, case_id: str) -> str | None:
    found = conn.execute(select(t.case_owners.c.referral_la_code)
                         .where(t.case_owners.c.case_id == case_id)).scalar_one_or_none()
    return None if found is None else str(found)


def _with_owner(conn: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    return {**values, "la_code": _owner(conn, values.get("case_id"))}


def _later(stored: Any, at: datetime) -> datetime:
    """The later of a stored time (SQLite gives naive UTC) and ``at``: never goes back."""
    if not isinstance(stored, datetime):
        return at
    known: datetime = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
    return max(known, at)


def _touch_case(changes: _Changes, case_id: str | None, at: datetime) -> None:
    """Give the case a new change number: its alerts, advice or owner changed."""
    if case_id is None:
        return
    found = changes.conn.execute(select(t.cases.c.updated_at)
                                 .where(t.cases.c.case_id == case_id)).first()
    if found is not None:
        changes.conn.execute(update(t.cases).where(t.cases.c.case_id == case_id).values(
            change_seq=changes.next(), updated_at=_later(found[0], at)))


def _referral_owner(conn: Connection, values: Mapping[str, Any]) -> None:
    """Record the first referral's LA and school; the owner is the referral's LA unless a
    status (v4) already named one."""
    co = t.case_owners
    found = conn.execute(select(co.c.referral_la_code, co.c.status_la_code)
                         .where(co.c.case_id == values["case_id"])).first()
    if found is None:
        _insert_once(conn, co, {**values, "referral_la_code": values["la_code"]})
    elif found.referral_la_code is None:  # only a status had been read: the referral comes now
        conn.execute(update(co).where(co.c.case_id == values["case_id"]).values(
            referral_la_code=values["la_code"],
            institution_system=values["institution_system"],
            institution_value=values["institution_value"],
            la_code=found.status_la_code or values["la_code"]))


def _status_owner(conn: Connection, case_id: str, status_la_code: str | None) -> None:
    """The latest status's LA (v4; None before v4) decides the owner, else the first referral.

    A status read before the referral makes the case's owner row itself, so a transfer read
    before the referral (partitions and topics interleave on a rebuild) still files the case
    under the new LA.
    """
    co = t.case_owners
    found = conn.execute(select(co.c.referral_la_code, co.c.status_la_code)
                         .where(co.c.case_id == case_id)).first()
    if found is None:
        if status_la_code is not None:
            _insert_once(conn, co, {"case_id": case_id, "la_code": status_la_code,
                                    "status_la_code": status_la_code})
        return
    if found.status_la_code == status_la_code:
        return
    owner = status_la_code or found.referral_la_code
    if owner is None:  # a pre-v4 status after a v4 one, and no referral read: no owner known
        conn.execute(delete(co).where(co.c.case_id == case_id))
        return
    conn.execute(update(co).where(co.c.case_id == case_id).values(
        la_code=owner, status_la_code=status_la_code))


def _follow_owner(changes: _Changes, case_id: str, at: datetime) -> None:
    """File every row of the case under its owner: rows read before the owner was known (NULL),
    and after a transfer the old LA's rows. A row that moves counts as changed (a new number),
    so the LA it moves to pages it."""
    conn = changes.conn
    owner = _owner(conn, case_id)
    if owner is None:
        return
    for table in (t.alerts, t.advice):
        waiting = conn.execute(select(table.c.event_id, table.c.updated_at).where(
            table.c.case_id == case_id,
            or_(table.c.la_code.is_(None), table.c.la_code != owner)).order_by(table.c.seq)).all()
        for event_id, updated_at in waiting:
            conn.execute(update(table).where(table.c.event_id == event_id).values(
                la_code=owner, seq=changes.next(), updated_at=_later(updated_at, at)))
    _recount(conn, case_id, -1)
    for owned in (t.case_advice, t.case_dates):
        conn.execute(update(owned).where(
            owned.c.case_id == case_id,
            or_(owned.c.la_code.is_(None), owned.c.la_code != owner)).values(la_code=owner))
    changed = conn.execute(update(t.cases).where(
        t.cases.c.case_id == case_id,
        or_(t.cases.c.la_code.is_(None), t.cases.c.la_code != owner)).values(la_code=owner))
    _recount(conn, case_id, +1)
    if changed.rowcount:
        _touch_case(changes, case_id, at)


def _write(changes: _Changes, row: Row, at: datetime) -> None:
    conn = changes.conn
    values = row.values
    match row.kind:
        case Kind.CASE_OWNER:
            _referral_owner(conn, values)
            _follow_owner(changes, values["case_id"], at)
        case Kind.CHILD_SEARCH_KEY:
            # Only the first referral's LA: another LA naming the case adds nothing to it (after
            # a transfer the new LA finds the case by the identifiers of that referral).
            if _referral_la(conn, values["case_id"]) == values["la_code"]:
                _insert_once(conn, t.child_search_keys, {
                    "search_key": values["search_key"], "case_id": values["case_id"]})
        case Kind.CASE_STATUS:
            values = {k: v for k, v in values.items() if k != "status_la_code"}
            _status_owner(conn, values["case_id"], row.values.get("status_la_code"))
            case_row = _with_owner(conn, values)
            stored = conn.execute(select(t.cases.c.updated_at)
                                  .where(t.cases.c.case_id == values["case_id"])).first()
            _recount(conn, values["case_id"], -1)
            _upsert(conn, t.cases, {**case_row, "change_seq": changes.next(),
                                    "updated_at": _later(stored[0] if stored else None, at)})
            conn.execute(delete(t.case_advice).where(t.case_advice.c.case_id == values["case_id"]))
            _insert_items(conn, (
                {**item, "la_code": case_row["la_code"]} for item in row.items))
            _recount(conn, values["case_id"], +1)
            conn.execute(delete(t.case_dates).where(t.case_dates.c.case_id == values["case_id"]))
            for due in row.dates:
                _upsert(conn, t.case_dates, {**due, "la_code": case_row["la_code"]})
            _follow_owner(changes, values["case_id"], at)  # its alerts and advice move too
        case Kind.CASE_REMOVED:
            _recount(conn, values["case_id"], -1)
            for table in (t.cases, t.case_advice, t.case_dates):
                conn.execute(delete(table).where(table.c.case_id == values["case_id"]))
        case Kind.ALERT | Kind.ADVICE:
            table = t.alerts if row.kind is Kind.ALERT else t.advice
            inserted = _insert_once(conn, table, {
                **_with_owner(conn, values), "seq": changes.next(), "updated_at": at})
            if inserted:
                _touch_case(changes, values.get("case_id"), at)
        case Kind.UNROUTED:
            _insert_once(conn, t.unrouted, values)
        case Kind.DEAD_LETTER:
            _insert_once(conn, t.dead_letters, values)
        case Kind.PROJECTION_ERROR:
            _insert_once(conn, t.projection_errors, values)


def _insert_items(conn: Connection, items: Iterable[Mapping[str, Any]]) -> None:
    # A status lists each advice type once; a repeated type keeps the last item (upsert).
    for item in items:
        _upsert(conn, t.case_advice, item)


def _recount(conn: Connection, case_id: str, sign: int) -> None:
    """Take the case's open items out of ``tray_counts`` (``sign`` -1, before they change) or
    put them in (+1, after): only items with an owner, a due date and a stage count."""
    ca, cs, tc = t.case_advice, t.cases, t.tray_counts
    groups = conn.execute(
        select(ca.c.la_code, cs.c.stage, ca.c.due_on,
               func.coalesce(ca.c.agency_value, ""), ca.c.advice_type, func.count())
        .select_from(ca.join(cs, cs.c.case_id == ca.c.case_id))
        .where(ca.c.case_id == case_id, ca.c.la_code.is_not(None), ca.c.due_on.is_not(None),
               ca.c.status.in_(t.OPEN_ADVICE_STATUSES))
        .group_by(ca.c.la_code, cs.c.stage, ca.c.due_on, ca.c.agency_value,
                  ca.c.advice_type)).all()
    for la_code, stage, due_on, agency, advice_type, n in groups:
        key: dict[str, Any] = {"la_code": la_code, "stage": stage, "due_on": due_on,
                               "agency_value": agency, "advice_type": advice_type}
        stmt = _insert(conn, tc).values(**key, open_items=sign * int(str(n)))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=_key(tc),
            set_={"open_items": tc.c.open_items + stmt.excluded.open_items}))
        if sign < 0:  # a group that reaches zero goes, as if it had never been counted
            conn.execute(delete(tc).where(
                *(tc.c[name] == value for name, value in key.items()), tc.c.open_items <= 0))


def recount_tray(engine: Engine) -> None:
    """Remake ``tray_counts`` from ``case_advice`` in one statement (for rows written other
    than by the projector, as the benchmark's bulk fill does)."""
    ca, cs, tc = t.case_advice, t.cases, t.tray_counts
    agency = func.coalesce(ca.c.agency_value, "")
    grouped = (select(ca.c.la_code, cs.c.stage, ca.c.due_on, agency, ca.c.advice_type,
                      func.count())
               .select_from(ca.join(cs, cs.c.case_id == ca.c.case_id))
               .where(ca.c.la_code.is_not(None), ca.c.due_on.is_not(None),
                      ca.c.status.in_(t.OPEN_ADVICE_STATUSES))
               .group_by(ca.c.la_code, cs.c.stage, ca.c.due_on, agency, ca.c.advice_type))
    with engine.begin() as conn:
        conn.execute(delete(tc))
        conn.execute(tc.insert().from_select(
            ["la_code", "stage", "due_on", "agency_value", "advice_type", "open_items"],
            grouped))
