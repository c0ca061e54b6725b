"""Every cell of the read model's database holding one of a child's needles (``ehcp.traces``).

The tables are reflected from the database, not taken from this build's table definitions, so
tables other components keep there (the notifier's, the workspace's, older ones) are searched too.
Each text-like column is searched with ``LIKE`` in the database; only counts come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, MetaData, String, Text, cast, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ehcp.errors import ReadModelError
from ehcp.traces import Needles


@dataclass(frozen=True, slots=True)
class TableTrace:
    """A column of a table with rows holding a needle."""

    table: str
    column: str
    label: str
    rows: int


def _like(needle: bytes) -> str:
    text = needle.decode()
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def table_traces(engine: Engine, needles: Needles) -> list[TableTrace]:
    """Count, per table, text column and needle, the rows whose value contains the needle.

    Raises:
        ReadModelError: the database refused or could not be reached.
    """
    out = []
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for column in table.columns:
                    if not isinstance(column.type, String | Text | JSON):
                        continue
                    for label, needle in needles.by_label.items():
                        condition = cast(column, Text).like(_like(needle), escape="\\")
                        rows = conn.execute(
                            select(func.count()).select_from(table).where(condition)).scalar_one()
                        if rows:
                            out.append(TableTrace(table.name, column.name, label, int(rows)))
    except SQLAlchemyError as exc:
        raise ReadModelError(f"cannot search the read model: {type(exc).__name__}") from exc
    return out
