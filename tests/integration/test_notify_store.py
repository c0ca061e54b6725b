"""The notifier's tables on real PostgreSQL (and SQLite): once per subscription, claims, and rebuild leaves them alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ehcp.clock import FixedClock
from ehcp.contract.topics import ALERTS, REFERRALS
from ehcp.readmodel.store import create_tables as create_readmodel
from ehcp.readmodel.store import open_engine
from ehcp.readmodel.store import reset as reset_readmodel
from notify import store
from notify.fakes import FakeEmailSender
from tests.notify_support import (
    CODEC,
    alert_record,
    at,
    incoming,
    notifier,
    referral_record,
    subscription,
)

pytestmark = pytest.mark.integration
CASE = "EHC-886-2026-0042"


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    made = open_engine(url)
    store.create_tables(made)
    try:
        yield made
    finally:
        made.dispose()


def test_a_batch_read_twice_sends_once_and_a_claim_is_exclusive(engine: Engine) -> None:
    """Deliveries are inserted once per id, claimed by one notifier at a time, and sent once."""
    clock = FixedClock(at(2026, 2, 26, 9))
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    email = FakeEmailSender()
    one = notifier(engine, clock, email=email, instance_id="one")
    batch = [incoming(REFERRALS.name, referral_record(CASE, "886")),
             incoming(ALERTS.name, alert_record(CASE), offset=1)]
    assert one.ingest(batch, CODEC).queued == 1
    assert one.ingest(batch, CODEC).queued == 0
    (delivery_id,) = store.due(engine, 1_900_000_000_000, 10)
    now_ms = int(clock.now().timestamp() * 1000)
    assert store.claim(engine, delivery_id, "two", now_ms, 60_000) is not None
    assert store.claim(engine, delivery_id, "one", now_ms, 60_000) is None
    assert one.dispatch().sent == []
    assert store.release_leases(engine, "two") == 1
    assert one.dispatch().sent == [delivery_id]
    assert one.dispatch().sent == []
    assert len(email.sent) == 1
    assert store.counts(engine) == {("email", "sent"): 1}


def test_hostile_alert_text_is_stored_or_skipped_never_fatal(engine: Engine) -> None:
    """A NUL in an alert's message and a megabyte message are stored safely (JSON, trimmed); a NUL in the case id is skipped."""
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=FakeEmailSender())
    nul = {**alert_record(CASE), "message": "late\x00advice"}
    huge = {**alert_record(CASE), "message": "x" * 1_000_000}
    report = n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                       incoming(ALERTS.name, nul, offset=1),
                       incoming(ALERTS.name, huge, offset=2),
                       incoming(ALERTS.name, alert_record("EHC\x00X"), offset=3)], CODEC)
    assert (report.queued, report.skipped) == (2, 1)
    assert len(n.dispatch().sent) == 2


def test_workspace_rebuild_keeps_subscriptions_and_the_delivery_log(engine: Engine) -> None:
    """`ehcp workspace rebuild` (reset of the read model) drops its own tables, not the notifier's."""
    create_readmodel(engine)
    sub = subscription(email="sen@example.gov.uk")
    store.add_subscription(engine, sub)
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    reset_readmodel(engine)
    assert [s.subscription_id for s in store.all_subscriptions(engine)] == [sub.subscription_id]
    assert store.counts(engine) == {("email", "queued"): 1}


