"""Writing the read model to SQLite in memory: idempotent batches, offsets, case owners."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from ehcp.contract.topics import ALERTS, CASE_STATUS
from ehcp.errors import ConfigurationError, ReadModelError
from ehcp.readmodel import tables as t
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import (
    apply_batch,
    create_tables,
    dump,
    open_engine,
    reset,
    stored_offsets,
)
from tests import readmodel_records as rr


@pytest.fixture
def engine() -> Engine:
    """A fresh in-memory SQLite read model."""
    engine = open_engine("sqlite://")
    create_tables(engine)
    return engine


def _batch(*messages: rr.Message, start: int = 0) -> list[Source]:
    """Messages as consecutive records of partition 0 of their topics, from ``start``."""
    counters: dict[str, int] = {}
    sources = []
    for topic, key, value, headers in messages:
        offset = counters.get(topic, start)
        counters[topic] = offset + 1
        sources.append(Source(topic, 0, offset, key, value, tuple(headers), 1))
    return sources


def _mixed() -> list[Source]:
    return _batch(
        rr.referral("EHC-A", "886"),
        rr.status("EHC-A"),
        rr.alert("EHC-A", "ev-a1"),
        rr.routed("EHC-A", "adv-a1"),
        rr.unrouted("RVV-9"),
        rr.dead_letter("ehcp.referrals.v1", 4),
        (ALERTS.name, b"k", b"not avro", []),
    )


def test_a_batch_writes_every_table_and_the_next_offsets(engine: Engine) -> None:
    """One mixed batch fills each table and stores the next offset of each partition it read."""
    assert apply_batch(engine, _mixed(), rr.CODEC) == 7
    rows = dump(engine)
    assert {name: len(r) for name, r in rows.items()} == {
        "case_owners": 1, "cases": 1, "case_advice": 2, "alerts": 1, "advice": 1, "unrouted": 1,
        "dead_letters": 1, "projection_errors": 1, "projector_offsets": 6}
    assert stored_offsets(engine)[(ALERTS.name, 0)] == 2
    assert stored_offsets(engine)[(CASE_STATUS.name, 0)] == 1


def test_the_same_batch_applied_twice_changes_nothing(engine: Engine) -> None:
    """Applying a batch again skips every record: rows and offsets are as after the first time."""
    batch = _mixed()
    apply_batch(engine, batch, rr.CODEC)
    once = dump(engine)
    assert apply_batch(engine, batch, rr.CODEC) == 0
    assert dump(engine) == once


def test_replayed_records_without_stored_offsets_are_upserts(engine: Engine) -> None:
    """With the offsets reset, the same records again still give the same rows (upserts, not duplicates)."""
    batch = _mixed()
    apply_batch(engine, batch, rr.CODEC)
    once = dump(engine)
    with engine.begin() as conn:
        conn.execute(t.offsets.delete())
    apply_batch(engine, batch, rr.CODEC)
    assert dump(engine) == once


def test_an_alert_resent_with_the_same_event_id_is_stored_once(engine: Engine) -> None:
    """An alert re-sent at a later offset with the same event id (at-least-once) is one row; a new episode is another."""
    apply_batch(engine, _batch(rr.alert("EHC-A", "ev-1"), rr.alert("EHC-A", "ev-1"),
                               rr.alert("EHC-A", "ev-2")), rr.CODEC)
    with engine.connect() as conn:
        ids = conn.execute(select(t.alerts.c.event_id).order_by(t.alerts.c.kafka_offset)).scalars()
        assert list(ids) == ["ev-1", "ev-2"]


def test_rows_read_before_the_referral_get_the_la_code_when_it_arrives(engine: Engine) -> None:
    """Status, alerts and advice projected before the case's referral carry its LA code once the referral is read."""
    apply_batch(engine, _batch(rr.status("EHC-B"), rr.alert("EHC-B", "ev-b"),
                               rr.routed("EHC-B", "adv-b")), rr.CODEC)
    with engine.connect() as conn:
        assert conn.execute(select(t.cases.c.la_code)).scalar_one() is None
    apply_batch(engine, _batch(rr.referral("EHC-B", "212")), rr.CODEC)
    with engine.connect() as conn:
        for table in (t.cases, t.case_advice, t.alerts, t.advice):
            assert set(conn.execute(select(table.c.la_code)).scalars()) == {"212"}, table.name


def test_the_first_referral_of_a_case_owns_it(engine: Engine) -> None:
    """A later referral naming the same case for another LA does not change its owner (as at the edge)."""
    apply_batch(engine, _batch(rr.referral("EHC-C", "886"), rr.referral("EHC-C", "212"),
                               rr.alert("EHC-C", "ev-c")), rr.CODEC)
    with engine.connect() as conn:
        assert conn.execute(select(t.alerts.c.la_code)).scalar_one() == "886"


def test_a_new_status_replaces_the_case_and_its_advice_items(engine: Engine) -> None:
    """The latest case status wins, and its advice items replace the previous ones; a tombstone removes the case."""
    apply_batch(engine, _batch(rr.status("EHC-D", medical="REQUESTED"),
                               rr.status("EHC-D", medical="RECEIVED", stage="DRAFTING")), rr.CODEC)
    with engine.connect() as conn:
        assert conn.execute(select(t.cases.c.stage)).scalar_one() == "DRAFTING"
        items = dict(conn.execute(select(t.case_advice.c.advice_type, t.case_advice.c.status)).all())
        assert items == {"MEDICAL": "RECEIVED", "EDUCATIONAL": "RECEIVED"}
    apply_batch(engine, [Source(CASE_STATUS.name, 0, 2, b"EHC-D", None)], rr.CODEC)
    rows = dump(engine)
    assert rows["cases"] == []
    assert rows["case_advice"] == []


def test_a_failed_batch_keeps_neither_rows_nor_offsets(engine: Engine) -> None:
    """When the database refuses part of a batch, none of its rows and none of its offsets are kept."""
    apply_batch(engine, _batch(rr.alert("EHC-E", "ev-e1")), rr.CODEC)
    before = dump(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON unrouted "
                             "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    batch = _batch(rr.alert("EHC-E", "ev-e2"), rr.unrouted("RVV-1"), start=1)
    with pytest.raises(ReadModelError):
        apply_batch(engine, batch, rr.CODEC)
    assert dump(engine) == before


def test_reset_empties_rows_and_offsets(engine: Engine) -> None:
    """Reset drops and recreates every table, so the next projection starts from offset zero."""
    apply_batch(engine, _mixed(), rr.CODEC)
    reset(engine)
    assert all(rows == [] for rows in dump(engine).values())
    assert stored_offsets(engine) == {}


def test_only_sqlite_and_postgresql_urls_are_accepted() -> None:
    """Another database's URL is a configuration error naming the setting."""
    with pytest.raises(ConfigurationError, match="EHCP_READMODEL_URL"):
        open_engine("mysql://u:p@localhost/db")
