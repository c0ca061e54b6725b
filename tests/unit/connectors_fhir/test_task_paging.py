"""`GET /fhir/Task` with `_lastUpdated`, `_count` and next links: a trust polls for changes, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.fhir.task_search import MAX_COUNT

from .support import Harness, advice_request, issue

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _seed(harness: Harness, n: int = 5) -> list[str]:
    """``n`` Tasks for RBZ arriving a minute apart (and one for another trust)."""
    ids = []
    for i in range(n):
        task = harness.tasks.add(advice_request(f"REQ-P-{i:03d}"), at=T0 + timedelta(minutes=i))
        ids.append(task.task_id)
    harness.tasks.add(advice_request("REQ-OTHER", owner="RX1"), at=T0)
    return ids


def _search(harness: Harness, params: object) -> Any:
    """GET /fhir/Task as RBZ with these query parameters (a dict or pairs)."""
    return harness.client.get("/fhir/Task", params=params, headers=harness.headers())


def _ids(bundle: dict[str, object]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]  # type: ignore[attr-defined, index]


def _next(bundle: dict[str, object]) -> dict[str, str] | None:
    links = {link["relation"]: link["url"] for link in bundle["link"]}  # type: ignore[attr-defined, index]
    return dict(parse_qsl(urlsplit(links["next"]).query)) if "next" in links else None


def test_count_pages_through_every_task_once_in_order(harness: Harness) -> None:
    """_count=2 over five Tasks gives pages of 2, 2, 1 linked by next, in arrival order, total 5 on each."""
    ids = _seed(harness)
    seen: list[str] = []
    params: dict[str, str] | None = {"_count": "2"}
    pages = 0
    while params is not None:
        response = _search(harness, params)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert bundle["total"] == 5
        seen += _ids(bundle)
        params = _next(bundle)
        pages += 1
    assert (seen, pages) == (ids, 3)


def test_last_updated_returns_only_what_changed_since(harness: Harness) -> None:
    """_lastUpdated=gt<instant> gives the Tasks that arrived or changed after it; meta.lastUpdated is set."""
    ids = _seed(harness)
    since = (T0 + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    bundle = _search(harness, {"_lastUpdated": f"gt{since}"}).json()
    assert _ids(bundle) == ids[3:]
    assert bundle["entry"][0]["resource"]["meta"]["lastUpdated"].startswith("2025-03-03T09:03")
    # A status change moves an old Task into the window.
    harness.tasks.set_status(ids[0], "accepted", None, None, T0 + timedelta(hours=1))
    again = _search(harness, {"_lastUpdated": f"gt{since}"}).json()
    assert sorted(_ids(again)) == sorted([ids[0], *ids[3:]])


def test_last_updated_ranges_and_days(harness: Harness) -> None:
    """ge/lt bounds combine into a range; a day means the whole UTC day."""
    ids = _seed(harness)
    bundle = _search(harness, [
        ("_lastUpdated", "ge2025-03-03T09:01:00Z"), ("_lastUpdated", "lt2025-03-03T09:03:00Z"),
    ]).json()
    assert _ids(bundle) == ids[1:3]
    assert len(_ids(_search(harness, {"_lastUpdated": "2025-03-03"}).json())) == 5
    assert _ids(_search(harness, {"_lastUpdated": "2025-03-04"}).json()) == []


@pytest.mark.parametrize(("name", "value"), [
    ("_count", "0"), ("_count", str(MAX_COUNT + 1)), ("_count", "ten"), ("_count", "9" * 5000),
    ("_lastUpdated", "yesterday"), ("_lastUpdated", "gt2025-03-03T09:00:00"),
    ("_lastUpdated", "x" * 10_000), ("_cursor", "not-a-cursor"), ("_cursor", "A" * 10_000),
])
def test_bad_paging_values_are_400_without_echo(harness: Harness, name: str, value: str) -> None:
    """Out-of-range counts, times without an offset, garbage and 10 kB values: 400, value not echoed."""
    _seed(harness, 1)
    response = _search(harness, {name: value})
    assert response.status_code == 400
    if len(value) >= 3:  # a one-character value could be in any message by chance
        assert value[:40] not in response.text
    assert issue(response)["severity"] == "error"


def test_paging_never_shows_another_trusts_tasks(harness: Harness) -> None:
    """RX1's Task is in no page RBZ reads, and the total counts RBZ's only."""
    _seed(harness, 3)
    bundle = _search(harness, {"_count": "10", "_lastUpdated": "2025-03-03"}).json()
    assert bundle["total"] == 3
    assert all(e["resource"]["owner"]["identifier"]["value"] == "RBZ" for e in bundle["entry"])
