"""An LA credential naming a case another LA owns is refused at the edge, 403 + audit (#13 item 7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.case_owners import CaseOwnerFeed, CaseOwners
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.contract.avro import default_codec
from ehcp.contract.records import CASEWORK_EVENT_RECORDED, REFERRAL_RECEIVED
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import LA_CODE_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)
CASE_999 = "EHC-999-0042"
UNKNOWN_CASE = "EHC-886-9999"


class Edge:
    """The connectors app with credentials of LA 886 and LA 999, and LA 999 owning CASE_999."""

    def __init__(self) -> None:
        self.publisher = InMemoryPublisher()
        self.owners = CaseOwners()
        self.owners.record(CASE_999, "999")
        credentials = InMemoryCredentialStore()
        self.tokens: dict[str, str] = {}
        for who, kind, system, value in (
            ("sc_886", "social_care", LA_CODE_SYSTEM, "886"),
            ("sc_999", "social_care", LA_CODE_SYSTEM, "999"),
            ("edu_886", "education", LA_CODE_SYSTEM, "886"),
            ("school", "education", SCHOOL_URN_SYSTEM, "100001"),
        ):
            credential, token = new_credential(system, value, kind)
            credentials.add(credential)
            self.tokens[who] = token
        app = create_app(Settings(pseudonym_key="p" * 32), Ports(  # type: ignore[arg-type]
            publisher=self.publisher, docstore=InMemoryDocumentStore(), credentials=credentials,
            case_owners=self.owners))
        self.client = TestClient(app)

    def post(self, path: str, who: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as ``who``."""
        return self.client.post(path, json=body,
                                headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def audited(self) -> int:
        """How many AccessRefused events were published."""
        return sum(1 for e in self.publisher.events if e.topic == AUDIT.name)


def social_care_advice(case_id: str) -> dict[str, Any]:
    """Social care advice about ``case_id``."""
    return {**demo.educational_advice(NOW, case_id), "advice_type": "SOCIAL_CARE",
            "contribution_id": f"SC-{case_id}"}


def looked_after(case_id: str) -> dict[str, Any]:
    """A LookedAfterStatusChanged casework event."""
    return {"type": "LookedAfterStatusChanged", "event_id": "L-1", "case_id": case_id,
            "occurred_on": "2026-10-05", "looked_after": True}


@pytest.mark.parametrize(("who", "path", "body"), [
    ("sc_886", "/api/social-care/advice", social_care_advice(CASE_999)),
    ("sc_886", f"/api/social-care/cases/{CASE_999}/events", looked_after(CASE_999)),
    ("edu_886", "/api/education/advice", demo.educational_advice(NOW, CASE_999)),
    ("edu_886", "/api/education/referrals", {**demo.referral(NOW, CASE_999), "la_code": "886"}),
], ids=["social-care-advice", "social-care-event", "education-advice", "referral"])
def test_another_las_case_is_403_and_audited(who: str, path: str, body: dict[str, Any]) -> None:
    """LA 886 naming LA 999's case gets 403, an audit event, and nothing else is published."""
    edge = Edge()
    r = edge.post(path, who, body)
    assert r.status_code == 403, r.text
    assert "another local authority" in r.json()["detail"]
    assert edge.audited() == 1
    assert [e for e in edge.publisher.events if e.topic != AUDIT.name] == []


def test_the_owning_la_and_an_unknown_case_are_accepted() -> None:
    """LA 999 on its own case, and LA 886 on a case no referral has named yet, get 202."""
    edge = Edge()
    assert edge.post("/api/social-care/advice", "sc_999",
                     social_care_advice(CASE_999)).status_code == 202
    assert edge.post("/api/social-care/advice", "sc_886",
                     social_care_advice(UNKNOWN_CASE)).status_code == 202
    assert edge.audited() == 0


def test_a_school_is_not_held_to_one_la() -> None:
    """A school's credential (named by URN, not LA code) may give advice on any LA's case."""
    edge = Edge()
    r = edge.post("/api/education/advice", "school", demo.educational_advice(NOW, CASE_999))
    assert r.status_code == 202, r.text


def test_the_first_referral_decides_the_owner() -> None:
    """The feed records the LA of the first referral naming a case; a later one cannot take it."""
    owners = CaseOwners()
    feed = CaseOwnerFeed(Settings(), default_codec(), owners)
    feed.apply(REFERRAL_RECEIVED, {"case_id": CASE_999, "la_code": "999"})
    feed.apply(REFERRAL_RECEIVED, {"case_id": CASE_999, "la_code": "886"})
    feed.apply("ehcp.Other", {"case_id": "X", "la_code": "886"})
    assert owners.owner(CASE_999) == "999"
    assert owners.owner("X") is None


def _transfer(case_id: str, by: str, from_la: str, to_la: str) -> dict[str, Any]:
    body = {"type": "PlanTransferred", "event_id": f"T-{by}", "case_id": case_id,
            "occurred_on": "2026-03-13", "from_la": from_la, "to_la": to_la,
            "moved_on": "2026-03-02"}
    return {"case_id": case_id, "event_type": "PlanTransferred", "event_json": json.dumps(body),
            "recorded_by": {"system": LA_CODE_SYSTEM, "value": by}}


def test_a_transfer_moves_the_case_to_the_new_la_at_the_edge() -> None:
    """Reg 15: LA 999's transfer to 886 makes 886 the owner; 999 is then another LA."""
    owners = CaseOwners()
    feed = CaseOwnerFeed(Settings(), default_codec(), owners)
    # Read before the referral (the topics are not ordered together): it waits for it.
    feed.apply(CASEWORK_EVENT_RECORDED, _transfer(CASE_999, "999", "999", "886"))
    assert owners.owner(CASE_999) is None
    feed.apply(REFERRAL_RECEIVED, {"case_id": CASE_999, "la_code": "999"})
    assert owners.owner(CASE_999) == "886"
    # A transfer recorded by another LA than the owner, or naming another from_la, is ignored.
    feed.apply(CASEWORK_EVENT_RECORDED, _transfer(CASE_999, "999", "999", "201"))
    feed.apply(CASEWORK_EVENT_RECORDED, _transfer(CASE_999, "201", "886", "201"))
    assert owners.owner(CASE_999) == "886"
    bad = _transfer(CASE_999, "886", "886", "201")
    bad["event_json"] = "{not json"
    feed.apply(CASEWORK_EVENT_RECORDED, bad)
    assert owners.owner(CASE_999) == "886"


def test_after_a_transfer_the_old_la_is_refused_and_the_new_one_accepted() -> None:
    """The edge answers 403 to LA 999's casework event once 886 owns the case."""
    edge = Edge()
    edge.owners.transfer(CASE_999, "999", "886")
    body = looked_after(CASE_999)
    assert edge.post(f"/api/social-care/cases/{CASE_999}/events", "sc_999", body).status_code \
        == 403
    assert edge.post(f"/api/social-care/cases/{CASE_999}/events", "sc_886",
                     {**body, "event_id": "L-886"}).status_code == 202
