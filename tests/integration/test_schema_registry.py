"""The Confluent wire format against a real Apicurio Registry (started by the session fixture).

Every record type round-trips through the registry (written with one codec, read by another
whose only way to the schema is the id on the wire); the registry refuses a schema the
project's own compatibility check refuses; and a worker consumes a mix of both formats and writes
its case statuses in the Confluent format, which ``ehcp case show`` reads.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pytest

from ehcp.contract.avro import CONFLUENT, AvroCodec, SchemaRegistry, WirePolicy
from ehcp.contract.records import ALERT
from ehcp.contract.topics import CASE_STATUS, REFERRALS, catalogue
from ehcp.errors import SchemaIncompatibleError, SchemaRegistryError
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import read_partitions
from ehcp.schema_registry.admin import COMPATIBILITY, register_all, status
from ehcp.schema_registry.client import RegistryClient
from ehcp.settings import Settings
from tests.support import (
    free_ports,
    referral_message,
    settings_env,
    spawn,
    start_local_broker,
    stop,
    wait_until,
)
from tests.unit.contract.avro_spec import SCHEMA_DIR
from tests.unit.contract.records import samples

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaRegistry(SCHEMA_DIR)


@pytest.fixture(scope="module")
def registered(schema_registry_url: str) -> str:
    """The session registry with every schema version of this build registered."""
    client = RegistryClient(schema_registry_url)
    try:
        register_all(client, SCHEMAS)
    finally:
        client.close()
    return schema_registry_url


def _codec(url: str, policy: WirePolicy | None = None) -> AvroCodec:
    """A codec with a fresh client: nothing cached, every id is asked of the registry."""
    return AvroCodec(SCHEMAS, ids=RegistryClient(url), policy=policy)


def test_register_sets_full_transitive_and_is_idempotent(registered: str) -> None:
    """Each subject is FULL_TRANSITIVE with every version; registering again keeps the ids."""
    client = RegistryClient(registered)
    try:
        again = register_all(client, SCHEMAS)
        assert {(r.subject, r.version) for r in again} == {
            (name, v.version) for name in SCHEMAS.names for v in SCHEMAS.history(name)}
        assert len({r.schema_id for r in again}) == len(again)  # one id per version
        rows = status(client, SCHEMAS)
        assert {r.compatibility for r in rows} == {COMPATIBILITY}
        latest = {r.subject: r.schema_id for r in again
                  if r.version == SCHEMAS.latest(r.subject).version}
        assert {r.subject: r.schema_id for r in rows} == latest
    finally:
        client.close()


@pytest.mark.parametrize("name", SCHEMAS.names)
def test_every_record_type_round_trips_through_the_registry(registered: str, name: str) -> None:
    """Samples using every union branch and enum symbol, written as 00 + id, read back equal."""
    writer = _codec(registered, WirePolicy(CONFLUENT))
    reader = _codec(registered)
    latest = SCHEMAS.latest(name)
    records = samples(json.loads(latest.path.read_text()))
    assert records
    for record in records:
        data = writer.encode(name, record, "any-topic")
        assert data[:1] == b"\x00"
        assert reader.decode(data, expected=name) == (name, record)


@pytest.mark.parametrize("name", [n for n in SCHEMAS.names if len(SCHEMAS.history(n)) > 1])
def test_data_written_with_an_old_version_reads_into_the_newest(registered: str,
                                                               name: str) -> None:
    """A message naming v1's registry id reads as the same v1 data single-object encoded does."""
    old = SCHEMAS.history(name)[0]
    client = RegistryClient(registered)
    old_id = client.lookup(old)
    client.close()
    assert old_id is not None
    record = samples(json.loads(old.path.read_text()))[0]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, old.parsed, record)
    got_name, got = _codec(registered).decode(b"\x00" + old_id.to_bytes(4, "big")
                                              + body.getvalue())
    assert got_name == name
    assert set(got) == {f["name"] for f in SCHEMAS.latest(name).parsed["fields"]}
    assert got == AvroCodec(SCHEMAS).decode(old.header + body.getvalue())[1]
    first = SCHEMAS.latest(name).parsed["fields"][0]["name"]
    assert got[first] == record[first]


def _alert_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMAS.latest(ALERT).path.read_text())
    return copy.deepcopy(schema)


def test_the_registry_refuses_what_the_projects_check_refuses(registered: str) -> None:
    """A new field without a default, or an enum losing a symbol, is refused (409); a new
    optional field with a default would be accepted (asked, not registered)."""
    client = RegistryClient(registered)
    try:
        no_default = _alert_schema()
        no_default["fields"].append({"name": "escalated_to", "type": "string"})
        assert client.is_compatible(ALERT, no_default) is False
        with pytest.raises(SchemaIncompatibleError, match="409"):
            client.register_schema(ALERT, no_default)

        lost_symbol = _alert_schema()
        status_field = next(f for f in lost_symbol["fields"] if f["name"] == "status")
        status_field["type"]["symbols"].remove("RESOLVED")
        with pytest.raises(SchemaIncompatibleError):
            client.register_schema(ALERT, lost_symbol)

        with_default = _alert_schema()
        with_default["fields"].append(
            {"name": "escalated_to", "type": ["null", "string"], "default": None})
        assert client.is_compatible(ALERT, with_default) is True
        assert client.lookup(SCHEMAS.latest(ALERT)) is not None  # still the newest registered
    finally:
        client.close()


