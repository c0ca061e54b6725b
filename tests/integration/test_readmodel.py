"""The read-model projector on the real broker, into SQLite and into a real PostgreSQL server."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from ehcp.contract.topics import ALERTS
from ehcp.kafka_io.kafka_clients import kafka_python_config
from ehcp.kafka_io.projector import project
from ehcp.readmodel import tables as t
from ehcp.readmodel.mapping import PROJECTED_TOPICS
from ehcp.readmodel.store import create_tables, dump, open_engine, stored_offsets
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.support import REPO, settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def readmodel_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh read-model database: a SQLite file, or a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'readmodel.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(readmodel_url: str) -> Iterator[Engine]:
    """An engine on the test's read-model database, with the tables created."""
    engine = open_engine(readmodel_url)
    create_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _send(settings: Settings, messages: list[rr.Message]) -> None:
    """Produce raw messages (acks=all), keyed as the worker keys them."""
    from kafka import KafkaProducer

    producer = KafkaProducer(acks="all", **kafka_python_config(settings))
    try:
        for topic, key, value, headers in messages:
            producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)
    finally:
        producer.close()


def _end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The end offset of every non-empty partition of the projected topics."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(enable_auto_commit=False, **kafka_python_config(settings))
    try:
        tps = [TopicPartition(spec.name, p) for spec in PROJECTED_TOPICS
               for p in consumer.partitions_for_topic(spec.name)]
        return {(tp.topic, tp.partition): o for tp, o in consumer.end_offsets(tps).items() if o}
    finally:
        consumer.close()


def _cli(settings: Settings, url: str, *args: str) -> str:
    env = {**settings_env(settings), "EHCP_READMODEL_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "workspace", *args], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout


def _alert_with(case_id: str, **fields: str) -> rr.Message:
    """An alert of ``case_id`` with some fields replaced."""
    from ehcp.contract import records
    from tests.unit.contract.records import ALERT

    record = {**ALERT, "event_id": str(uuid.uuid4()), "case_id": case_id, **fields}
    return (ALERTS.name, case_id.encode(), rr.CODEC.encode(records.ALERT, record), [])


def _case(prefix: str) -> str:
    return f"EHC-{prefix}-{uuid.uuid4().hex[:8]}"


def test_incremental_projection_and_rebuild_give_the_same_database(
    kafka_settings: Settings, engine: Engine, readmodel_url: str
) -> None:
    """Projecting in two increments and `ehcp workspace rebuild` from the start give identical tables."""
    a, b = _case("A"), _case("B")
    resent = str(uuid.uuid4())
    _send(kafka_settings, [
        rr.referral(a, "886"), rr.status(a), rr.alert(a, resent), rr.routed(a),
        rr.status(b), rr.alert(b), rr.unrouted(f"RVV-{b}"), rr.dead_letter("ehcp.referrals.v1", 9),
        (ALERTS.name, a.encode(), b"not avro", []),
        # Avro-valid but unfit for the database (PostgreSQL refuses NUL in text; the id is over
        # the column's length): each must be noted and skipped, not stop the projector.
        _alert_with(a, message="nul \x00 byte"), _alert_with(a, event_id="x" * 500),
    ])
    project(kafka_settings, engine, rr.CODEC)
    # Then: b's referral after its status and alert, a newer status of a, and a re-sent alert.
    _send(kafka_settings, [
        rr.referral(b, "212"), rr.status(a, medical="RECEIVED", stage="DRAFTING"),
        rr.alert(a, resent), rr.alert(a, status_="RESOLVED"),
    ])
    project(kafka_settings, engine, rr.CODEC)
    incremental = dump(engine)

    with engine.connect() as conn:
        alerts = conn.execute(select(t.alerts.c.case_id, t.alerts.c.la_code, t.alerts.c.status)
                              .where(t.alerts.c.case_id.in_([a, b]))).all()
        assert sorted(alerts) == sorted([(a, "886", "RAISED"), (a, "886", "RESOLVED"),
                                         (b, "212", "RAISED")])
        cases = dict(conn.execute(select(t.cases.c.case_id, t.cases.c.stage)
                                  .where(t.cases.c.case_id.in_([a, b]))).all())
        assert cases == {a: "DRAFTING", b: "ASSESSMENT"}
        assert set(conn.execute(select(t.case_advice.c.la_code)
                                .where(t.case_advice.c.case_id == b)).scalars()) == {"212"}
    assert stored_offsets(engine) == _end_offsets(kafka_settings)
    with engine.connect() as conn:
        refused = conn.execute(select(t.projection_errors.c.error)
                               .where(t.projection_errors.c.topic == ALERTS.name)).scalars()
        assert sum("nul" in e or "longer than" in e for e in refused) >= 2

    out = _cli(kafka_settings, readmodel_url, "rebuild")
    assert "read model rebuilt" in out
    assert dump(engine) == incremental


def test_a_projector_stopped_half_way_resumes_without_duplicates(
    kafka_settings: Settings, engine: Engine, readmodel_url: str, tmp_path: Path
) -> None:
    """A projection stopped half way and continued by `ehcp workspace project` stores each record once and ends at the end offsets."""
    case = _case("R")
    _send(kafka_settings, [rr.referral(case, "886"), rr.status(case)]
          + [rr.alert(case) for _ in range(20)])
    end = _end_offsets(kafka_settings)
    total = sum(end.values())  # offsets start at 0 on the session's topics (delete, no retention hit)
    half = project(kafka_settings, engine, rr.CODEC, max_records=total // 2)
    assert half.applied == total // 2
    stored = stored_offsets(engine)
    assert sum(stored.values()) == total // 2

    assert "record(s) projected" in _cli(kafka_settings, readmodel_url, "project")
    assert stored_offsets(engine) == end
    with engine.connect() as conn:
        mine = conn.execute(select(t.alerts.c.event_id, t.alerts.c.la_code)
                            .where(t.alerts.c.case_id == case)).all()
    assert len(mine) == 20
    assert {la for _, la in mine} == {"886"}

    # The same rows as one projection from the start into a second database.
    fresh = open_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    create_tables(fresh)
    project(kafka_settings, fresh, rr.CODEC)
    assert dump(fresh) == dump(engine)


def test_project_follow_keeps_projecting_until_sigterm(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """`ehcp workspace project --follow` projects records sent while it runs and exits cleanly on SIGTERM."""
    url = f"sqlite:///{tmp_path / 'follow.sqlite3'}"
    env = {**settings_env(kafka_settings), "EHCP_READMODEL_URL": url}
    proc = spawn(["workspace", "project", "--follow"], env, tmp_path / "follow.log")
    try:
        engine = open_engine(url)
        case = _case("F")

        def alerts_seen() -> int:
            try:
                with engine.connect() as conn:
                    return len(conn.execute(select(t.alerts.c.event_id)
                                            .where(t.alerts.c.case_id == case)).all())
            except SQLAlchemyError:
                return 0  # the tables are not created yet

        wait_until(lambda: tables_exist(engine), what="the projector to create its tables")
        _send(kafka_settings, [rr.referral(case, "886"), rr.alert(case), rr.alert(case)])
        wait_until(lambda: alerts_seen() == 2, what="the followed alerts in the read model")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert stored_offsets(engine) == _end_offsets(kafka_settings)
    finally:
        stop(proc)


def tables_exist(engine: Engine) -> bool:
    """True once the projector has created the read model's tables."""
    try:
        stored_offsets(engine)
    except SQLAlchemyError:
        return False
    return True
