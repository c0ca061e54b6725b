"""The education and social care JSON APIs, through the production app factory with fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS, REFERRALS
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.settings import Settings

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


class Api:
    """A test client plus the fakes behind it."""

    def __init__(self) -> None:
        self.publisher = InMemoryPublisher()
        credentials = InMemoryCredentialStore()
        self.tokens = {}
        for who, kind, system, value in (
            ("la", "education", LA_CODE_SYSTEM, "999"),
            ("other_la", "education", LA_CODE_SYSTEM, "998"),
            ("health", "health", ODS_ORGANISATION_SYSTEM, "ZZ901"),
            ("social_care", "social_care", LA_CODE_SYSTEM, "999"),
            ("school", "education", SCHOOL_URN_SYSTEM, "100001"),
        ):
            credential, token = new_credential(system, value, kind)
            credentials.add(credential)
            self.tokens[who] = token
        settings = Settings(pseudonym_key="p" * 32)
        app = create_app(
            settings,
            Ports(
                publisher=self.publisher, docstore=InMemoryDocumentStore(), credentials=credentials
            ),
        )
        self.client = TestClient(app)

    def post(self, path: str, who: str | None, headers: dict[str, str] | None = None, **kwargs):  # type: ignore[no-untyped-def]
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.post(path, headers={**auth, **(headers or {})}, **kwargs)


@pytest.fixture
def api() -> Api:
    """A fresh app with fakes."""
    return Api()


def test_referral_is_published_keyed_by_case_and_fits_the_schema(api: Api) -> None:
    """A valid referral answers 202 with the receipt and one ReferralReceived event keyed by case id."""
    r = api.post("/api/education/referrals", "la", json=demo.referral(NOW))
    assert r.status_code == 202, r.text
    assert r.json()["topic"] == REFERRALS.name
    (event,) = api.publisher.events
    assert (event.topic, event.key) == (REFERRALS.name, demo.DEMO_CASE)
    encoded = default_codec().encode(event.schema_name, event.record)
    assert (
        default_codec().decode(encoded)[1]["child"]["identifiers"][0]["value"]
        == demo.DEMO_NHS_NUMBER
    )


def test_same_referral_twice_has_the_same_event_id(api: Api) -> None:
    """A retried referral carries the same event id, so the case stage ignores the repeat."""
    api.post("/api/education/referrals", "la", json=demo.referral(NOW))
    api.post("/api/education/referrals", "la", json=demo.referral(NOW))
    first, second = api.publisher.events
    assert first.record["event_id"] == second.record["event_id"]


def test_malformed_json_is_400(api: Api) -> None:
    """Broken JSON gets 400 problem details and publishes nothing."""
    r = api.post(
        "/api/education/referrals",
        "la",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert api.publisher.events == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nhs_number", "9434765910", "Modulus 11"),
        ("nhs_number", "12345", "10 digits"),
        ("upn", "A801200005001", "check letter"),
    ],
)
def test_bad_identifier_is_422_naming_the_field_not_the_value(
    api: Api, field: str, value: str, message: str
) -> None:
    """An identifier failing its check gets 422 naming the field; the value is not echoed."""
    body = demo.referral(NOW)
    body["child"][field] = value
    r = api.post("/api/education/referrals", "la", json=body)
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["location"] == f"/child/{field}"
    assert message in error["message"]
    assert value not in r.text
    assert api.publisher.events == []


def test_missing_token_is_401_and_wrong_kind_is_403(api: Api) -> None:
    """No token: 401 with a Bearer challenge; a health token on the education API: 403."""
    r = api.post("/api/education/referrals", None, json=demo.referral(NOW))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert (
        api.post("/api/education/referrals", "health", json=demo.referral(NOW)).status_code == 403
    )
    assert [e.topic for e in api.publisher.events] == ["ehcp.audit.v1"], "only the audit event"


def test_referral_for_another_la_is_403(api: Api) -> None:
    """An LA credential cannot post a referral under another LA's code."""
    assert (
        api.post("/api/education/referrals", "other_la", json=demo.referral(NOW)).status_code == 403
    )