def test_a_registry_that_is_down_is_one_clear_error() -> None:
    """Nothing listening: SchemaRegistryError naming the URL, from writer and reader alike."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
    codec = AvroCodec(SCHEMAS, ids=RegistryClient(url, timeout_s=2), policy=WirePolicy(CONFLUENT))
    record = samples(json.loads(SCHEMAS.latest(ALERT).path.read_text()))[0]
    with pytest.raises(SchemaRegistryError, match=f"127.0.0.1:{port}.*unreachable"):
        codec.encode(ALERT, record, "ehcp.alerts.v1")
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        codec.decode(b"\x00\x00\x00\x00\x01\x02")


def test_the_cli_registers_and_reports(registered: str) -> None:
    """`ehcp schemas status` lists every record with its id and FULL_TRANSITIVE."""
    env = {"PATH": "/usr/bin:/bin", "EHCP_SCHEMA_REGISTRY_URL": registered}
    for command in ("register", "status"):
        done = subprocess.run([sys.executable, "-m", "cli.main", "schemas", command], env=env,
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(SCHEMAS.names)
    assert all(" id " in line and "FULL_TRANSITIVE" in line for line in lines)


@pytest.fixture(scope="module")
def mixed_worker(registered: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A worker on a broker of this module's own, writing case statuses in the Confluent format."""
    home = tmp_path_factory.mktemp("registry-worker")
    broker = start_local_broker(home / "kafka")
    try:
        settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key="r" * 64,
                            partitions=2, app_id="ehcp-test-registry", data_dir=home / "data",
                            credentials_file=home / "credentials.json",
                            documents_dir=home / "documents")
        apply_topics(settings, catalogue(settings.app_id))
        env = {**settings_env(settings), "EHCP_SCHEMA_REGISTRY_URL": registered,
               "EHCP_SCHEMA_WIRE_FORMAT_TOPICS": json.dumps({CASE_STATUS.name: CONFLUENT})}
        worker = spawn(["worker"], env, home / "worker.log")
        try:
            yield settings, env
        finally:
            stop(worker)
    finally:
        broker.stop()


def test_a_worker_reads_both_formats_and_writes_the_configured_one(
    mixed_worker: tuple[Settings, dict[str, str]], registered: str,
) -> None:
    """Referrals in both formats on one topic all become cases; their statuses are 00 + id and
    `ehcp case show` reads them."""
    from kafka import KafkaProducer

    settings, env = mixed_worker
    confluent = _codec(registered, WirePolicy(CONFLUENT))
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=2)
    cases = {f"EHC-999-REG-{n:03d}": n % 2 == 0 for n in range(8)}  # case -> sent as Confluent
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for case_id, as_confluent in cases.items():
            value, headers = referral_message(case_id, received)
            if as_confluent:
                name, record = confluent.decode(value)
                value = confluent.encode(name, record, REFERRALS.name)
                assert value[:1] == b"\x00"
            producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
        producer.flush(30)
    finally:
        producer.close()

    reader = _codec(registered)

    def statuses() -> dict[str, bytes] | None:
        found = {r.key.decode(): r.value for r in read_partitions(settings, CASE_STATUS.name)
                 if r.key and r.value}
        return found if set(cases) <= set(found) else None

    got = wait_until(statuses, timeout_s=240, what="a case status for every referral of both formats")
    for case_id in cases:
        assert got[case_id][:1] == b"\x00"
        assert reader.decode(got[case_id])[1]["case_id"] == case_id
    dead = list(read_partitions(settings, "ehcp.dead-letter.v1"))
    assert dead == []

    shown = subprocess.run([sys.executable, "-m", "cli.main", "case", "show", "--json",
                            next(iter(cases))], env=env, cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["case_id"] == next(iter(cases))


def test_the_projector_reads_the_confluent_statuses_into_the_read_model(
    mixed_worker: tuple[Settings, dict[str, str]], tmp_path: Path,
) -> None:
    """`ehcp workspace rebuild` with the registry configured projects the 00 + id case statuses
    (run after the worker test, whose statuses are on the topic)."""
    from sqlalchemy import select

    from ehcp.readmodel import tables
    from ehcp.readmodel.store import open_engine

    _, env = mixed_worker
    url = f"sqlite:///{tmp_path / 'readmodel.sqlite3'}"
    done = subprocess.run([sys.executable, "-m", "cli.main", "workspace", "rebuild"],
                          env={**env, "EHCP_READMODEL_URL": url}, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            projected = set(conn.execute(select(tables.cases.c.case_id)).scalars())
            errors = conn.execute(select(tables.projection_errors)).all()
    finally:
        engine.dispose()
    assert {f"EHC-999-REG-{n:03d}" for n in range(8)} <= projected
    assert errors == []
