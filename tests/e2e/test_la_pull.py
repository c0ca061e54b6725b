"""The LA's pull API end to end: the example client syncs a case, its advice documents and its
open alerts through the real broker, worker, projector and connectors; another LA gets nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import AUDIT
from ehcp.kafka_io.readers import read_partitions
from tests.e2e.conftest import REPO, Pipeline
from tests.e2e.test_pipeline import medical_advice, new_case, referral
from tests.support import wait_until

pytestmark = pytest.mark.e2e
CODEC = default_codec()
CLIENT = REPO / "docs" / "examples" / "la_client.py"

#: Posts one piece of advice with a document about (case id, NHS number); returns the bytes.
AdviceSender = Callable[[Pipeline, str, str], bytes]


def fhir_advice_with_pdf(pipeline: Pipeline, case_id: str, nhs: str) -> bytes:
    """A trust answers its Task with medical advice carrying a PDF (FHIR)."""
    pdf = b"%PDF-1.4\n% synthetic medical advice " + uuid.uuid4().bytes + b"\n%%EOF\n"
    pipeline.wait_for_task(case_id)
    doc = medical_advice(nhs, datetime.now(UTC))
    doc["content"][0]["attachment"] = {"contentType": "application/pdf",
                                       "data": base64.b64encode(pdf).decode()}
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/fhir/DocumentReference", json=doc,
                        headers=pipeline.headers("health", fhir=True))
    assert r.status_code == 201, r.text
    return pdf


def json_advice_with_document(pipeline: Pipeline, case_id: str, nhs: str) -> bytes:
    """The LA's educational psychologist posts advice with an inline PDF (JSON API)."""
    pdf = b"%PDF-1.4\n% synthetic psychological advice " + uuid.uuid4().bytes + b"\n%%EOF\n"
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/advice", headers=pipeline.headers("la"), json={
            "contribution_id": f"{case_id}-EP-DOC", "advice_type": "PSYCHOLOGICAL",
            "case_id": case_id, "submitted_at": datetime.now(UTC).isoformat(),
            "document": {"content_type": "application/pdf",
                         "data": base64.b64encode(pdf).decode()}})
    assert r.status_code == 202, r.text
    return pdf


#: Every channel by which advice with a document reaches the case: FHIR (health) and the JSON
#: API (education, social care).
ADVICE_SENDERS: list[AdviceSender] = [fhir_advice_with_pdf, json_advice_with_document]


def _get(pipeline: Pipeline, token: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})


def _audit(pipeline: Pipeline, schema: str, credential_id: str) -> list[dict[str, Any]]:
    out = []
    for record in read_partitions(pipeline.settings, AUDIT.name):
        name, value = CODEC.decode(record.value or b"")
        if name == schema and value.get("credential_id") == credential_id:
            out.append(value)
    return out


def _client(pipeline: Pipeline, token: str, folder: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(CLIENT), pipeline.base_url, str(folder)],
        env={"EHCP_LA_TOKEN": token, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_example_client_syncs_documents_and_alerts_and_another_la_gets_nothing(
    pipeline: Pipeline, la_tokens: dict[str, tuple[str, str]],
    projector: subprocess.Popen[bytes], tmp_path: Path,
) -> None:
    """A referral 7 weeks old and advice with a document: the example client with LA 999's
    credential saves the case, the document byte-identical and the open alerts, and resumes;
    LA 886's credential gets 404 or nothing from every LA route, each refusal audited."""
    case_id, nhs = new_case("PULL")
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, datetime.now(UTC) - timedelta(weeks=7)))
        assert r.status_code == 202, r.text
    sent = [send(pipeline, case_id, nhs) for send in ADVICE_SENDERS]
    shas = {hashlib.sha256(content).hexdigest(): content for content in sent}
    _, token = la_tokens["la_read"]

    def case_with_documents_and_alerts() -> dict[str, Any] | None:
        assert projector.poll() is None, (pipeline.logs / "projector.log").read_text()[-3000:]
        got = _get(pipeline, token, f"/api/la/cases/{case_id}")
        if got.status_code != 200:
            return None
        case: dict[str, Any] = got.json()
        documents = {a["document"]["sha256"] for a in case["advice_received"] if a["document"]}
        return case if documents >= set(shas) and case["open_alerts"] else None

    case = wait_until(case_with_documents_and_alerts, 180,
                      what="the case with its documents and open alerts in the read model")

    folder = tmp_path / "sync"
    first = _client(pipeline, token, folder)
    assert "case(s) changed" in first
    for sha, content in shas.items():
        kept = (folder / "documents" / sha).read_bytes()
        assert hashlib.sha256(kept).hexdigest() == sha
        assert kept == content
    saved = json.loads((folder / "cases" / f"{case_id}.json").read_text())
    assert saved["case_id"] == case_id
    open_alerts = json.loads((folder / "alerts-open.json").read_text())
    assert {a["alert_id"] for a in case["open_alerts"]} <= {
        a["alert_id"] for a in open_alerts if a["case_id"] == case_id}
    mtimes = {sha: (folder / "documents" / sha).stat().st_mtime_ns for sha in shas}
    assert json.loads((folder / "state.json").read_text())["cases"]
    _client(pipeline, token, folder)  # resumes from state.json; kept documents are not fetched
    assert {sha: (folder / "documents" / sha).stat().st_mtime_ns for sha in shas} == mtimes
    credential_id, _ = la_tokens["la_read"]
    wait_until(lambda: len(_audit(pipeline, records.RECORD_READ, credential_id)) >= len(shas),
               60, what="RecordRead audit events for the downloads")

    other_id, other = la_tokens["other_la_read"]
    (sha, _), = list(shas.items())[:1]
    advice_id = next(a["event_id"] for a in case["advice_received"] if a["document"])
    for path in (f"/api/la/cases/{case_id}", f"/api/la/documents/{sha}",
                 f"/fhir/DocumentReference/{advice_id}", f"/fhir/Binary/{sha}"):
        got = _get(pipeline, other, path)
        assert got.status_code == 404, (path, got.text)
        assert sha not in got.text
        assert case_id not in got.text
    for path in ("/api/la/cases?limit=200", "/api/la/alerts?limit=200"):
        got = _get(pipeline, other, path)
        assert got.status_code == 200, (path, got.text)
        assert case_id not in got.text
        assert sha not in got.text
    search = _get(pipeline, other, f"/fhir/DocumentReference?subject={case_id}")
    assert search.status_code == 200
    assert search.json()["entry"] == []  # (its self link echoes the caller's own query)
    refused = wait_until(lambda: _audit(pipeline, records.ACCESS_REFUSED, other_id) or None, 60,
                         what="AccessRefused audit events for LA 886's reads")
    assert {r["agency"]["value"] for r in refused} == {"886"}
    assert _audit(pipeline, records.RECORD_READ, other_id) == []
