"""What the intake accepts: a referral names the child and is not dated in the future (issue #13 item 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli import demo
from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.clock import FixedClock
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

#: The connectors' clock in these tests: 1 December 2026, 12:00 UTC (also 12:00 in London).
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Intake:
    """The JSON API on a fixed clock, with an LA 999 education credential and a fake publisher."""

    def __init__(self, now: datetime = NOW) -> None:
        self.publisher = InMemoryPublisher()
        credentials = InMemoryCredentialStore()
        credential, self.token = new_credential(LA_CODE_SYSTEM, "999", "education")
        credentials.add(credential)
        app = create_app(
            Settings(pseudonym_key="p" * 32),  # type: ignore[arg-type]
            Ports(publisher=self.publisher, docstore=InMemoryDocumentStore(),
                  credentials=credentials, clock=FixedClock(now)),
        )
        self.client = TestClient(app)

    def refer(self, body: dict[str, Any]) -> Any:
        """POST a referral as LA 999."""
        return self.client.post("/api/education/referrals", json=body,
                                headers={"Authorization": f"Bearer {self.token}"})


def _referral(**child: Any) -> dict[str, Any]:
    body = demo.referral(NOW - timedelta(days=1))
    body["child"] = {"date_of_birth": "2016-03-14", "year_group": 5, **child}
    return body


def test_referral_naming_no_child_identifier_is_422() -> None:
    """A referral whose child has no NHS number, UPN or LA child id is refused with 422 at /child."""
    intake = Intake()
    r = intake.refer(_referral())
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["location"] == "/child"
    assert "identifier" in error["message"]
    assert intake.publisher.events == []


@pytest.mark.parametrize("field", ["nhs_number", "upn", "la_child_id"])
def test_any_one_child_identifier_is_enough(field: str) -> None:
    """One identifier of any kind (NHS number, UPN or LA child id) is enough for a referral."""
    value = {"nhs_number": demo.DEMO_NHS_NUMBER, "upn": demo.DEMO_UPN, "la_child_id": "LA-77"}
    body = _referral(**{field: value[field]})
    body["advice_providers"] = [p for p in body["advice_providers"] if p["advice_type"] != "MEDICAL"]
    r = Intake().refer(body)
    assert r.status_code == 202, r.text


def test_referral_received_in_the_future_is_422() -> None:
    """A referral received in 2027 when the connectors' clock reads 1 December 2026 is refused."""
    intake = Intake()
    body = demo.referral(datetime(2027, 1, 5, 9, tzinfo=UTC))
    r = intake.refer(body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["location"] == "/received_at"
    assert "future" in error["message"]
    assert intake.publisher.events == []


@pytest.mark.parametrize(
    ("ahead", "status"),
    [(timedelta(minutes=4, seconds=59), 202), (timedelta(minutes=5, seconds=1), 422)],
)
def test_received_at_tolerates_five_minutes_of_clock_skew(ahead: timedelta, status: int) -> None:
    """A sender's clock up to 5 minutes ahead of ours is tolerated; more is refused."""
    r = Intake().refer(demo.referral(NOW + ahead))
    assert r.status_code == status, r.text


def test_child_born_in_the_future_is_422() -> None:
    """A date of birth after today's London date is refused at /child/date_of_birth."""
    intake = Intake()
    r = intake.refer(_referral(nhs_number=demo.DEMO_NHS_NUMBER, date_of_birth="2026-12-02"))
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["location"] == "/child/date_of_birth"


def test_born_today_in_london_is_not_the_future_even_when_utc_says_yesterday() -> None:
    """At 23:30 UTC on 31 May it is already 1 June in London, so a child born on 1 June is accepted."""
    now = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    body = demo.referral(now)
    body["child"] = {"nhs_number": demo.DEMO_NHS_NUMBER, "date_of_birth": "2026-06-01"}
    assert Intake(now).refer(body).status_code == 202


def test_referral_received_before_the_child_was_born_is_422() -> None:
    """A request for assessment cannot be received before the child's date of birth."""
    body = demo.referral(datetime(2015, 1, 5, 9, tzinfo=UTC))
    r = Intake().refer(body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "/received_at"


def test_referral_naming_a_health_provider_needs_the_nhs_number() -> None:
    """A referral asking an NHS body (ODS code) for advice must give the NHS number its Task names the patient by."""
    intake = Intake()
    body = _referral(upn=demo.DEMO_UPN)
    assert any(p["agency"]["value"] == demo.DEMO_HEALTH_ODS for p in body["advice_providers"])
    r = intake.refer(body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["location"] == "/child/nhs_number"
    assert intake.publisher.events == []