def test_social_care_cannot_submit_medical_advice(api: Api) -> None:
    """Advice types are scoped per agency: social care submitting medical advice gets 403."""
    body = {**demo.educational_advice(NOW), "advice_type": "MEDICAL"}
    assert api.post("/api/social-care/advice", "social_care", json=body).status_code == 403
    body = {**demo.educational_advice(NOW), "advice_type": "SOCIAL_CARE", "contribution_id": "SC-1"}
    r = api.post("/api/social-care/advice", "social_care", json=body)
    assert r.status_code == 202, r.text
    assert api.publisher.events[-1].topic == CONTRIBUTIONS.name


def test_unroutable_advice_is_422(api: Api) -> None:
    """Advice naming neither case, request nor child cannot be routed and is refused."""
    body = {
        "contribution_id": "EDU-9",
        "advice_type": "EDUCATIONAL",
        "submitted_at": NOW.isoformat(),
    }
    r = api.post("/api/education/advice", "la", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "/case_id"


def test_kafka_unavailable_is_503_with_retry_after(api: Api) -> None:
    """While Kafka cannot take events the API answers 503 with Retry-After, never 2xx."""
    api.publisher.unavailable = True
    r = api.post("/api/education/referrals", "la", json=demo.referral(NOW))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"


def test_openapi_document_lists_the_json_api(api: Api) -> None:
    """The OpenAPI document publishes the JSON endpoints."""
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/api/education/referrals", "/api/education/advice", "/api/social-care/advice"} <= set(
        paths
    )


