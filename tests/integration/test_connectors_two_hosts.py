"""Two connector processes as on two hosts: separate working directories, one PostgreSQL.

Each process runs in its own folder (its own credentials file, spool and default file stores,
none shared) with ``EHCP_CONNECTOR_STORE_URL`` and ``EHCP_READMODEL_URL`` naming the same
database. The same FHIR submission sent to both is published once with one resource id, and the
LA reads the advice document through the process that did not store it.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from cli import demo
from connectors.auth import FileCredentialStore, new_credential
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS, CONTRIBUTIONS_ROUTED
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import apply_batch, create_tables, open_engine
from ehcp.settings import Settings
from tests.readmodel_records import referral
from tests.support import (
    REPO,
    free_ports,
    publish_advice_requests,
    settings_env,
    stop,
    synthetic_nhs_number,
    wait_until,
)
from tests.unit.connectors_fhir.support import advice_request
from tests.unit.contract.records import LA_CODE_SYSTEM

pytestmark = pytest.mark.integration

#: Settings each host takes from its own working directory (the defaults, relative paths).
LOCAL_FILES = ("EHCP_CREDENTIALS_FILE", "EHCP_DOCUMENTS_DIR", "EHCP_SUBMISSIONS_FILE",
               "EHCP_DATA_DIR", "EHCP_AUDIT_SPOOL_FILE")


def start_host(folder: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """`ehcp connectors` started in ``folder``, as on a host of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    host_env = {k: v for k, v in env.items() if k not in LOCAL_FILES}
    host_env.update({"EHCP_HTTP_PORT": str(port), "PYTHONPATH": str(REPO)})
    with open(folder / "connectors.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "connectors"], env=host_env,
                                cwd=folder, stdout=out, stderr=subprocess.STDOUT)


def test_two_hosts_share_idempotency_and_documents(
        kafka_settings: Settings, postgres_url: str, tmp_path: Path) -> None:
    """Copies of one submission sent to both hosts: one 201, one id, one event; the LA reads the
    stored document through the other host."""
    nhs = synthetic_nhs_number()
    case_id = f"EHC-999-HST-{uuid.uuid4().hex[:8]}"
    codec = default_codec()
    publish_advice_requests(kafka_settings, [
        advice_request(f"{case_id}-R1", owner="ZZ905", nhs_number=nhs, case_id=case_id)])
    trust, trust_token = new_credential(ODS_ORGANISATION_SYSTEM, "ZZ905", "health")
    la, la_token = new_credential(LA_CODE_SYSTEM, "999", "local_authority")
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    for folder in hosts:  # each host is given the same credentials, in its own folder
        FileCredentialStore(folder / ".ehcp" / "credentials.json").save([trust, la])
    env = {**settings_env(kafka_settings), "EHCP_CONNECTOR_STORE_URL": postgres_url,
           "EHCP_READMODEL_URL": postgres_url}
    ports = free_ports(2)
    procs = [start_host(folder, env, port) for folder, port in zip(hosts, ports, strict=True)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    advice = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
    advice["subject"]["identifier"]["value"] = nhs
    advice["custodian"]["identifier"]["value"] = "ZZ905"
    headers = {"Authorization": f"Bearer {trust_token}", "Content-Type": "application/fhir+json",
               "Connection": "close"}
    try:
        for proc, folder, base in zip(procs, hosts, bases, strict=True):
            def up(proc: subprocess.Popen[bytes] = proc, folder: Path = folder,
                   base: str = base) -> bool:
                assert proc.poll() is None, (folder / "connectors.log").read_text()[-3000:]
                try:
                    return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(up, 120, what=f"the connectors in {folder.name}")

        async def post_to_both() -> list[tuple[int, httpx.Response]]:
            answers: list[tuple[int, httpx.Response]] = []
            async with httpx.AsyncClient(timeout=60) as client:
                deadline = time.monotonic() + 180
                # Rounds of concurrent copies to both hosts until both have answered with the
                # submission (each answers 503 until its Task feed has read the request).
                while time.monotonic() < deadline:
                    sends = [client.post(f"{bases[n % 2]}/fhir/DocumentReference", json=advice,
                                         headers=headers) for n in range(10)]
                    answers += [(n % 2, r) for n, r in enumerate(await asyncio.gather(*sends))]
                    if {n for n, r in answers if r.status_code in (200, 201)} == {0, 1}:
                        break
                    await asyncio.sleep(0.5)
            return answers

        answers = asyncio.run(post_to_both())
        codes = Counter(r.status_code for _, r in answers)
        assert set(codes) <= {200, 201, 503}, codes
        assert codes[201] == 1, codes
        answered = {n for n, r in answers if r.status_code in (200, 201)}
        assert answered == {0, 1}, "both hosts answered with the submission"
        assert len({r.json()["id"] for _, r in answers if r.status_code in (200, 201)}) == 1
        (creator,) = [n for n, r in answers if r.status_code == 201]

        contribution = advice["masterIdentifier"]["value"]
        published = [r for r in read_partitions(kafka_settings, CONTRIBUTIONS.name)
                     if codec.decode(r.value or b"")[1].get("contribution_id") == contribution]
        assert len(published) == 1
        record = codec.decode(published[0].value or b"")[1]
        sha256 = record["document"]["sha256"]

        # The worker would route the advice into the LA's case; the read model is filled here
        # directly, so the test needs no worker and projector.
        engine = open_engine(postgres_url)
        try:
            route_into_case(engine, case_id, record)
        finally:
            engine.dispose()
        other = bases[1 - creator]
        read = httpx.get(f"{other}/api/la/documents/{sha256}",
                         headers={"Authorization": f"Bearer {la_token}"}, timeout=30)
        assert read.status_code == 200, read.text[:500]
        content = base64.b64decode(advice["content"][0]["attachment"]["data"])
        assert read.content == content
        for folder in hosts:  # neither host wrote a local document or ledger file
            assert not (folder / ".ehcp" / "documents").exists()
            assert not (folder / ".ehcp" / "fhir-submissions.jsonl").exists()
    finally:
        for proc in procs:
            stop(proc)


def route_into_case(engine: Engine, case_id: str, advice: dict[str, object]) -> None:
    """Project the referral of LA 999's case and the advice routed into it."""
    create_tables(engine)
    referral_topic, key, value, _ = referral(case_id, "999")
    routed = codec_encode_routed({**advice, "case_id": case_id})
    apply_batch(engine, [
        Source(referral_topic, 0, 0, key, value, timestamp_ms=int(time.time() * 1000)),
        Source(CONTRIBUTIONS_ROUTED.name, 0, 0, case_id.encode(), routed,
               timestamp_ms=int(time.time() * 1000)),
    ], default_codec())


def codec_encode_routed(record: dict[str, object]) -> bytes:
    """The advice as the worker writes it to the routed-contributions topic."""
    return default_codec().encode(records.ADVICE_SUBMITTED, record)

