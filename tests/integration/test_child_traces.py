"""`ehcp child traces` against the real broker, a real PostgreSQL read model and a document folder.

A child's referral on a topic, its case in the read model and its document on disk are all
found; a child never sent is found nowhere; the output never carries the identifier itself.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from ehcp.contract.avro import default_codec
from ehcp.contract.topics import REFERRALS
from ehcp.identifiers import NHS_NUMBER_SYSTEM
from ehcp.readmodel import tables
from ehcp.readmodel.store import create_tables, open_engine
from ehcp.settings import Settings
from tests.support import referral_message, settings_env, synthetic_nhs_number

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _traces(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "child", "traces", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_every_place_holding_the_child_is_listed_and_no_other_child(
    kafka_settings: Settings, postgres_url: str, tmp_path: Path,
) -> None:
    """Topic record, read model column and document file of one child; nothing for another."""
    from kafka import KafkaProducer

    case_id = f"EHC-999-TRC-{datetime.now(UTC):%H%M%S%f}"
    value, headers = referral_message(case_id, datetime.now(UTC) - timedelta(days=3))
    _, record = default_codec().decode(value)
    nhs = next(i["value"] for i in record["child"]["identifiers"]
               if i["system"] == NHS_NUMBER_SYSTEM)
    producer = KafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap, acks="all")
    try:
        producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers).get(30)
    finally:
        producer.close()

    engine = open_engine(postgres_url)
    try:
        create_tables(engine)
        with engine.begin() as conn:
            conn.execute(insert(tables.cases).values(
                case_id=case_id, la_code="999", stage="ASSESSMENT", received_on=None,
                final_plan_due_on=None, as_of=datetime.now(UTC).date(), open_alerts=0,
                has_statutory_dates=False, kafka_partition=0, kafka_offset=0, change_seq=1, updated_at=datetime.now(UTC)))
    finally:
        engine.dispose()
    documents = tmp_path / "documents"
    (documents / "ab").mkdir(parents=True)
    (documents / "ab" / "doc.bin").write_bytes(b"%PDF-1.7 letter about NHS " + nhs.encode())

    env = {**settings_env(kafka_settings), "EHCP_READMODEL_URL": postgres_url,
           "EHCP_DOCUMENTS_DIR": str(documents)}
    found = _traces(env, "--nhs-number", nhs, "--case-id", case_id)
    assert found.returncode == 3, found.stderr
    lines = found.stdout.splitlines()
    assert any(line.startswith(f"topic {REFERRALS.name} ") and line.endswith(
        "value: case id, nhs-number") for line in lines), lines
    assert any(line.startswith(f"topic {REFERRALS.name} ") and " key: case id" in line
               for line in lines)
    assert "table cases column case_id: case id in 1 row(s)" in lines
    assert f"file {documents / 'ab' / 'doc.bin'}: nhs-number" in lines
    assert nhs not in found.stdout + found.stderr

    stranger = synthetic_nhs_number()
    assert stranger != nhs
    none = _traces(env, "--nhs-number", stranger)
    assert none.returncode == 0, none.stdout + none.stderr
    assert none.stdout == ""
    assert "0 place(s)" in none.stderr


def test_an_identifier_failing_its_check_is_refused(kafka_settings: Settings) -> None:
    """A mistyped NHS number is an error, not an empty (and falsely reassuring) search."""
    done = _traces(settings_env(kafka_settings), "--nhs-number", "9434765918")
    assert done.returncode == 1
    assert "Modulus 11" in done.stderr
