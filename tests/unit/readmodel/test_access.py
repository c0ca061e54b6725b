"""What an LA may see through ``ehcp.readmodel.access`` (SQLite here; the same tests run on the
real PostgreSQL in ``tests/integration/test_readmodel_access.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ehcp.clock import FixedClock
from ehcp.contract import records
from ehcp.contract.topics import ALERTS, CASE_STATUS, CONTRIBUTIONS_ROUTED
from ehcp.errors import ValidationError
from ehcp.readmodel.access import (
    MAX_PAGE,
    LaView,
    decode_cursor,
    encode_cursor,
    page_limit,
)
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import apply_batch, create_tables, open_engine
from ehcp.readmodel.views import may_see_case
from tests import readmodel_records as rr
from tests.unit.contract.records import ADVICE_SUBMITTED, ALERT

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: 23:30 UTC on 30 June is 1 July in London (BST): days overdue count on London's calendar.
LATE_EVENING = FixedClock(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A fresh in-memory SQLite read model."""
    engine = open_engine("sqlite://")
    create_tables(engine)
    yield engine
    engine.dispose()


class Feed:
    """Feeds records to the store as the projector would, one partition per topic."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.offsets: dict[str, int] = {}
        self.clock = T0

    def send(self, *messages: rr.Message) -> None:
        """Apply ``messages`` as one batch, each a minute after the last."""
        sources = []
        for topic, key, value, headers in messages:
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            self.clock += timedelta(minutes=1)
            sources.append(Source(topic, 0, offset, key, value, tuple(headers),
                                  int(self.clock.timestamp() * 1000)))
        apply_batch(self.engine, sources, rr.CODEC)


def status(case_id: str, **changes: Any) -> rr.Message:
    """A ``CaseStatus`` with medical advice declined and educational advice received."""
    record: dict[str, Any] = {
        "case_id": case_id, "stage": "ASSESSMENT", "received_on": date(2026, 1, 12),
        "final_plan_due_on": date(2026, 6, 1), "as_of": date(2026, 2, 26),
        "advice": [
            {"advice_type": "MEDICAL", "regulation": "reg 6(1)(c)", "status": "DECLINED",
             "request_id": f"req-{case_id}-medical",
             "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RVV"},
             "due_on": date(2026, 2, 23), "contribution_ids": [],
             "decline_reason": "WRONG_SERVICE"},
            {"advice_type": "EDUCATIONAL", "regulation": "reg 6(1)(b)", "status": "RECEIVED",
             "request_id": None, "agency": None, "due_on": None,
             "contribution_ids": [f"c-{case_id}"], "decline_reason": None},
        ],
        "open_alerts": 1, **changes,
    }
    return (CASE_STATUS.name, case_id.encode(), rr.CODEC.encode(records.CASE_STATUS, record), [])


def alert(case_id: str, alert_id: str, *, event_id: str | None = None, status_: str = "RAISED",
          due_on: date | None = date(2026, 6, 20)) -> rr.Message:
    """An alert event of ``alert_id``."""
    record = {**ALERT, "event_id": event_id or str(uuid.uuid4()), "alert_id": alert_id,
              "case_id": case_id, "status": status_, "due_on": due_on, "days_overdue": 2}
    return (ALERTS.name, case_id.encode(), rr.CODEC.encode(records.ALERT, record), [])


def routed(case_id: str, sha256: str | None, event_id: str | None = None, *,
           size_bytes: int = 1234) -> rr.Message:
    """Advice routed into ``case_id`` with a document (or none)."""
    document = None if sha256 is None else {
        "sha256": sha256, "size_bytes": size_bytes, "content_type": "application/pdf"}
    record = {**ADVICE_SUBMITTED, "event_id": event_id or str(uuid.uuid4()),
              "case_id": case_id, "contribution_id": f"c-{case_id}", "document": document}
    return (CONTRIBUTIONS_ROUTED.name, case_id.encode(),
            rr.CODEC.encode(records.ADVICE_SUBMITTED, record), [])


SHA_886 = "a" * 64
SHA_212 = "b" * 64


@pytest.fixture
def feed(engine: Engine) -> Feed:
    """Cases A, B, C of LA 886 and X of LA 212, with alerts and advice."""
    feed = Feed(engine)
    feed.send(
        rr.referral("EHC-A", "886"), rr.referral("EHC-B", "886"), rr.referral("EHC-C", "886"),
        rr.referral("EHC-X", "212"),
        status("EHC-A"), status("EHC-B"), status("EHC-C"), status("EHC-X"),
        alert("EHC-A", "A|overdue", event_id="ev-a1"), alert("EHC-X", "X|overdue"),
        routed("EHC-A", SHA_886, "adv-a"), routed("EHC-X", SHA_212, "adv-x"),
    )
    return feed


def view(engine: Engine, la: str = "886", clock: FixedClock = LATE_EVENING) -> LaView:
    """The view of ``la``."""
    return LaView(engine, la, clock)


def _all_cases(la: LaView, cursor: str | None = None, limit: int = 2) -> list[str]:
    seen = []
    while True:
        page = la.cases_changed(cursor=cursor, limit=limit)
        seen += [c.case_id for c in page.items]
        cursor = page.cursor
        if not page.has_more:
            return seen


def test_cases_page_by_cursor_and_never_show_another_las(engine: Engine, feed: Feed) -> None:
    """Paging two at a time lists LA 886's three cases once each and never LA 212's."""
    la = view(engine)
    first = la.cases_changed(limit=2)
    assert len(first.items) == 2
    assert first.has_more
    second = la.cases_changed(cursor=first.cursor, limit=2)
    assert not second.has_more
    assert sorted(c.case_id for c in first.items + second.items) == ["EHC-A", "EHC-B", "EHC-C"]
    assert [c.case_id for c in view(engine, "212").cases_changed().items] == ["EHC-X"]
    assert view(engine, "999").cases_changed().items == ()


def test_a_case_changed_while_a_client_pages_comes_again_later(
    engine: Engine, feed: Feed
) -> None:
    """A case changed between two pages is listed again after the cursor, never skipped."""
    la = view(engine)
    first = la.cases_changed(limit=2)
    seen_first = [c.case_id for c in first.items]
    feed.send(status(seen_first[0], stage="DRAFTING"))
    rest = _all_cases(la, first.cursor)
    assert rest[-1] == seen_first[0]
    assert sorted(set(seen_first + rest)) == ["EHC-A", "EHC-B", "EHC-C"]
    again = la.case(seen_first[0])
    assert again is not None
    assert again.summary.stage == "DRAFTING"
    # Caught up: the cursor of an empty page is stable and nothing is repeated.
    done = la.cases_changed(cursor=la.cases_changed(cursor=first.cursor, limit=50).cursor)
    assert done.items == ()
    assert not done.has_more


def test_new_alerts_or_advice_make_their_case_change(engine: Engine, feed: Feed) -> None:
    """An alert or advice arriving on a case lists the case again after the client's cursor."""
    la = view(engine)
    caught_up = la.cases_changed(limit=50).cursor
    feed.send(alert("EHC-B", "B|due"), routed("EHC-C", None))
    assert [c.case_id for c in la.cases_changed(cursor=caught_up).items] == ["EHC-B", "EHC-C"]


