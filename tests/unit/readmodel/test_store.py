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
    recount_tray,
    reset,
    stored_offsets,
)
from tests import readmodel_records as rr

KEY = b"k" * 32


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
    assert apply_batch(engine, _mixed(), rr.CODEC, KEY) == 7
    rows = dump(engine)
    assert {name: len(r) for name, r in rows.items()} == {
        "case_owners": 1, "child_search_keys": 2, "cases": 1, "case_advice": 2, "case_dates": 2,
        "alerts": 1, "advice": 1, "unrouted": 1, "dead_letters": 1, "projection_errors": 1,
        "projector_offsets": 6, "tray_counts": 1}
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


def _counted(engine: Engine) -> dict[tuple[object, ...], int]:
    tc = t.tray_counts
    with engine.connect() as conn:
        return {tuple(r[:5]): int(r[5]) for r in conn.execute(select(
            tc.c.la_code, tc.c.stage, tc.c.due_on, tc.c.agency_value, tc.c.advice_type,
            tc.c.open_items))}


def _recounted(engine: Engine) -> dict[tuple[object, ...], int]:
    """The counts computed from scratch from ``case_advice`` and ``cases``."""
    from collections import Counter

    ca, cs = t.case_advice, t.cases
    with engine.connect() as conn:
        rows = conn.execute(select(ca.c.la_code, cs.c.stage, ca.c.due_on, ca.c.agency_value,
                                   ca.c.advice_type)
                            .select_from(ca.join(cs, cs.c.case_id == ca.c.case_id))
                            .where(ca.c.la_code.is_not(None), ca.c.due_on.is_not(None),
                                   ca.c.status.in_(t.OPEN_ADVICE_STATUSES))).all()
    return dict(Counter((r[0], r[1], r[2], r[3] or "", r[4]) for r in rows))


def test_tray_counts_follow_every_change_of_the_open_items(engine: Engine) -> None:
    """The projector's per-group counts equal a recount after each kind of change: a new case,
    a status closing an item and moving the stage, an owner learnt after the status, two LAs,
    a tombstone; a group that reaches zero is gone."""
    steps = [
        [rr.referral("EHC-1", "886"), rr.status("EHC-1"), rr.referral("EHC-2", "886"),
         rr.status("EHC-2", stage="DRAFTING")],
        [rr.status("EHC-3")],  # no owner yet: not counted
        [rr.referral("EHC-3", "999")],  # owner learnt: counted for LA 999
        [rr.status("EHC-1", medical="RECEIVED", stage="DRAFTING")],
        [rr.status("EHC-2", stage="ASSESSMENT")],
    ]
    start: dict[str, int] = {}
    for step in steps:
        sources = []
        for topic, key, value, headers in step:
            offset = start.get(topic, 0)
            start[topic] = offset + 1
            sources.append(Source(topic, 0, offset, key, value, tuple(headers), 1))
        apply_batch(engine, sources, rr.CODEC)
        assert _counted(engine) == _recounted(engine)
    assert {k[0]: v for k, v in _counted(engine).items()} == {"886": 1, "999": 1}
    offset = start.get(CASE_STATUS.name, 0)
    apply_batch(engine, [Source(CASE_STATUS.name, 0, offset, b"EHC-2", None)], rr.CODEC)
    assert _counted(engine) == _recounted(engine)
    assert [k[0] for k in _counted(engine)] == ["999"]
    kept = _counted(engine)
    recount_tray(engine)  # the benchmark's bulk fill uses this: the same rows
    assert _counted(engine) == kept


def test_a_read_model_without_the_tray_counts_is_outdated(engine: Engine) -> None:
    """A read model holding cases but made before ``tray_counts`` must be rebuilt, not given an
    empty counts table."""
    apply_batch(engine, _batch(rr.referral("EHC-9", "886"), rr.status("EHC-9")), rr.CODEC)
    t.tray_counts.drop(engine)
    with pytest.raises(ReadModelError, match="rebuild"):
        create_tables(engine)
    reset(engine)
    create_tables(engine)


@pytest.mark.parametrize("narrow", [{}, {"agency": "RVV"}, {"advice_type": "MEDICAL"},
                                    {"stage": "ASSESSMENT"}, {"stage": "DRAFTING"}])
def test_the_trays_counts_from_tray_counts_equal_a_count_of_the_items(
        engine: Engine, narrow: dict[str, str]) -> None:
    """The tray's counts from ``tray_counts`` (no search) equal those counted item by item (a
    search matching every case takes that path), for each filter the counts serve."""
    from datetime import UTC, datetime

    from ehcp.readmodel import people, views
    from tests.workspace_support import MovableClock

    people.create_people_tables(engine)
    apply_batch(engine, _batch(
        rr.referral("EHC-886-1", "886"), rr.referral("EHC-886-2", "886"),
        rr.referral("EHC-999-1", "999"), rr.status("EHC-886-1"),
        rr.status("EHC-886-2", stage="DRAFTING"), rr.status("EHC-999-1")), rr.CODEC)
    clock = MovableClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    counted = views.work_tray(engine, "886", clock, views.TrayFilter(**narrow))
    itemised = views.work_tray(engine, "886", clock,
                               views.TrayFilter(**narrow, case_search="EHC-886"))
    assert (counted.total, counted.overdue, counted.per_agency) == (
        itemised.total, itemised.overdue, itemised.per_agency)
    assert counted.total == len(counted.items)
    assert counted.total == (1 if "stage" in narrow else 2)  # one case per stage, both RVV