def test_casework_event_is_validated_and_published(api: Api) -> None:
    """A decision to assess in the casework format is published to the casework-events topic."""
    body = {
        "type": "DecisionToAssessMade",
        "event_id": "D-1",
        "case_id": demo.DEMO_CASE,
        "occurred_on": "2026-10-05",
    }
    r = api.post(f"/api/education/cases/{demo.DEMO_CASE}/events", "la", json=body)
    assert r.status_code == 202, r.text
    (event,) = api.publisher.events
    assert event.topic == "ehcp.casework-events.v1"
    assert event.key == demo.DEMO_CASE
    assert event.record["event_type"] == "DecisionToAssessMade"
    default_codec().encode(event.schema_name, event.record)


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (
            {
                "type": "DecisionToAssessMade",
                "event_id": "D-1",
                "case_id": demo.DEMO_CASE,
                "occurred_on": "5 Oct",
            },
            "/occurred_on",
        ),
        (
            {
                "type": "DecisionToAssessMade",
                "event_id": "D-1",
                "case_id": "EHC-OTHER",
                "occurred_on": "2026-10-05",
            },
            "/case_id",
        ),
        ({"type": "AdviceSubmitted", "event_id": "D-1", "case_id": demo.DEMO_CASE}, "/type"),
        (
            {
                "type": "TimescaleExceptionRecorded",
                "event_id": "X-1",
                "case_id": demo.DEMO_CASE,
                "exception_id": "X-1",
                "ground": "REG_10_4_Z",
                "starts_on": "2026-10-05",
            },
            "/ground",
        ),
    ],
)
def test_bad_casework_event_is_422_naming_the_field(api: Api, body: dict, location: str) -> None:
    """A casework event with a bad field, another case or a type the agency may not record is refused."""
    r = api.post(f"/api/education/cases/{demo.DEMO_CASE}/events", "la", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == location
    assert api.publisher.events == []


def test_social_care_may_only_record_its_own_events(api: Api) -> None:
    """Social care can record looked-after status but not a final plan."""
    looked_after = {
        "type": "LookedAfterStatusChanged",
        "event_id": "L-1",
        "case_id": demo.DEMO_CASE,
        "occurred_on": "2026-10-05",
        "looked_after": True,
    }
    assert (
        api.post(
            f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=looked_after
        ).status_code
        == 202
    )
    final = {
        "type": "FinalPlanIssued",
        "event_id": "F-1",
        "case_id": demo.DEMO_CASE,
        "occurred_on": "2026-10-05",
    }
    assert (
        api.post(
            f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=final
        ).status_code
        == 422
    )


def test_a_refused_request_leaves_an_audit_event(api: Api) -> None:
    """A 403 publishes an AccessRefused audit event naming the credential, not the token or data."""
    assert api.post("/api/education/referrals", "other_la", json=demo.referral(NOW)).status_code == 403
    (audit,) = [e for e in api.publisher.events if e.topic == "ehcp.audit.v1"]
    assert audit.record["agency"]["value"] == "998"
    assert audit.record["path"] == "/api/education/referrals"
    assert api.tokens["other_la"] not in str(audit.record)
    assert demo.DEMO_NHS_NUMBER not in str(audit.record)
    default_codec().encode(audit.schema_name, audit.record)


def test_health_advice_about_a_child_it_was_not_asked_about_is_audited(api: Api) -> None:
    """FHIR advice by NHS number from a body holding no request for the child: 403 and audit."""
    r = api.post(
        "/fhir/DocumentReference",
        "health",
        headers={"Content-Type": "application/fhir+json"},
        json=demo.medical_advice(NOW, "5d0c3d5e-3f41-4a57-9b0e-1f2a3b4c5d6e"),
    )
    assert r.status_code == 403, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    (audit,) = api.publisher.events
    assert audit.topic == "ehcp.audit.v1"
    assert audit.record["agency"]["value"] == demo.DEMO_HEALTH_ODS
    assert "not been asked" in audit.record["reason"]
    assert demo.DEMO_NHS_NUMBER not in str(audit.record)


def advice_request_body(**changes: object) -> dict[str, object]:
    """The LA asks the trust ZZ902 for medical advice about the demo child."""
    body: dict[str, object] = {
        "request_id": "EHC-999-REQ-0002",
        "advice_type": "MEDICAL",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"},
        "child": {"nhs_number": demo.DEMO_NHS_NUMBER},
        "sent_on": "2026-11-02",
    }
    body.update(changes)
    return body


def test_the_la_can_ask_another_body_for_advice(api: Api) -> None:
    """202; one AdviceRequested keyed by case, due 6 weeks after sending (reg 8(1))."""
    path = f"/api/education/cases/{demo.DEMO_CASE}/advice-requests"
    r = api.post(path, "la", json=advice_request_body())
    assert r.status_code == 202, r.text
    (event,) = api.publisher.events
    assert (event.topic, event.key) == ("ehcp.advice-requests.v1", demo.DEMO_CASE)
    record = event.record
    assert (record["request_id"], record["advice_type"], record["regulation"]) == (
        "EHC-999-REQ-0002", "MEDICAL", "reg 6(1)(c)")
    assert record["agency"] == {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ902"}
    assert record["due_on"] - record["sent_on"] == timedelta(weeks=6)
    assert record["child_identifiers"] == [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": demo.DEMO_NHS_NUMBER}]
    default_codec().encode(event.schema_name, record)
    assert api.post(path, "la", json=advice_request_body()).json()["event_id"] == (
        record["event_id"]), "a retry carries the same event id"


def test_an_advice_request_names_the_requesting_la(api: Api) -> None:
    """The record's requester is the LA whose credential sent it (FHIR Task.requester)."""
    path = f"/api/education/cases/{demo.DEMO_CASE}/advice-requests"
    assert api.post(path, "other_la", json=advice_request_body()).status_code == 202
    (event,) = api.publisher.events
    assert event.record["requester"] == {"system": LA_CODE_SYSTEM, "value": "998"}


def test_only_a_local_authority_may_request_advice(api: Api) -> None:
    """A school's education credential gets 403 (and an audit event), health 403 by scope."""
    path = f"/api/education/cases/{demo.DEMO_CASE}/advice-requests"
    assert api.post(path, "school", json=advice_request_body()).status_code == 403
    assert api.post(path, "health", json=advice_request_body()).status_code == 403
    assert {e.topic for e in api.publisher.events} == {"ehcp.audit.v1"}


def test_an_advice_request_to_health_needs_the_nhs_number(api: Api) -> None:
    """A health body's Task names the child by NHS number: without one, 422 at /child/nhs_number."""
    path = f"/api/education/cases/{demo.DEMO_CASE}/advice-requests"
    r = api.post(path, "la", json=advice_request_body(child={"upn": "A123456789012"}))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "/child/nhs_number"
    r = api.post(path, "la", json=advice_request_body(child={}))
    assert r.status_code == 422
    r = api.post(path, "la", json=advice_request_body(sent_on="2100-01-01"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "/sent_on"
    assert api.publisher.events == []


SUPPORT_EVENTS = [
    {"type": "GraduatedApproachCycleRecorded", "event_id": "C-1", "cycle_id": "CYC-1",
     "assess_on": "2026-01-12", "plan_on": "2026-01-19", "do_from": "2026-01-26",
     "review_on": "2026-04-20", "setting_id": "100001"},
    {"type": "NotionalSenBudgetSpendRecorded", "event_id": "N-1", "occurred_on": "2026-07-10",
     "academic_year": 2025, "amount_pounds": 6000},
    {"type": "TopUpFundingRequested", "event_id": "T-1", "request_id": "TU-1",
     "occurred_on": "2026-07-10", "amount_pounds": 4500},
]


@pytest.mark.parametrize("who", ["la", "school"])
def test_a_school_or_the_la_records_sen_support_evidence(api: Api, who: str) -> None:
    """The graduated approach, notional budget spend and top-up request go through the events API."""
    for body in SUPPORT_EVENTS:
        r = api.post(f"/api/education/cases/{demo.DEMO_CASE}/events", who,
                     json={**body, "case_id": demo.DEMO_CASE})
        assert r.status_code == 202, r.text
    assert [e.record["event_type"] for e in api.publisher.events] == [
        b["type"] for b in SUPPORT_EVENTS]
    for event in api.publisher.events:
        default_codec().encode(event.schema_name, event.record)


def test_only_the_la_decides_top_up_funding(api: Api) -> None:
    """A school asks for top-up funding; only the LA records the decision."""
    decision = {"type": "TopUpFundingDecided", "event_id": "TD-1", "case_id": demo.DEMO_CASE,
                "request_id": "TU-1", "occurred_on": "2026-07-24", "outcome": "AGREED",
                "amount_pounds": 4000}
    path = f"/api/education/cases/{demo.DEMO_CASE}/events"
    refused = api.post(path, "school", json=decision)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["location"] == "/type"
    assert api.post(path, "la", json=decision).status_code == 202


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"type": "GraduatedApproachCycleRecorded", "event_id": "C-1", "cycle_id": "CYC-1",
          "assess_on": "2026-01-19", "plan_on": "2026-01-12", "do_from": "2026-01-26"}, "/"),
        ({"type": "NotionalSenBudgetSpendRecorded", "event_id": "N-1",
          "occurred_on": "2026-07-10", "academic_year": 2025, "amount_pounds": -1}, "/"),
        ({"type": "NotionalSenBudgetSpendRecorded", "event_id": "N-1",
          "occurred_on": "2026-07-10", "academic_year": 2025, "amount_pounds": "6000"},
         "/amount_pounds"),
        ({"type": "TopUpFundingRequested", "event_id": "T-1", "request_id": "TU-1",
          "occurred_on": "2026-07-10", "amount_pounds": 10**12}, "/"),
        ({"type": "TopUpFundingDecided", "event_id": "TD-1", "request_id": "TU-1",
          "occurred_on": "2026-07-24", "outcome": "AGREED"}, "/"),
        ({"type": "TopUpFundingDecided", "event_id": "TD-1", "request_id": "TU-1",
          "occurred_on": "2026-07-24", "outcome": "REFUSED", "amount_pounds": 100}, "/"),
    ],
)
def test_bad_sen_support_evidence_is_422(api: Api, body: dict, location: str) -> None:
    """Dates out of assess-plan-do-review order, negative or huge sums, a decision without a sum."""
    r = api.post(f"/api/education/cases/{demo.DEMO_CASE}/events", "la",
                 json={**body, "case_id": demo.DEMO_CASE})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == location
    assert api.publisher.events == []


def test_social_care_records_care_status_and_a_school_may_not(api: Api) -> None:
    """Care status comes from social care; it is not an education event."""
    body = {"type": "CareStatusRecorded", "event_id": "CS-1", "case_id": demo.DEMO_CASE,
            "occurred_on": "2026-10-05", "status": "PREVIOUSLY_LOOKED_AFTER", "route": "ADOPTION"}
    sc = api.post(f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=body)
    assert sc.status_code == 202, sc.text
    school = api.post(f"/api/education/cases/{demo.DEMO_CASE}/events", "school", json=body)
    assert school.status_code == 422
    no_route = {**body, "event_id": "CS-2", "route": None}
    bad = api.post(f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=no_route)
    assert bad.status_code == 422
    vsh = {"type": "VirtualSchoolHeadNamed", "event_id": "V-1", "case_id": demo.DEMO_CASE,
           "occurred_on": "2026-10-05", "la_code": "99"}
    bad_la = api.post(f"/api/social-care/cases/{demo.DEMO_CASE}/events", "social_care", json=vsh)
    assert bad_la.status_code == 422
    assert len(api.publisher.events) == 1