def test_rows_read_before_the_referral_appear_after_the_cursor_once_it_arrives(
    engine: Engine, feed: Feed
) -> None:
    """An alert and advice read before their case's referral are listed after a later cursor."""
    la = view(engine)
    alerts_cursor = la.alerts(limit=50).cursor
    docs_cursor = la.documents(limit=50).cursor
    cases_cursor = la.cases_changed(limit=50).cursor
    feed.send(status("EHC-LATE"), alert("EHC-LATE", "L|overdue"), routed("EHC-LATE", "c" * 64))
    assert la.alerts(cursor=alerts_cursor).items == ()
    feed.send(rr.referral("EHC-LATE", "886"))
    assert [a.case_id for a in la.alerts(cursor=alerts_cursor).items] == ["EHC-LATE"]
    assert [d.case_id for d in la.documents(cursor=docs_cursor).items] == ["EHC-LATE"]
    assert [c.case_id for c in la.cases_changed(cursor=cases_cursor).items] == ["EHC-LATE"]


def test_updated_since_lists_cases_changed_at_or_after_a_time(engine: Engine, feed: Feed) -> None:
    """``updated_since`` leaves out cases whose last change is older; a naive time is refused."""
    la = view(engine)
    before = feed.clock
    feed.send(status("EHC-B", stage="DRAFTING"))
    assert [c.case_id for c in la.cases_changed(updated_since=before).items] == ["EHC-B"]
    changed = la.cases_changed(updated_since=before).items[0]
    assert changed.updated_at > before
    with pytest.raises(ValidationError):
        la.cases_changed(updated_since=before.replace(tzinfo=None))


