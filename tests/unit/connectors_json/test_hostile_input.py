"""Hostile input at the JSON APIs: over-long strings, deep nesting, values that must not echo."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cli import demo
from tests.support import synthetic_nhs_number

from .test_education_api import NOW, Api

HOSTILE_NHS_NUMBER = synthetic_nhs_number(4343)
MARKER = "zzhostilemarkerzz"
HOSTILE = f"{MARKER}{HOSTILE_NHS_NUMBER}"
CASE = demo.DEMO_CASE
EVENTS = f"/api/education/cases/{CASE}/events"


@pytest.fixture
def api() -> Api:
    """A fresh app with fakes."""
    return Api()


def additional_advice(**fields: Any) -> dict[str, Any]:
    """An AdditionalAdviceAdded casework event for the demo case."""
    return {"type": "AdditionalAdviceAdded", "event_id": "EHC-999-ADD-1", "case_id": CASE,
            "addition_id": "ADD-1", "advice_type": "OTHER_LA", "occurred_on": "2026-10-05",
            **fields}


def test_a_casework_event_with_free_text_over_4096_characters_is_422(api: Api) -> None:
    """description is free text: 4096 characters are accepted, 4097 refused naming the field."""
    ok = api.post(EVENTS, "la", json=additional_advice(description="x" * 4096))
    assert ok.status_code == 202, ok.text
    r = api.post(EVENTS, "la", json=additional_advice(event_id="EHC-999-ADD-2",
                                                      description="x" * 4097))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"location": "/description",
                                   "message": "this element is longer than 4096 characters"}]
    assert len(api.publisher.events) == 1


def test_a_casework_event_id_over_128_characters_is_422(api: Api) -> None:
    """Ids in casework events (event_id, addition_id, ...) are bounded at 128 characters."""
    r = api.post(EVENTS, "la", json=additional_advice(addition_id="A" * 1_000_000))
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "/addition_id"
    assert api.publisher.events == []


@pytest.mark.parametrize("depth", [100_000, 2_000, 65])
@pytest.mark.parametrize("path", ["/api/education/referrals", "/api/education/advice", EVENTS,
                                  f"/api/education/cases/{CASE}/advice-requests"])
def test_deeply_nested_json_is_a_4xx_problem_not_500(api: Api, path: str, depth: int) -> None:
    """JSON nested far too deep is refused with a problem document, never a 500."""
    body = b'{"case_id":' + b"[" * depth + b"]" * depth + b"}"
    r = api.post(path, "la", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text[:300]
    assert r.headers["content-type"] == "application/problem+json"


def hostile_bodies() -> list[tuple[str, str, Any]]:
    """(credential, path, body) triples each carrying the hostile value in one place."""
    out: list[tuple[str, str, Any]] = []
    referral = demo.referral(NOW)
    for pointer in ("case_id", "la_code", "received_at", "requested_by", "child/nhs_number",
                    "child/upn", "child/la_child_id", "child/date_of_birth", "child/year_group",
                    "areas_of_need/0", "institution/system", "institution/value",
                    "advice_providers/0/advice_type", "advice_providers/0/agency/value",
                    "child/looked_after"):
        body = copy.deepcopy(referral)
        *parents, last = pointer.split("/")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = HOSTILE * 40  # invalid anywhere
        out.append(("la", "/api/education/referrals", body))
    out.append(("la", "/api/education/referrals", {**referral, HOSTILE: 1}))
    out.append(("la", "/api/education/referrals",
                {**referral, "child": {**referral["child"], HOSTILE: HOSTILE}}))
    advice = demo.educational_advice(NOW)
    for field in ("contribution_id", "advice_type", "case_id", "submitted_at", "child"):
        out.append(("la", "/api/education/advice", {**advice, field: HOSTILE * 40}))
    out.append(("la", "/api/education/advice", {**advice, "request_id": HOSTILE * 10}))
    out.append(("social_care", "/api/social-care/advice", {**advice, HOSTILE: HOSTILE}))
    out.append(("social_care", "/api/social-care/advice", {**advice, "advice_type": HOSTILE}))
    request = {"request_id": "REQ-1", "advice_type": "MEDICAL", "sent_on": "2026-10-05",
               "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                          "value": "ZZ901"},
               "child": {"nhs_number": demo.DEMO_NHS_NUMBER}}
    requests_path = f"/api/education/cases/{CASE}/advice-requests"
    for field in ("request_id", "advice_type", "sent_on"):
        out.append(("la", requests_path, {**request, field: HOSTILE * 40}))
    out.append(("la", requests_path, {**request, "child": {"nhs_number": HOSTILE}}))
    out.append(("la", requests_path, {**request, "agency": {"system": HOSTILE * 20,
                                                            "value": HOSTILE * 20}}))
    out.append(("la", f"/api/education/cases/{HOSTILE * 4}/advice-requests", request))
    for field in ("type", "event_id", "case_id", "addition_id", "advice_type", "occurred_on",
                  "agency_id", "description", HOSTILE):
        value = HOSTILE * 300 if field != "type" else HOSTILE
        out.append(("la", EVENTS, additional_advice(**{field: value})))
        out.append(("social_care", f"/api/social-care/cases/{CASE}/events",
                    additional_advice(**{field: value})))
    out.append(("la", f"/api/education/cases/{HOSTILE}/events", additional_advice()))
    return out


def test_no_error_body_echoes_a_hostile_value(api: Api) -> None:
    """Every refusal answers without the marker or the NHS number the request carried."""
    checked = 0
    for who, path, body in hostile_bodies():
        r = api.post(path, who, json=body)
        assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text[:300])
        assert MARKER not in r.text.lower(), (path, r.text)
        assert HOSTILE_NHS_NUMBER not in r.text, (path, r.text)
        checked += 1
    assert checked == len(hostile_bodies())
    assert [e.topic for e in api.publisher.events if e.topic != "ehcp.audit.v1"] == []


def test_a_bad_token_is_not_echoed(api: Api) -> None:
    """A made-up bearer token carrying the hostile value is refused without echoing it."""
    r = api.client.post("/api/education/advice", json=demo.educational_advice(NOW),
                        headers={"Authorization": f"Bearer {HOSTILE}"})
    assert r.status_code == 401
    assert MARKER not in r.text.lower()