def test_only_the_owning_las_referral_gives_child_search_keys(engine: Engine) -> None:
    """A second referral naming the case from another LA adds no pseudonym to the case."""
    apply_batch(engine, _batch(rr.referral("EHC-S", "886")), rr.CODEC, KEY)
    first = dump(engine)["child_search_keys"]
    other = rr.referral("EHC-S", "212")
    record = rr.CODEC.decode(other[2] or b"")[1]
    record["child"]["identifiers"] = [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                       "value": "9000000009"}]
    value = rr.CODEC.encode("org.ehcpexchange.events.ReferralReceived", record)
    apply_batch(engine, [Source(other[0], 0, 1, other[1], value, (), 2)], rr.CODEC, KEY)
    assert dump(engine)["child_search_keys"] == first
    assert len(first) == 2


def test_a_new_status_replaces_the_dates_and_a_tombstone_removes_them(engine: Engine) -> None:
    """Dates follow the latest status (v2 leaves none); the tombstone takes them away."""
    apply_batch(engine, _batch(rr.referral("EHC-T", "886"), rr.status("EHC-T")), rr.CODEC, KEY)
    assert [r[-1] for r in dump(engine)["case_dates"]]  # two dates, la_code learnt
    assert {r[2] for r in dump(engine)["case_dates"]} == {"886"}
    apply_batch(engine, _batch(rr.status("EHC-T", version=2), start=1), rr.CODEC, KEY)
    assert dump(engine)["case_dates"] == []
    apply_batch(engine, _batch(rr.status("EHC-T"), start=2), rr.CODEC, KEY)
    assert len(dump(engine)["case_dates"]) == 2
    apply_batch(engine, [Source(CASE_STATUS.name, 0, 3, b"EHC-T", None)], rr.CODEC, KEY)
    assert dump(engine)["case_dates"] == []


def test_a_transfer_moves_every_row_and_count_of_the_case_to_the_new_la(engine: Engine) -> None:
    """A status naming LA 212 (a reg 15 transfer) files the case, its items, dates, alerts,
    advice and tray counts under 212; the search keys stay (the case's own referral's)."""
    apply_batch(engine, _batch(rr.referral("EHC-M", "886"), rr.status("EHC-M", la_code="886"),
                               rr.alert("EHC-M", "ev-m"), rr.routed("EHC-M", "adv-m")),
                rr.CODEC, KEY)
    keys = dump(engine)["child_search_keys"]
    assert {k[0] for k in _counted(engine)} == {"886"}
    apply_batch(engine, _batch(rr.status("EHC-M", la_code="212"), start=1), rr.CODEC, KEY)
    with engine.connect() as conn:
        for table in (t.case_owners, t.cases, t.case_advice, t.case_dates, t.alerts, t.advice):
            assert set(conn.execute(select(table.c.la_code)).scalars()) == {"212"}, table.name
        owner = conn.execute(select(t.case_owners.c.referral_la_code,
                                    t.case_owners.c.status_la_code)).one()
    assert tuple(owner) == ("886", "212")
    assert _counted(engine) == _recounted(engine)
    assert {k[0] for k in _counted(engine)} == {"212"}
    assert dump(engine)["child_search_keys"] == keys


def test_a_transfer_read_before_its_referral_gives_the_same_read_model(engine: Engine) -> None:
    """Replayed in another order across topics (the transfer's status before the referral, the
    alert and advice before both), the read model equals the one projected in order."""
    messages = [("referral", rr.referral("EHC-R", "886"), 0),
                ("first", rr.status("EHC-R", la_code="886"), 0),
                ("alert", rr.alert("EHC-R", "ev-r"), 0),
                ("advice", rr.routed("EHC-R", "adv-r"), 0),
                ("moved", rr.status("EHC-R", stage="DRAFTING", la_code="212"), 1)]
    by_name = {name: Source(m[0], 0, offset, m[1], m[2], tuple(m[3]), 1)
               for name, m, offset in messages}
    apply_batch(engine, [by_name[n] for n in ("referral", "first", "alert", "advice", "moved")],
                rr.CODEC, KEY)
    in_order = dump(engine)
    other = open_engine("sqlite://")
    create_tables(other)
    for batch in (("alert", "advice"), ("first", "moved"), ("referral",)):
        apply_batch(other, [by_name[n] for n in batch], rr.CODEC, KEY)
    assert dump(other) == in_order
    assert {r[1] for r in in_order["cases"]} == {"212"}
    assert _counted(other) == _counted(engine) == _recounted(other)
