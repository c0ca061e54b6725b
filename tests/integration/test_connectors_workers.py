"""`ehcp connectors` with EHCP_HTTP_WORKERS=2: two processes, one ledger, no duplicate advice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli import demo
from connectors.auth import FileCredentialStore, new_credential
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.support import (
    free_ports,
    publish_advice_requests,
    settings_env,
    spawn,
    stop,
    synthetic_nhs_number,
    wait_until,
)
from tests.unit.connectors_fhir.support import advice_request

pytestmark = pytest.mark.integration
METRICS_TOKEN = "w" * 40


def worker_pids(parent: int) -> list[int]:
    """Process ids whose parent is ``parent`` (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def test_the_same_advice_sent_to_two_worker_processes_is_published_once(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """20 concurrent copies of one submission spread over two processes: one event, one id."""
    nhs = synthetic_nhs_number()
    case_id = f"EHC-999-WKR-{uuid.uuid4().hex[:8]}"
    codec = default_codec()

    # The LA's request, so the trust may answer about this child.
    publish_advice_requests(kafka_settings, [
        advice_request(f"{case_id}-R1", owner="ZZ904", nhs_number=nhs, case_id=case_id)])
    credential, token = new_credential(ODS_ORGANISATION_SYSTEM, "ZZ904", "health")
    FileCredentialStore(tmp_path / "credentials.json").save([credential])
    (port,) = free_ports(1)
    env = {**settings_env(kafka_settings), "EHCP_HTTP_PORT": str(port), "EHCP_HTTP_WORKERS": "2",
           "EHCP_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
           "EHCP_SUBMISSIONS_FILE": str(tmp_path / "submissions.jsonl"),
           "EHCP_DOCUMENTS_DIR": str(tmp_path / "documents"), "EHCP_METRICS_TOKEN": METRICS_TOKEN,
           "EHCP_DATA_DIR": str(tmp_path / "data")}
    proc = spawn(["connectors"], env, tmp_path / "connectors.log")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    advice = demo.medical_advice(datetime.now(UTC), str(uuid.uuid4()))
    advice["subject"]["identifier"]["value"] = nhs
    advice["custodian"]["identifier"]["value"] = "ZZ904"
    try:
        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "connectors.log").read_text()[-3000:]
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 90, what="the connectors")
        assert len(worker_pids(proc.pid)) >= 2, "uvicorn should run two worker processes"

        async def post_all() -> list[httpx.Response]:
            answers: list[httpx.Response] = []
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                while True:  # until both workers have read the Task (503 meanwhile)
                    first = await client.post("/fhir/DocumentReference", json=advice,
                                              headers={**headers, "Connection": "close"})
                    if first.status_code != 503:
                        break
                    await asyncio.sleep(0.5)
                answers.append(first)
                # Batches of 20 until both processes have answered: on a loaded machine the
                # second process may still be starting (its feeds catching up) for a while.
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    sends = [client.post("/fhir/DocumentReference", json=advice,
                                         headers={**headers, "Connection": "close"})
                             for _ in range(20)]
                    answers += await asyncio.gather(*sends)
                    if len(answering_pids(tmp_path / "connectors.log")) >= 2:
                        break
                    await asyncio.sleep(0.5)
            return answers

        answers = asyncio.run(post_all())
        assert len(answering_pids(tmp_path / "connectors.log")) == 2, "both processes answered"
        # Either process answers /metrics with the requests both of them counted.
        scraped = httpx.get(f"{base}/metrics", timeout=30,
                            headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200
        counted = sum(
            sample.value for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
            if sample.name == "ehcp_http_requests_total"
            and sample.labels["route"] == "/fhir/DocumentReference"
            and sample.labels["method"] == "POST" and sample.labels["status"] != "503")
        assert counted == sum(1 for r in answers if r.status_code != 503)
    finally:
        stop(proc)
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {200, 201, 503}, codes
    assert codes[201] == 1, codes
    ids = {r.json()["id"] for r in answers if r.status_code in (200, 201)}
    assert len(ids) == 1
    contribution = advice["masterIdentifier"]["value"]
    published = [r for r in read_partitions(kafka_settings, CONTRIBUTIONS.name)
                 if codec.decode(r.value or b"")[1].get("contribution_id") == contribution]
    assert len(published) == 1


def answering_pids(log: Path) -> set[int]:
    """The processes that logged an advice submission or repeat."""
    pids = set()
    for line in log.read_text().splitlines():
        if '"fhir_advice_' in line:
            pids.add(int(json.loads(line)["process"]))
    return pids