def test_a_v3_case_reads_with_every_engine_date_its_status_and_the_sen2_flag(
    engine: Engine, feed: Feed
) -> None:
    """With CaseStatus v3 the case carries each limit the engine worked out (status, done date,
    exceptions, regulation) beside the advice dates, and the decision/final plan dates."""
    feed.send(rr.referral("EHC-V3", "886"),
              rr.status("EHC-V3", final_issued=date(2026, 6, 8), exceptions_apply=True))
    case = view(engine).case("EHC-V3")
    assert case is not None
    assert [(d.name, d.status, d.completed_on) for d in case.statutory_dates] == [
        ("advice_due", None, None),  # the same day: by name
        ("decision_to_assess_due", "MET", date(2026, 2, 2)),
        ("final_plan_due", "MISSED", date(2026, 6, 8)),
    ]
    final = case.statutory_dates[-1]
    assert final.regulation.startswith("reg 13(2)")
    assert final.excused
    assert final.exception_ids == ("X-1",)
    assert (case.summary.decided_to_assess_on, case.summary.final_plan_issued_on,
            case.summary.exceptions_apply) == (date(2026, 2, 2), date(2026, 6, 8), True)
    assert view(engine, "212").case("EHC-V3") is None


def test_one_case_with_dates_regulations_advice_documents_and_open_alerts(
    engine: Engine, feed: Feed
) -> None:
    """A case reads with its statutory dates and their regulations, advice items, received
    advice with its document claim, and its open alerts."""
    case = view(engine).case("EHC-A")
    assert case is not None
    assert case.summary.stage == "ASSESSMENT"
    assert [(d.name, d.due_on, d.regulation, d.advice_type) for d in case.statutory_dates] == [
        ("advice_due", date(2026, 2, 23), "reg 8(1)", "MEDICAL"),
        ("final_plan_due", date(2026, 6, 1), "reg 13(2)", None),
    ]
    medical = next(i for i in case.advice_items if i.advice_type == "MEDICAL")
    assert (medical.status, medical.decline_reason, medical.agency and medical.agency.value) == (
        "DECLINED", "WRONG_SERVICE", "RVV")
    (received,) = case.advice_received
    assert received.document is not None
    assert received.document.sha256 == SHA_886
    assert [a.alert_id for a in case.open_alerts] == ["A|overdue"]


def test_another_las_or_an_unknown_case_is_not_found(engine: Engine, feed: Feed) -> None:
    """LA 886 gets None for LA 212's case, an unknown id and an over-long id."""
    la = view(engine)
    assert la.case("EHC-X") is None
    assert la.case("EHC-NOPE") is None
    assert la.case("E" * 10_000) is None
    assert view(engine, "212").case("EHC-X") is not None


def test_alerts_show_each_alert_once_by_its_latest_event(engine: Engine, feed: Feed) -> None:
    """A re-sent event is shown once; a resolving event closes the alert; a re-raise opens it."""
    la = view(engine)
    feed.send(alert("EHC-A", "A|overdue", event_id="ev-a1"),  # re-sent: stored once
              alert("EHC-B", "B|soon"), alert("EHC-B", "B|soon", status_="RESOLVED"))
    shown = {a.alert_id: a.open for a in la.alerts(limit=50).items}
    assert shown == {"A|overdue": True, "B|soon": False}
    assert [a.alert_id for a in la.alerts(open_only=True).items] == ["A|overdue"]
    feed.send(alert("EHC-B", "B|soon"))  # a new episode
    assert sorted(a.alert_id for a in la.alerts(open_only=True).items) == ["A|overdue", "B|soon"]
    assert "X|overdue" not in {a.alert_id for a in la.alerts(limit=50).items}


def test_days_overdue_are_counted_at_read_time_on_londons_calendar(
    engine: Engine, feed: Feed
) -> None:
    """Due 20 June, read at 23:30 UTC on 30 June (1 July in London): 11 days; resolved keeps 2."""
    feed.send(alert("EHC-B", "B|old"), alert("EHC-B", "B|old", status_="RESOLVED"))
    by_id = {a.alert_id: a for a in view(engine).alerts(limit=50).items}
    assert by_id["A|overdue"].days_overdue == 11
    assert by_id["B|old"].days_overdue == 2
    early = view(engine, clock=FixedClock(datetime(2026, 6, 1, tzinfo=UTC)))
    assert {a.alert_id: a.days_overdue for a in early.alerts().items}["A|overdue"] == 0


def test_a_document_is_found_only_through_advice_on_the_las_cases(
    engine: Engine, feed: Feed
) -> None:
    """LA 886 gets its document's claim; LA 212's existing document is None; a bad id is refused."""
    la = view(engine)
    claim = la.document(SHA_886)
    assert claim is not None
    assert (claim.size_bytes, claim.content_type) == (1234, "application/pdf")
    assert la.document(SHA_212) is None
    assert view(engine, "212").document(SHA_212) is not None
    for bad in ("A" * 64, "a" * 63, "../../etc/passwd", "a" * 100_000):
        with pytest.raises(ValidationError):
            la.document(bad)


