"""A child moves to another LA (reg 15), end to end through the real worker and connectors.

LA 999 transfers the plan to LA 886 through the education API. From then on the edge and the
worker take LA 886's events on the case and refuse LA 999's; the case keeps its history, so
the medical advice request made by LA 999 is still on it (nothing is asked twice), and
`ehcp case export` shows the whole history with the transfer and the new LA's notice.
"""

from __future__ import annotations

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


def test_a_transfer_hands_the_case_to_the_new_la(pipeline: Pipeline) -> None:
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
