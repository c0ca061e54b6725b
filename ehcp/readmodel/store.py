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
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ehcp.contract.avro import AvroCodec
from ehcp.errors import ConfigurationError, ReadModelError
from ehcp.readmodel import tables as t
from ehcp.readmodel.mapping import Kind, Row, Source, rows_for

SUPPORTED_DIALECTS = ("sqlite", "postgresql")

#: Tables whose rows carry the case's ``la_code``, filled in when the case's owner is learnt.
_CASE_TABLES: tuple[Table, ...] = (t.cases, t.case_advice, t.alerts, t.advice)


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
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(parsed)


def create_tables(engine: Engine) -> None:
    """Create the read model's tables that do not exist yet."""
    try:
        t.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"cannot create the read model's tables: {exc}") from exc


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


def apply_batch(engine: Engine, sources: Sequence[Source], codec: AvroCodec) -> int:
    """Write the rows of ``sources`` and the new offsets in one transaction.

    Records below their partition's stored next offset were applied before and are skipped.

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
            for source in sources:
                tp = (source.topic, source.partition)
                if source.offset < moved.get(tp, positions.get(tp, 0)):
                    continue
                for row in rows_for(source, codec):
                    _write(conn, row)
                moved[tp] = source.offset + 1
                applied += 1
            for (topic, partition), next_offset in moved.items():
                _upsert(conn, t.offsets, {
                    "topic": topic, "kafka_partition": partition, "next_offset": next_offset})
            return applied
    except SQLAlchemyError as exc:
        raise ReadModelError(f"read model batch not written: {type(exc).__name__}: {exc}") from exc


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted: for comparing two read models (rebuild against incremental).

    Timestamps are given as naive UTC, as SQLite returns them, so that a SQLite and a PostgreSQL
    read model of the same records compare equal.
    """
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(_naive_utc(v) for v in row) for row in conn.execute(select(table))),
                key=repr,
            )
            for table in t.metadata.sorted_tables
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


def _insert_once(conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
    conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing(
        index_elements=_key(table)))


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


def _with_owner(conn: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    return {**values, "la_code": _owner(conn, values.get("case_id"))}


def _write(conn: Connection, row: Row) -> None:
    values = row.values
    match row.kind:
        case Kind.CASE_OWNER:
            _insert_once(conn, t.case_owners, values)
            owner = _owner(conn, values["case_id"])
            for table in _CASE_TABLES:
                conn.execute(update(table).where(
                    table.c.case_id == values["case_id"], table.c.la_code.is_(None)
                ).values(la_code=owner))
        case Kind.CASE_STATUS:
            case_row = _with_owner(conn, values)
            _upsert(conn, t.cases, case_row)
            conn.execute(delete(t.case_advice).where(t.case_advice.c.case_id == values["case_id"]))
            _insert_items(conn, (
                {**item, "la_code": case_row["la_code"]} for item in row.items))
        case Kind.CASE_REMOVED:
            for table in (t.cases, t.case_advice):
                conn.execute(delete(table).where(table.c.case_id == values["case_id"]))
        case Kind.ALERT:
            _insert_once(conn, t.alerts, _with_owner(conn, values))
        case Kind.ADVICE:
            _insert_once(conn, t.advice, _with_owner(conn, values))
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