def test_documents_page_by_cursor_case_and_time(engine: Engine, feed: Feed) -> None:
    """Advice documents list by case, after a time (strictly or not) and by cursor."""
    la = view(engine)
    before = feed.clock
    feed.send(routed("EHC-B", "d" * 64, "adv-b"), routed("EHC-C", None))
    assert [d.event_id for d in la.documents().items] == ["adv-a", "adv-b"]
    assert [d.event_id for d in la.documents(case_id="EHC-B").items] == ["adv-b"]
    assert [d.event_id for d in la.documents(updated_after=before).items] == ["adv-b"]
    at = la.documents(case_id="EHC-B").items[0].updated_at
    assert la.documents(updated_after=at).items == ()
    assert [d.event_id for d in la.documents(updated_after=at, inclusive=True).items] == ["adv-b"]
    first = la.documents(limit=1)
    assert first.has_more
    assert [d.event_id for d in la.documents(cursor=first.cursor).items] == ["adv-b"]
    assert la.advice("adv-x") is None
    assert la.advice("adv-a") is not None


@pytest.mark.parametrize("bad", ["nonsense", "YzEuLTE", "YzEuYWJj", encode_cursor(1) + "!",
                                 "x" * 100, "Yz" * 40])
def test_a_cursor_not_given_out_by_the_service_is_refused(bad: str) -> None:
    """Garbage, a negative or non-numeric number, or a huge string: a ValidationError."""
    with pytest.raises(ValidationError) as caught:
        decode_cursor(bad)
    assert caught.value.location == "cursor"


def test_cursors_round_trip_and_limits_are_capped() -> None:
    """A cursor decodes to its number; a huge limit is cut to MAX_PAGE; zero is refused."""
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert decode_cursor(None) == 0
    assert page_limit(10**9) == MAX_PAGE
    assert page_limit(None) > 0
    with pytest.raises(ValidationError):
        page_limit(0)


def test_a_transferred_case_is_the_new_las_and_no_longer_the_old_las(
    engine: Engine, feed: Feed
) -> None:
    """After a status naming LA 212 (reg 15 transfer) LA 212 reads EHC-A, its alerts and its
    document, and pages them after the cursors it held; LA 886 gets not found for all of it."""
    new, old = view(engine, "212"), view(engine)
    cursors = (new.cases_changed(limit=50).cursor, new.alerts(limit=50).cursor,
               new.documents(limit=50).cursor)
    feed.send(status("EHC-A", la_code="212"))
    case = new.case("EHC-A")
    assert case is not None
    assert [a.alert_id for a in case.open_alerts] == ["A|overdue"]
    assert [r.document.sha256 for r in case.advice_received if r.document] == [SHA_886]
    assert new.document(SHA_886) is not None
    assert [c.case_id for c in new.cases_changed(cursor=cursors[0]).items] == ["EHC-A"]
    assert [a.alert_id for a in new.alerts(cursor=cursors[1]).items] == ["A|overdue"]
    assert [d.case_id for d in new.documents(cursor=cursors[2]).items] == ["EHC-A"]
    assert old.case("EHC-A") is None
    assert old.document(SHA_886) is None
    assert "A|overdue" not in {a.alert_id for a in old.alerts(limit=50).items}
    assert sorted(_all_cases(old)) == ["EHC-B", "EHC-C"]
    # The workspace's own check (case page, actions) follows the same owner.
    assert may_see_case(engine, "212", "EHC-A")
    assert not may_see_case(engine, "886", "EHC-A")


def test_a_transfer_read_before_the_referral_files_the_case_under_the_new_la(
    engine: Engine
) -> None:
    """The transfer's status, an alert and advice read before the old LA's referral: the case
    is the new LA's throughout, and the referral read later does not give it back."""
    feed = Feed(engine)
    feed.send(status("EHC-Z", la_code="212"), alert("EHC-Z", "Z|overdue"),
              routed("EHC-Z", SHA_212))
    assert view(engine, "212").case("EHC-Z") is not None
    feed.send(rr.referral("EHC-Z", "886"))
    detail = view(engine, "212").case("EHC-Z")
    assert detail is not None
    assert [a.alert_id for a in detail.open_alerts] == ["Z|overdue"]
    assert view(engine, "212").document(SHA_212) is not None
    assert view(engine).case("EHC-Z") is None
    assert view(engine).document(SHA_212) is None