def test_users_subscriptions_the_las_summary_and_a_retry(engine: Engine) -> None:
    """On each database: a case officer hears about their caseload, a manager about every case
    of the LA; the LA's summary counts only its deliveries, names an account without an address;
    a failed delivery is retried only within its LA."""
    from datetime import UTC, datetime

    from ehcp.readmodel import people
    from notify.people import new_user_subscription
    from notify.ports import DeliveryError

    other_case = "EHC-886-2026-0043"
    made = {}
    for name, role, la in (("officer.886", people.Role.CASE_OFFICER, "886"),
                           ("mgr.886", people.Role.MANAGER, "886"),
                           ("mgr.887", people.Role.MANAGER, "887")):
        made[name] = people.add_user(engine, username=name, la_code=la, role=role,
                                     password_hash="h",  # noqa: S106 - never checked here
                                     totp_secret="s",  # noqa: S106 - never checked here
                                     now=datetime(2026, 1, 5, tzinfo=UTC))
        store.add_subscription(engine, new_user_subscription(
            made[name].user_id, kinds=["ADVICE_OVERDUE"], min_severity="INFO", resolved=True,
            digest_at=None, label="", now_ms=0))
    people.set_email(engine, "officer.886", "officer@la886.example.gov.uk")
    people.set_email(engine, "mgr.887", "mgr@la887.example.gov.uk")  # mgr.886 has none
    people.assign_case(engine, CASE, made["officer.886"].user_id)
    email = FakeEmailSender(failure=lambda _m: DeliveryError("SMTP 550 no such mailbox",
                                                             transient=False))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=email)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(REFERRALS.name, referral_record(other_case, "886"), offset=1),
              incoming(ALERTS.name, alert_record(CASE), offset=2),
              incoming(ALERTS.name, alert_record(other_case), offset=3)], CODEC)
    report = n.dispatch()
    # officer: CASE only (failed: the server refuses); mgr.886: both cases (no address).
    assert (len(report.failed), len(report.cancelled)) == (1, 2)
    summary = store.delivery_summary(engine, "886")
    assert summary.channels["email"] == {"queued": 0, "sent": 0, "failed": 1, "cancelled": 2}
    assert [(u.username, u.reason) for u in summary.unreachable] == [
        ("mgr.886", "the workspace account has no email address")]
    assert store.delivery_summary(engine, "887").channels["email"]["failed"] == 0
    (failed,) = store.deliveries_with(engine, store.FAILED, la_code="886")
    assert failed.case_id == CASE
    assert store.deliveries_with(engine, store.FAILED, la_code="887") == []
    assert not store.retry_failed(engine, failed.delivery_id, 5, la_code="887")
    assert store.retry_failed(engine, failed.delivery_id, 5, la_code="886")
    assert store.delivery_summary(engine, None).channels["email"]["queued"] == 1


@pytest.mark.parametrize("status_first", [False, True])
def test_a_plan_transfer_moves_the_case_owner_in_either_read_order(
        engine: Engine, status_first: bool) -> None:
    """On PostgreSQL and SQLite: a referral to 886 and a CaseStatus v4 naming 887, read in either
    order, leave 887 the owner (the read model's rule), and an upgraded notifier's owner row
    without sources (written from a referral before statuses were read) is kept as the
    referral's LA until a status names another."""
    import uuid

    from ehcp.contract.topics import CASE_STATUS
    from tests.notify_support import status_record

    case = f"EHC-886-{uuid.uuid4().hex[:8]}"
    legacy = f"EHC-886-{uuid.uuid4().hex[:8]}"
    n = notifier(engine, FixedClock(at(2026, 6, 10, 9)))
    referral = incoming(REFERRALS.name, referral_record(case, "886"))
    status = incoming(CASE_STATUS.name, status_record(case, "887"))
    n.ingest([status, referral] if status_first else [referral, status], CODEC)
    with engine.begin() as conn:
        store.record_owner(conn, legacy, "886")  # as a notifier before this change left it
    n.ingest([incoming(CASE_STATUS.name, status_record(legacy, None))], CODEC)
    with engine.connect() as conn:
        assert store.owner_of(conn, case) == "887"
        assert store.owner_of(conn, legacy) == "886"
    n.ingest([incoming(CASE_STATUS.name, status_record(legacy, "888"))], CODEC)
    n.ingest([incoming(CASE_STATUS.name, status_record(legacy, None))], CODEC)  # back: referral
    with engine.connect() as conn:
        assert store.owner_of(conn, legacy) == "886"
