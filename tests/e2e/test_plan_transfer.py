"""A child moves to another LA (reg 15), end to end through the real worker and connectors.

LA 999 transfers the plan to LA 886 through the education API. From then on the edge and the
worker take LA 886's events on the case and refuse LA 999's; the case keeps its history, so
the medical advice request made by LA 999 is still on it (nothing is asked twice), and
`ehcp case export` shows the whole history with the transfer and the new LA's notice. The
read model follows the worker's status: LA 886's local_authority credential reads the case in the
LA pull API (with the old LA's advice request on it) and LA 999's gets 404. The move changes the
health commissioning body too (reg 16): the new LA records it and the case shows the ICBs' limits.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.auth import FileCredentialStore, new_credential
from ehcp.identifiers import LA_CODE_SYSTEM
from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import ehcp, new_case, referral
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def _event(case_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "case_id": case_id, **fields}


def test_a_transfer_hands_the_case_to_the_new_la(
    pipeline: Pipeline, la_tokens: dict[str, tuple[str, str]],
    projector: subprocess.Popen[bytes],
) -> None:
    """Old LA transfers; the new LA records its reg 15(4) notice; the old LA is refused."""
    store = FileCredentialStore(pipeline.settings.credentials_file)
    credential, token_886 = new_credential(LA_CODE_SYSTEM, "886", "education")
    store.save([*store.all(), credential])
    new_la = {"Authorization": f"Bearer {token_886}"}

    case_id, nhs = new_case("MOVE")
    now = datetime.now(UTC)
    today = now.date()
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                        json=referral(case_id, nhs, now - timedelta(weeks=30)))
        assert r.status_code == 202, r.text
        pipeline.wait_for_task(case_id)
        path = f"/api/education/cases/{case_id}/events"
        plan = _event(case_id, "FP-1", type="FinalPlanIssued",
                      occurred_on=(today - timedelta(weeks=10)).isoformat())
        assert client.post(path, headers=pipeline.headers("la"), json=plan).status_code == 202
        # LA 886 cannot transfer LA 999's plan to itself.
        grab = _event(case_id, "TR-X", type="PlanTransferred", occurred_on=today.isoformat(),
                      from_la="999", to_la="886", moved_on=today.isoformat())
        assert client.post(path, headers=new_la, json=grab).status_code == 403
        moved = {**grab, "event_id": "TR-1"}
        r = client.post(path, headers=pipeline.headers("la"), json=moved)
        assert r.status_code == 202, r.text

        notice = _event(case_id, "TN-1", type="TransferNoticeGiven",
                        occurred_on=today.isoformat(), proposes_assessment=False)

        def new_la_accepted() -> bool:
            answer = client.post(path, headers=new_la, json=notice)
            assert answer.status_code in (202, 403), answer.text
            return answer.status_code == 202

        wait_until(new_la_accepted, 90, what="the edge to follow the transfer")
        late = _event(case_id, "AR-9", type="AnnualReviewMeetingHeld",
                      occurred_on=today.isoformat())
        refused = client.post(path, headers=pipeline.headers("la"), json=late)
        assert refused.status_code == 403, refused.text

    def exported() -> str | None:
        text = ehcp(pipeline, "case", "export", case_id)
        return text if '"TransferNoticeGiven"' in text else None

    history = wait_until(exported, 90, what="the new LA's notice in the case's history")
    assert '"PlanTransferred"' in history
    assert '"AdviceRequested"' in history  # the old LA's request moved with the case
    assert '"AR-9"' not in history

    old_reader = {"Authorization": f"Bearer {la_tokens['la_read'][1]}"}  # LA 999
    new_reader = {"Authorization": f"Bearer {la_tokens['other_la_read'][1]}"}  # LA 886
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:

        def new_la_reads_it() -> dict[str, Any] | None:
            assert projector.poll() is None, (pipeline.logs / "projector.log").read_text()[-3000:]
            got = client.get(f"/api/la/cases/{case_id}", headers=new_reader)
            assert got.status_code in (200, 404), got.text
            return got.json() if got.status_code == 200 else None  # type: ignore[no-any-return]

        case = wait_until(new_la_reads_it, 90, what="the read model to move the case to LA 886")
        assert case["case_id"] == case_id
        assert any(item["advice_type"] == "MEDICAL" for item in case["advice_items"])
        assert case_id in _listed(client, new_reader)
        gone = client.get(f"/api/la/cases/{case_id}", headers=old_reader)
        assert gone.status_code == 404, gone.text
        assert case_id not in _listed(client, old_reader)

        # Reg 16: the move changes the ICB too; the new LA records it, the new ICB cannot
        # secure the health provision, so its request to the LA falls due.
        icb = _event(case_id, "CB-1", type="CommissioningBodyChanged",
                     occurred_on=today.isoformat(), from_body="QWE", to_body="QKK",
                     with_la_move=True, provision_practicable=False)
        r = client.post(path, headers=new_la, json=icb)
        assert r.status_code == 202, r.text

        def health_dates() -> dict[str, Any] | None:
            got = client.get(f"/api/la/cases/{case_id}", headers=new_reader)
            assert got.status_code == 200, got.text
            dates = {d["name"]: d for d in got.json()["statutory_dates"]}
            wanted = {"commissioning_body_notice_due", "health_provision_request_due"}
            return dates if wanted <= set(dates) else None

        dates = wait_until(health_dates, 90, what="the reg 16 limits on the new LA's case")
        assert dates["commissioning_body_notice_due"]["due_on"] == today.isoformat()
        assert dates["health_provision_request_due"]["regulation"] == "reg 16 [S]"
        assert dates["health_provision_request_due"]["status"] == "PENDING"


def _listed(client: httpx.Client, headers: dict[str, str]) -> set[str]:
    """Every case id ``/api/la/cases`` lists for the credential, page by page."""
    seen: set[str] = set()
    params: dict[str, str | int] = {"limit": 200}
    while True:
        page = client.get("/api/la/cases", headers=headers, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen |= {c["case_id"] for c in body["items"]}
        if not body["has_more"]:
            return seen
        params["cursor"] = body["cursor"]
