"""The workspace's SQL on a real PostgreSQL server: people, sessions, the work tray, the live feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.readmodel import people, views
from ehcp.readmodel.store import open_engine, reset
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.workspace_support import (
    CASE,
    CASE_2,
    FOREIGN_CASE,
    LA,
    MovableClock,
    add_user,
    seed,
    sign_in,
    standard_read_model,
)
from workspace.app import Ports, create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(postgres_url: str) -> Engine:
    """A fresh PostgreSQL database holding the standard read model."""
    made = open_engine(postgres_url)
    standard_read_model(made)
    return made


@pytest.fixture
def clock() -> MovableClock:
    """2 March 2026: the seeded medical advice (due 23 February) is 7 days overdue."""
    return MovableClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def test_tray_filters_and_scopes_on_postgres(engine: Engine, clock: MovableClock) -> None:
    """The tray holds only LA 886's open advice, live days overdue, filtered by agency and officer."""
    officer, _ = add_user(engine, "officer.886", people.Role.CASE_OFFICER, clock=clock)
    people.assign_case(engine, CASE, officer.user_id)
    tray = views.work_tray(engine, LA, clock, views.TrayFilter())
    assert {(i.case_id, i.advice_type, i.days_overdue) for i in tray.items} == {
        (CASE, "MEDICAL", 7), (CASE_2, "MEDICAL", 7)}
    assert tray.per_agency == (("RVV", 2),)
    assert views.work_tray(engine, LA, clock, views.TrayFilter(agency="NOPE")).total == 0
    mine = views.work_tray(engine, LA, clock, views.TrayFilter(officer_id=officer.user_id))
    assert [i.case_id for i in mine.items] == [CASE]
    assert mine.items[0].officer == "officer.886"
    caseload = views.work_tray(engine, LA, clock, views.TrayFilter(), caseload_of=officer.user_id)
    assert [i.case_id for i in caseload.items] == [CASE]
    search = views.work_tray(engine, LA, clock, views.TrayFilter(case_search="0043%_"))
    assert search.total == 0  # LIKE wildcards in a search are literal
    assert views.work_tray(engine, LA, clock, views.TrayFilter(case_search="0043")).total == 1
    clock.advance(days=3)
    assert views.work_tray(engine, LA, clock, views.TrayFilter()).items[0].days_overdue == 10


def test_case_page_and_live_alerts_on_postgres(engine: Engine, clock: MovableClock) -> None:
    """The case page comes through the service layer; the live feed yields only new alerts of the LA."""
    page = views.case_page(engine, LA, clock, CASE)
    assert page is not None
    assert page.detail.summary.case_id == CASE
    assert views.case_page(engine, LA, clock, FOREIGN_CASE) is None
    cursor = views.alert_cursor(engine)
    assert views.alerts_after(engine, LA, clock, cursor)[0] == ()
    seed(engine, rr.alert(CASE_2), rr.alert(FOREIGN_CASE))
    found, moved = views.alerts_after(engine, LA, clock, cursor)
    assert [a.case_id for a in found] == [CASE_2]
    assert views.alerts_after(engine, LA, clock, moved)[0] == ()


def test_people_survive_rebuild_and_lock_out_on_postgres(engine: Engine,
                                                         clock: MovableClock) -> None:
    """Lock-out counts atomically; ``reset`` (rebuild) keeps accounts, assignments and sessions."""
    user, _ = add_user(engine, "mgr.886", people.Role.MANAGER, clock=clock)
    people.assign_case(engine, CASE, user.user_id)
    people.create_session(engine, token_sha256="a" * 64, user_id=user.user_id,
                          csrf_token="c", now=clock.now())  # noqa: S106 -- a test token  # noqa: S106 -- a test token
    for _ in range(4):
        assert not people.record_failed_signin(engine, user.user_id, clock.now(),
                                               max_failures=5, lockout=timedelta(minutes=15))
    assert people.record_failed_signin(engine, user.user_id, clock.now(), max_failures=5,
                                       lockout=timedelta(minutes=15))
    reset(engine)
    kept = people.find_user(engine, "mgr.886")
    assert kept is not None
    assert kept.locked_at(clock.now())
    assert people.caseload(engine, user.user_id) == [CASE]
    assert people.live_session(engine, "a" * 64, clock.now(), idle=timedelta(minutes=30),
                               absolute=timedelta(hours=12)) is not None


def test_sign_in_and_tray_over_http_on_postgres(engine: Engine, clock: MovableClock,
                                                postgres_url: str) -> None:
    """Signed in with password and code, the manager's tray (from PostgreSQL) lists LA 886's cases."""
    _, secret = add_user(engine, "mgr.886", people.Role.MANAGER, clock=clock)
    app = create_app(Settings(pseudonym_key="k" * 40, workspace_plain_http=True),
                     Ports(engine=engine, publisher=InMemoryPublisher(),
                           docstore=InMemoryDocumentStore(), clock=clock))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert sign_in(client, "mgr.886", secret, clock).status_code == 303
        tray = client.get("/tray")
    assert tray.status_code == 200
    assert CASE in tray.text
    assert FOREIGN_CASE not in tray.text


def test_school_filter_child_search_dates_and_sen2_on_postgres(engine: Engine,
                                                               clock: MovableClock) -> None:
    """School and child-identifier narrowing, CaseStatus v3 dates and the SEN2 series on PG."""
    from datetime import date

    from ehcp.readmodel.pseudonyms import child_search_key
    from tests.workspace_support import CASE_NHS_NUMBER, CASE_SCHOOL, OTHER_LA, PSEUDONYM_KEY

    school = views.work_tray(engine, LA, clock, views.TrayFilter(school=CASE_SCHOOL))
    assert [i.case_id for i in school.items] == [CASE]
    key = child_search_key(PSEUDONYM_KEY.encode(), f" {CASE_NHS_NUMBER[:3]}-{CASE_NHS_NUMBER[3:]}")
    found = views.work_tray(engine, LA, clock, views.TrayFilter(child_key=key))
    assert [i.case_id for i in found.items] == [CASE]
    assert views.work_tray(engine, OTHER_LA, clock, views.TrayFilter(child_key=key)).total == 0
    page = views.case_page(engine, LA, clock, CASE)
    assert page is not None
    assert {d.name for d in page.detail.statutory_dates} >= {
        "decision_to_assess_due", "final_plan_due", "advice_due"}
    seed(engine, rr.status(CASE, final_issued=date(2026, 6, 8), exceptions_apply=True))
    sen2 = next(s for s in views.overview(engine, LA, clock) if s.key == "plans-20-weeks")
    assert sen2.rows == ((2026, 1, 0, 0.0, 0, 0, ""),)
