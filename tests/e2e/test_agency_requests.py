"""Every asked body sees what it is asked for, end to end (issue #15 items 2 and 5).

Worker and connectors run as processes on the session broker: a social care team lists the
request the LA sent it, declines it with a reason, and the LA reads the decline on the case;
another LA's social care team gets 404 and leaves an audit record. JSON advice with a document
reaches the routed contributions with its claim.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.docstore import FileDocumentStore
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import AUDIT, CONTRIBUTIONS_ROUTED
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.kafka_io.readers import read_partitions
from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import new_case, referral, status_of
from tests.support import wait_until

pytestmark = pytest.mark.e2e
CODEC = default_codec()
REASON_TEXT = "No involvement with this family; try the neighbouring authority"


def social_care_item(pipeline: Pipeline, case_id: str) -> dict[str, Any] | None:
    """The case's SOCIAL_CARE advice item, once the case status has one."""
    found = status_of(pipeline.settings, case_id)
    items = [a for a in (found or {}).get("advice", []) if a["advice_type"] == "SOCIAL_CARE"]
    return items[0] if items else None


def open_requests(client: httpx.Client, pipeline: Pipeline, who: str) -> list[dict[str, Any]]:
    """Every open request the credential ``who`` lists, following next links."""
    found: list[dict[str, Any]] = []
    url: str | None = "/api/social-care/requests?status=REQUESTED&limit=20"
    while url is not None:
        r = client.get(url, headers=pipeline.headers(who))
        assert r.status_code == 200, r.text
        found += r.json()["requests"]
        url = r.json()["next"]
    return found


def test_social_care_declines_its_request_and_the_la_reads_the_reason_on_the_case(
        pipeline: Pipeline, la_tokens: dict[str, tuple[str, str]],
        projector: subprocess.Popen[bytes]) -> None:
    """A referral and an advice request to LA 999's social care: it lists the open request, declines it NOT_KNOWN_TO_SERVICE; the case status shows DECLINED with that code (never the text), and the LA reads it on the case through its pull API; LA 886's social care gets 404 and an audit record."""
    case_id, nhs = new_case("SCREQ")
    request_id = f"REQ-SC-{uuid.uuid4().hex[:8]}"
    sent_on = datetime.now(UTC).date() - timedelta(weeks=7)  # due a week ago
    body = referral(case_id, nhs, datetime.now(UTC) - timedelta(weeks=8))
    body["advice_providers"] = [p for p in body["advice_providers"]
                                if p["advice_type"] != "SOCIAL_CARE"]
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"), json=body)
        assert r.status_code == 202, r.text
        r = client.post(f"/api/education/cases/{case_id}/advice-requests",
                        headers=pipeline.headers("la"), json={
                            "request_id": request_id, "advice_type": "SOCIAL_CARE",
                            "agency": {"system": LA_CODE_SYSTEM, "value": "999"},
                            "child": {"nhs_number": nhs}, "sent_on": sent_on.isoformat()})
        assert r.status_code == 202, r.text

        def listed() -> dict[str, Any] | None:
            mine = [q for q in open_requests(client, pipeline, "social_care")
                    if q["request_id"] == request_id]
            return mine[0] if mine else None

        item = wait_until(listed, 90, what="the social care team's open request")
        assert (item["case_id"], item["requested_by"], item["regulation"]) == (
            case_id, "999", "reg 6(1)(e)")
        assert item["due_on"] == (sent_on + timedelta(weeks=6)).isoformat()
        assert item["days_overdue"] == (datetime.now(UTC).date()
                                        - date.fromisoformat(item["due_on"])).days
        assert all(q["request_id"] != request_id
                   for q in open_requests(client, pipeline, "other_la_social_care"))

        r = client.post(f"/api/social-care/requests/{request_id}/status",
                        headers=pipeline.headers("social_care"),
                        json={"status": "DECLINED", "reason": "NOT_KNOWN_TO_SERVICE",
                              "reason_text": REASON_TEXT})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "DECLINED"

        foreign = client.get(f"/api/social-care/requests/{request_id}",
                             headers=pipeline.headers("other_la_social_care"))
        assert foreign.status_code == 404
        assert request_id not in foreign.text
        assert case_id not in foreign.text

    declined = wait_until(
        lambda: (i := social_care_item(pipeline, case_id)) and i["status"] == "DECLINED" and i,
        90, what="the declined social care request in the case status")
    assert (declined["request_id"], declined["decline_reason"]) == (
        request_id, "NOT_KNOWN_TO_SERVICE")
    assert REASON_TEXT not in str(status_of(pipeline.settings, case_id))

    _, la_token = la_tokens["la_read"]

    def la_reads_the_decline() -> dict[str, Any] | None:
        assert projector.poll() is None
        with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
            got = client.get(f"/api/la/cases/{case_id}",
                             headers={"Authorization": f"Bearer {la_token}"})
        if got.status_code != 200:
            return None
        items = [a for a in got.json()["advice_items"] if a["advice_type"] == "SOCIAL_CARE"]
        return items[0] if items and items[0]["status"] == "DECLINED" else None

    seen = wait_until(la_reads_the_decline, 120, what="the decline on the LA's case (pull API)")
    assert (seen["request_id"], seen["decline_reason"]) == (request_id, "NOT_KNOWN_TO_SERVICE")

    credential_id = pipeline.tokens["other_la_social_care"].split("_")[1]

    def audited() -> list[dict[str, Any]]:
        return [rec for rec in (CODEC.decode(m.value or b"")[1]
                                for m in read_partitions(pipeline.settings, AUDIT.name))
                if rec["credential_id"] == credential_id
                and rec["path"] == f"/api/social-care/requests/{request_id}"]

    (audit,) = wait_until(audited, 60, what="the audit record of LA 886's read")
    assert audit["agency"] == {"system": LA_CODE_SYSTEM, "value": "886"}
    assert audit["method"] == "GET"


def test_json_advice_with_a_document_reaches_the_routed_topic_with_its_claim(
        pipeline: Pipeline) -> None:
    """The LA's educational advice with an inline PDF: stored by the connectors, routed into the case with the SHA-256 claim, the bytes never on Kafka."""
    case_id, nhs = new_case("DOC")
    pdf = b"%PDF-1.4\n% Educational advice for " + case_id.encode() + b"\n%%EOF\n"
    contribution_id = f"{case_id}-EDU-DOC"
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, datetime.now(UTC) - timedelta(weeks=2)))
        assert r.status_code == 202, r.text
        r = client.post("/api/education/advice", headers=pipeline.headers("la"), json={
            "contribution_id": contribution_id, "advice_type": "EDUCATIONAL",
            "case_id": case_id, "submitted_at": datetime.now(UTC).isoformat(),
            "document": {"content_type": "application/pdf",
                         "data": base64.b64encode(pdf).decode()}})
        assert r.status_code == 202, r.text

    def routed() -> dict[str, Any] | None:
        for message in read_partitions(pipeline.settings, CONTRIBUTIONS_ROUTED.name):
            if message.key == case_id.encode():
                record: dict[str, Any] = CODEC.decode(message.value or b"")[1]
                if record["contribution_id"] == contribution_id:
                    assert pdf not in (message.value or b"")
                    return record
        return None

    record = wait_until(routed, 90, what="the advice on the routed topic")
    digest = hashlib.sha256(pdf).hexdigest()
    assert record["document"] == {"sha256": digest, "size_bytes": len(pdf),
                                  "content_type": "application/pdf"}
    assert FileDocumentStore(pipeline.settings.documents_dir).get(digest) == pdf
