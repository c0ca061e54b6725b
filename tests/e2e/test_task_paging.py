"""A trust polls `GET /fhir/Task` for what changed since its last poll, page by page, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import new_case, referral
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def test_a_trust_polls_new_tasks_with_last_updated_and_count(pipeline: Pipeline) -> None:
    """Three referrals after the trust's last poll: _lastUpdated=gt<poll>&_count=1 walks three pages by next links to exactly those Tasks."""
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    cases = [new_case("PAGE") for _ in range(3)]
    with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
        for case_id, nhs in cases:
            r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                            json=referral(case_id, nhs, datetime.now(UTC)))
            assert r.status_code == 202, r.text
        for case_id, _ in cases:
            pipeline.wait_for_task(case_id)

        def walk() -> list[str]:
            url: str | None = f"/fhir/Task?_lastUpdated=gt{since}&_count=1"
            seen = []
            while url is not None:
                r = client.get(url, headers=pipeline.headers("health"))
                assert r.status_code == 200, r.text
                bundle = r.json()
                assert len(bundle.get("entry", [])) <= 1
                seen += [e["resource"]["groupIdentifier"]["value"] for e in bundle.get("entry", [])]
                links = {link["relation"]: link["url"] for link in bundle["link"]}
                url = links.get("next")
            return seen

        seen = wait_until(lambda: (lambda s: s if len(s) >= 3 else None)(walk()), 60,
                          what="three pages")
        assert sorted(seen) == sorted(c for c, _ in cases)
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        r = client.get(f"/fhir/Task?_lastUpdated=gt{later}", headers=pipeline.headers("health"))
        assert r.json()["total"] == 0
