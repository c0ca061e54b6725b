"""Every asked body sees what it is asked for (issue #15 item 5): list, read, accept or decline its requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.fhir.ports import InMemoryTaskEvents, InMemoryTaskStore
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from connectors.task_feed import ReadRecord, TaskFeed, task_status_record
from ehcp.clock import FixedClock
from ehcp.contract.avro import default_codec
from ehcp.contract.records import ADVICE_REQUESTED, TASK_STATUS_CHANGED
from ehcp.contract.topics import ADVICE_REQUESTS, AUDIT, TASK_STATUS
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
SENT = date(2026, 10, 5)  # due 2026-11-16: 4 days overdue on NOW
SOCIAL = "/api/social-care/requests"
EDUCATION = "/api/education/requests"


def request_record(request_id: str, advice_type: str, system: str, value: str, *,
                   case_id: str = "EHC-999-0001", sent_on: date = SENT) -> dict[str, Any]:
    """An AdviceRequested record from LA 999 (as the feed decodes it)."""
    regulation = {"SOCIAL_CARE": "reg 6(1)(e)", "EDUCATIONAL": "reg 6(1)(b)",
                  "PSYCHOLOGICAL": "reg 6(1)(d)", "MEDICAL": "reg 6(1)(c)"}[advice_type]
    return {
        "event_id": f"evt-{request_id}", "request_id": request_id, "case_id": case_id,
        "advice_type": advice_type, "regulation": regulation,
        "agency": {"system": system, "value": value},
        "child_identifiers": [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                               "value": "9434765919"}],
        "sent_on": sent_on, "due_on": sent_on + timedelta(weeks=6),
        "requester": {"system": LA_CODE_SYSTEM, "value": "999"},
    }


@dataclass
class Api:
    """The app with fakes, a feed to put requests in with Kafka positions, and tokens."""

    client: TestClient
    publisher: InMemoryPublisher
    tasks: InMemoryTaskStore
    task_events: InMemoryTaskEvents
    feed: TaskFeed
    tokens: dict[str, str]
    offset: int = 0

    def arrive(self, record: dict[str, Any], name: str = ADVICE_REQUESTED,
               topic: str = ADVICE_REQUESTS.name) -> None:
        """The feed reads a record at the next offset of partition 0."""
        self.offset += 1
        self.feed.apply(name, record, ReadRecord((topic, 0, self.offset), NOW))

    def get(self, path: str, who: str, **params: Any) -> Any:
        """GET as one credential."""
        return self.client.get(path, params=params,
                               headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def decide(self, request_id: str, who: str, body: dict[str, Any],
               base: str = SOCIAL) -> Any:
        """POST a status change as one credential."""
        return self.client.post(f"{base}/{request_id}/status", json=body,
                                headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def audits(self) -> list[dict[str, Any]]:
        """The AccessRefused records written so far."""
        return [dict(e.record) for e in self.publisher.events if e.topic == AUDIT.name]


@pytest.fixture
def api() -> Iterator[Api]:
    """Requests for LA 999's social care and EP service, another LA's, a school's and a trust's."""
    credentials = InMemoryCredentialStore()
    tokens = {}
    for who, kind, system, value in (
        ("social_care", "social_care", LA_CODE_SYSTEM, "999"),
        ("other_social_care", "social_care", LA_CODE_SYSTEM, "886"),
        ("la", "education", LA_CODE_SYSTEM, "999"),
        ("school", "education", SCHOOL_URN_SYSTEM, "100001"),
        ("health", "health", ODS_ORGANISATION_SYSTEM, "999"),  # an ODS code spelt like LA 999
    ):
        credential, tokens[who] = new_credential(system, value, kind)
        credentials.add(credential)
    publisher, tasks, task_events = InMemoryPublisher(), InMemoryTaskStore(), InMemoryTaskEvents()
    app = create_app(Settings(pseudonym_key="p" * 32),  # type: ignore[arg-type]
                     Ports(publisher=publisher, docstore=InMemoryDocumentStore(),
                           credentials=credentials, tasks=tasks, task_events=task_events,
                           clock=FixedClock(NOW)))
    with TestClient(app) as client:
        running = Api(client, publisher, tasks, task_events,
                      TaskFeed(Settings(), default_codec(), tasks), tokens)
        for record in (
            request_record("REQ-SC-1", "SOCIAL_CARE", LA_CODE_SYSTEM, "999"),
            request_record("REQ-EP-1", "PSYCHOLOGICAL", LA_CODE_SYSTEM, "999"),
            request_record("REQ-SC-886", "SOCIAL_CARE", LA_CODE_SYSTEM, "886",
                           case_id="EHC-886-0001"),
            request_record("REQ-EDU-1", "EDUCATIONAL", SCHOOL_URN_SYSTEM, "100001"),
            request_record("REQ-MED-1", "MEDICAL", ODS_ORGANISATION_SYSTEM, "999"),
        ):
            running.arrive(record)
        yield running


def ids(response: Any) -> list[str]:
    """The request ids of a listing (checks it answered 200)."""
    assert response.status_code == 200, response.text
    return [r["request_id"] for r in response.json()["requests"]]


def test_social_care_lists_only_its_own_social_care_requests_with_days_overdue(api: Api) -> None:
    """LA 999's social care sees its SOCIAL_CARE request, not the EP request to the same LA code, another LA's, a school's or a trust's."""
    r = api.get(SOCIAL, "social_care")
    assert ids(r) == ["REQ-SC-1"]
    (item,) = r.json()["requests"]
    assert item == {
        "request_id": "REQ-SC-1", "case_id": "EHC-999-0001", "requested_by": "999",
        "advice_type": "SOCIAL_CARE", "regulation": "reg 6(1)(e)", "sent_on": "2026-10-05",
        "due_on": "2026-11-16", "days_overdue": 4, "status": "REQUESTED",
        "decline_reason": None, "updated_at": NOW.isoformat().replace("+00:00", "Z"),
    }
    assert ids(api.get(SOCIAL, "other_social_care")) == ["REQ-SC-886"]
    assert ids(api.get(EDUCATION, "la")) == ["REQ-EP-1"]
    assert ids(api.get(EDUCATION, "school")) == ["REQ-EDU-1"]


def test_days_overdue_follow_the_clock_at_read_time(api: Api) -> None:
    """Nothing is stored: a request not yet due reads 0 days overdue."""
    api.arrive(request_record("REQ-SC-2", "SOCIAL_CARE", LA_CODE_SYSTEM, "999",
                              sent_on=date(2026, 11, 16)))
    r = api.get(SOCIAL, "social_care")
    assert {i["request_id"]: i["days_overdue"] for i in r.json()["requests"]} == {
        "REQ-SC-1": 4, "REQ-SC-2": 0}


def test_a_health_body_never_sees_an_la_request_through_fhir(api: Api) -> None:
    """The FHIR Task search and read serve requests sent to ODS codes only."""
    headers = {"Authorization": f"Bearer {api.tokens['health']}"}
    bundle = api.client.get("/fhir/Task", headers=headers).json()
    assert [e["resource"]["id"] for e in bundle.get("entry", [])] == ["REQ-MED-1"]
    assert api.client.get("/fhir/Task/REQ-SC-1", headers=headers).status_code == 404


def test_pages_follow_the_next_link_and_a_cursor_returns_only_later_changes(api: Api) -> None:
    """Limit 2 over 4 requests: two pages via next; the cursor then lists only what changed."""
    for n in (2, 3, 4):
        api.arrive(request_record(f"REQ-SC-{n}", "SOCIAL_CARE", LA_CODE_SYSTEM, "999"))
    first = api.get(SOCIAL, "social_care", limit=2)
    assert ids(first) == ["REQ-SC-1", "REQ-SC-2"]
    second = api.client.get(first.json()["next"],
                            headers={"Authorization": f"Bearer {api.tokens['social_care']}"})
    assert ids(second) == ["REQ-SC-3", "REQ-SC-4"]
    assert second.json()["next"] is None
    cursor = second.json()["cursor"]
    assert ids(api.get(SOCIAL, "social_care", cursor=cursor)) == []

    assert api.decide("REQ-SC-3", "social_care", {"status": "ACCEPTED"}).status_code == 200
    changed = api.get(SOCIAL, "social_care", cursor=cursor)
    assert ids(changed) == ["REQ-SC-3"]
    assert changed.json()["requests"][0]["status"] == "ACCEPTED"
    assert ids(api.get(SOCIAL, "social_care", cursor=changed.json()["cursor"])) == []


def test_status_and_updated_since_filter_the_listing(api: Api) -> None:
    """?status= keeps only those statuses; ?updated_since= only what changed at or after it."""
    api.decide("REQ-SC-1", "social_care", {"status": "DECLINED", "reason": "WRONG_SERVICE"})
    assert ids(api.get(SOCIAL, "social_care", status="REQUESTED")) == []
    assert ids(api.get(SOCIAL, "social_care", status=["DECLINED", "ACCEPTED"])) == ["REQ-SC-1"]
    later = (NOW + timedelta(minutes=1)).isoformat()
    assert ids(api.get(SOCIAL, "social_care", updated_since=later)) == []
    assert ids(api.get(SOCIAL, "social_care", updated_since=NOW.isoformat())) == ["REQ-SC-1"]


@pytest.mark.parametrize("params", [
    {"cursor": "zzmarker-not-a-cursor"}, {"cursor": "x" * 5000}, {"limit": 0},
    {"limit": 201}, {"status": "LOST"}, {"updated_since": "2026-11-20T10:00:00"},
])
def test_bad_listing_parameters_are_422_without_echo(api: Api, params: dict[str, Any]) -> None:
    """A forged cursor, a page size out of range, an unknown status or a naive time: 422."""
    r = api.get(SOCIAL, "social_care", **params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "zzmarker" not in r.text


def test_reading_one_request_and_another_agencys_is_404_with_an_audit_record(api: Api) -> None:
    """Its own: 200. Another LA's or another service's: the same 404 as an unknown id, and an AccessRefused record."""
    r = api.get(f"{SOCIAL}/REQ-SC-1", "social_care")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "REQUESTED"
    unknown = api.get(f"{SOCIAL}/REQ-NOBODY-1", "social_care")
    assert unknown.status_code == 404
    assert api.audits() == []
    for path, who in ((f"{SOCIAL}/REQ-SC-886", "social_care"),
                      (f"{SOCIAL}/REQ-SC-1", "other_social_care"),
                      (f"{EDUCATION}/REQ-SC-1", "la"),
                      (f"{SOCIAL}/REQ-EP-1", "social_care")):
        r = api.get(path, who)
        assert r.status_code == 404, (path, who)
        assert r.json() == unknown.json()
    audits = api.audits()
    assert [(a["path"], a["agency"]["value"]) for a in audits] == [
        (f"{SOCIAL}/REQ-SC-886", "999"), (f"{SOCIAL}/REQ-SC-1", "886"),
        (f"{EDUCATION}/REQ-SC-1", "999"), (f"{SOCIAL}/REQ-EP-1", "999")]
    assert all(a["method"] == "GET" for a in audits)


def test_declining_publishes_task_status_changed_with_the_caller_as_owner(api: Api) -> None:
    """DECLINED with a reason: one TaskStatusChanged (REJECTED, the DeclineReason code, owner LA 999)."""
    r = api.decide("REQ-SC-1", "social_care", {
        "status": "DECLINED", "reason": "NOT_KNOWN_TO_SERVICE", "reason_text": "Not known to us"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decline_reason"]) == ("DECLINED", "NOT_KNOWN_TO_SERVICE")
    assert r.json()["days_overdue"] is None
    (event,) = api.task_events.events
    record = task_status_record(event)
    assert record["status"] == "REJECTED"
    assert record["reason_code"] == "NOT_KNOWN_TO_SERVICE"
    assert record["owner"] == {"system": LA_CODE_SYSTEM, "value": "999"}
    assert (record["request_id"], record["case_id"]) == ("REQ-SC-1", "EHC-999-0001")
    codec = default_codec()
    assert codec.decode(codec.encode(TASK_STATUS_CHANGED, record))[1]["reason_text"] == (
        "Not known to us")
    # read back from Kafka by the feed: the same change, counted once
    api.arrive(codec.decode(codec.encode(TASK_STATUS_CHANGED, record))[1], TASK_STATUS_CHANGED,
               TASK_STATUS.name)
    stored = api.tasks.get("REQ-SC-1")
    assert stored is not None
    assert (stored.status, stored.version) == ("rejected", 2)


def test_a_repeat_changes_nothing_and_a_closed_request_is_409(api: Api) -> None:
    """The FHIR Task rules: the same status again publishes nothing; DECLINED cannot become ACCEPTED."""
    decline = {"status": "DECLINED", "reason": "DUPLICATE_REQUEST"}
    assert api.decide("REQ-SC-1", "social_care", decline).status_code == 200
    again = api.decide("REQ-SC-1", "social_care", decline)
    assert again.status_code == 200
    assert again.json()["status"] == "DECLINED"
    r = api.decide("REQ-SC-1", "social_care", {"status": "ACCEPTED"})
    assert r.status_code == 409, r.text
    assert r.json()["title"] == "Conflict"
    assert len(api.task_events.events) == 1


def test_accepting_then_declining_is_allowed(api: Api) -> None:
    """ACCEPTED may still become DECLINED, as a FHIR Task may."""
    assert api.decide("REQ-SC-1", "social_care", {"status": "ACCEPTED"}).status_code == 200
    r = api.decide("REQ-SC-1", "social_care", {"status": "DECLINED", "reason": "OTHER"})
    assert r.status_code == 200, r.text
    assert [e.status for e in api.task_events.events] == ["accepted", "rejected"]


@pytest.mark.parametrize(("body", "location"), [
    ({"status": "DECLINED"}, "/reason"),
    ({"status": "ACCEPTED", "reason": "OTHER"}, "/reason"),
    ({"status": "COMPLETED"}, "/status"),
    ({"status": "DECLINED", "reason": "BORED"}, "/reason"),
    ({"status": "DECLINED", "reason": "OTHER", "reason_text": "x" * 4097}, "/reason_text"),
    ({"status": "ACCEPTED", "zzmarker": 1}, "/"),
])
def test_a_bad_status_change_is_422_and_publishes_nothing(api: Api, body: dict[str, Any],
                                                            location: str) -> None:
    """A decline needs a DeclineReason code; an acceptance takes none; text is bounded."""
    r = api.decide("REQ-SC-1", "social_care", body)
    assert r.status_code == 422, r.text
    assert location in [e["location"] for e in r.json()["errors"]]
    assert "zzmarker" not in r.text
    assert api.task_events.events == []


def test_another_agencys_request_cannot_be_declined(api: Api) -> None:
    """LA 886's social care declining LA 999's request: 404, audited, nothing published."""
    r = api.decide("REQ-SC-1", "other_social_care", {"status": "DECLINED", "reason": "OTHER"})
    assert r.status_code == 404
    assert api.task_events.events == []
    assert [a["method"] for a in api.audits()] == ["POST"]
    assert api.tasks.get("REQ-SC-1").status == "requested"  # type: ignore[union-attr]


def test_kafka_down_is_503_and_the_request_is_unchanged(api: Api) -> None:
    """Durable before the 2xx: a failed publish records nothing; the retry then succeeds."""
    api.task_events.unavailable = True
    decline = {"status": "DECLINED", "reason": "WRONG_SERVICE"}
    r = api.decide("REQ-SC-1", "social_care", decline)
    assert r.status_code == 503
    assert api.tasks.get("REQ-SC-1").status == "requested"  # type: ignore[union-attr]
    api.task_events.unavailable = False
    assert api.decide("REQ-SC-1", "social_care", decline).status_code == 200
    assert len(api.task_events.events) == 1


def test_before_the_feed_has_caught_up_an_unknown_id_is_503(api: Api) -> None:
    """Like the FHIR Task search, the listing shows what has been read; an id not read yet may only be late."""
    api.tasks.complete = False
    assert api.get(f"{SOCIAL}/REQ-NOT-READ-YET", "social_care").status_code == 503
    assert ids(api.get(SOCIAL, "social_care")) == ["REQ-SC-1"]
    api.tasks.complete = True
    assert api.get(f"{SOCIAL}/REQ-NOT-READ-YET", "social_care").status_code == 404


def test_scopes_keep_other_kinds_out(api: Api) -> None:
    """A health credential on the social care requests: 403 (audited); no token: 401."""
    assert api.get(SOCIAL, "health").status_code == 403
    assert api.client.get(SOCIAL).status_code == 401


def advice_for(request_id: str, contribution_id: str) -> dict[str, Any]:
    """Social care advice answering a request."""
    return {"contribution_id": contribution_id, "advice_type": "SOCIAL_CARE",
            "request_id": request_id, "submitted_at": NOW.isoformat()}


def test_advice_answering_its_own_request_completes_it(api: Api) -> None:
    """Social care advice naming its request: 202, and the request is COMPLETED (a TaskStatusChanged, owner LA 999), as FHIR advice completes its Task."""
    headers = {"Authorization": f"Bearer {api.tokens['social_care']}"}
    r = api.client.post("/api/social-care/advice", json=advice_for("REQ-SC-1", "CSC-ADV-1"),
                        headers=headers)
    assert r.status_code == 202, r.text
    (event,) = api.task_events.events
    assert (event.status, event.owner_system, event.owner_ods) == (
        "completed", LA_CODE_SYSTEM, "999")
    item = api.get(f"{SOCIAL}/REQ-SC-1", "social_care").json()
    assert (item["status"], item["days_overdue"]) == ("COMPLETED", None)
    again = api.client.post("/api/social-care/advice", json=advice_for("REQ-SC-1", "CSC-ADV-1"),
                            headers=headers)
    assert again.status_code == 202
    assert len(api.task_events.events) == 1, "a retried submission completes nothing twice"


def test_advice_naming_another_agencys_request_completes_nothing(api: Api) -> None:
    """LA 886's social care naming LA 999's request: the advice is accepted as before (the worker routes it); the request is not touched."""
    r = api.client.post("/api/social-care/advice", json=advice_for("REQ-SC-1", "CSC-ADV-886"),
                        headers={"Authorization": f"Bearer {api.tokens['other_social_care']}"})
    assert r.status_code == 202, r.text
    assert api.task_events.events == []
    assert api.tasks.get("REQ-SC-1").status == "requested"  # type: ignore[union-attr]


def test_an_overlong_request_id_in_the_path_is_422_without_echo(api: Api) -> None:
    """Request ids in the path are bounded by their pattern (64 characters); the id is not echoed."""
    huge = "zzmarker" + "A" * 60_000  # httpx refuses longer urls; the bound is 64
    for r in (api.get(f"{SOCIAL}/{huge}", "social_care"),
              api.decide(huge, "social_care", {"status": "ACCEPTED"})):
        assert r.status_code == 422, r.text[:200]
        assert "zzmarker" not in r.text
    assert api.task_events.events == []
    assert api.audits() == []
