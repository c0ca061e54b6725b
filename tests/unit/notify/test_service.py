"""The notifier with fake channels on a SQLite database: once per subscription, retries, digests."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ehcp.clock import FixedClock
from ehcp.contract.topics import ALERTS, CASE_STATUS, REFERRALS
from notify import store
from notify.fakes import FakeEmailSender, FakeWebhookSender
from notify.ports import DeliveryError
from notify.service import Incoming, Notifier
from tests.notify_support import (
    CODEC,
    WORKSPACE,
    alert_record,
    at,
    child_secrets,
    incoming,
    notifier,
    referral_record,
    sqlite_engine,
    status_record,
    subscription,
)

CASE = "EHC-886-2026-0042"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return sqlite_engine(tmp_path)


def test_an_overdue_alert_is_emailed_once_even_when_read_twice(engine: Engine) -> None:
    """Referral then alert: one email to the LA's officer naming case, advice, due date and link; a re-read batch sends nothing more."""
    clock = FixedClock(at(2026, 2, 26, 9))
    email = FakeEmailSender()
    store.add_subscription(engine, subscription(email="sen.officer@example.gov.uk"))
    n = notifier(engine, clock, email=email)
    referral = referral_record(CASE, "886")
    batch = [incoming(REFERRALS.name, referral),
             incoming(ALERTS.name, alert_record(CASE), offset=1)]
    assert n.ingest(batch, CODEC).queued == 1
    assert n.ingest(batch, CODEC).queued == 0  # the same records again (a restart)
    assert len(n.dispatch().sent) == 1
    assert n.dispatch().sent == []
    (sent,) = email.sent
    assert sent.to == "sen.officer@example.gov.uk"
    for part in (sent.subject, sent.text, sent.html):
        assert CASE in part
        assert "medical advice" in part
        assert "2026-02-23" in part
    assert f"{WORKSPACE}/cases/{CASE}" in sent.text
    assert f'href="{WORKSPACE}/cases/{CASE}"' in sent.html
    for secret in child_secrets(referral):
        assert secret not in sent.text + sent.html + sent.subject


def test_another_las_subscription_hears_nothing(engine: Engine) -> None:
    """An alert on LA 886's case queues nothing for LA 887's officer."""
    store.add_subscription(engine, subscription(la="887", email="other@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    report = n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                       incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert (report.alerts, report.queued) == (1, 0)


def test_an_alert_before_its_referral_waits_for_the_case_owner(engine: Engine) -> None:
    """An alert read before its case's referral is held, then queued when the referral is read."""
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    first = n.ingest([incoming(ALERTS.name, alert_record(CASE))], CODEC)
    assert (first.held, first.queued) == (1, 0)
    assert store.waiting_counts(engine) == (1, 0)
    second = n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886"))], CODEC)
    assert second.queued == 1
    assert store.waiting_counts(engine) == (0, 0)


def test_the_asked_agency_gets_a_reminder_without_a_case_link(engine: Engine) -> None:
    """The trust asked for the medical advice is reminded (webhook), with no workspace link; another trust is not."""
    hooks = FakeWebhookSender()
    store.add_subscription(engine, subscription(agency="ods:RVV",
                                                webhook="https://trust.example.nhs.uk/h"))
    store.add_subscription(engine, subscription(agency="ods:RXX",
                                                webhook="https://other.example.nhs.uk/h"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), webhooks=hooks)
    n.ingest([incoming(ALERTS.name, alert_record(CASE))], CODEC)
    n.dispatch()
    (call,) = hooks.sent
    assert call.url == "https://trust.example.nhs.uk/h"
    assert b'"case_url":null' in call.body
    assert CASE.encode() in call.body
    assert call.message_id.startswith("msg_")


def test_unreadable_and_hostile_records_are_skipped_not_fatal(engine: Engine) -> None:
    """Bytes that are not Avro, and an alert with a megabyte case id, are skipped; the next alert is still queued."""
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    report = n.ingest([
        incoming(REFERRALS.name, referral_record(CASE, "886")),
        Incoming(ALERTS.name, 0, 1, b"not avro", 1_800_000_000_000),
        incoming(ALERTS.name, alert_record("X" * 1_000_000), offset=2),
        incoming(ALERTS.name, alert_record("EHC\x00NUL"), offset=3),
        incoming(ALERTS.name, alert_record(CASE), offset=4),
    ], CODEC)
    assert (report.skipped, report.queued) == (3, 1)


def test_transient_failures_back_off_then_dead_letter(engine: Engine) -> None:
    """A dropped connection is retried after 5 s, 10 s, ...; once the retry time has passed the delivery is failed."""
    clock = FixedClock(at(2026, 2, 26, 9))
    email = FakeEmailSender(failure=lambda _e: DeliveryError("dropped", transient=True))
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    n = notifier(engine, clock, email=email, retry_for_s=60)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert len(n.dispatch().retrying) == 1
    assert n.dispatch().retrying == []  # not due yet
    clock.instant += timedelta(seconds=5)
    assert len(n.dispatch().retrying) == 1
    clock.instant += timedelta(seconds=9)
    assert n.dispatch().retrying == []  # second back-off is 10 s
    clock.instant += timedelta(seconds=61)
    assert len(n.dispatch().failed) == 1
    (dead,) = store.deliveries_with(engine, store.FAILED)
    assert (dead.attempts, dead.last_error) == (3, "dropped")
    assert store.counts(engine) == {("email", "failed"): 1}


def test_a_permanent_refusal_is_dead_lettered_at_once(engine: Engine) -> None:
    """A 5xx-style refusal is not retried."""
    email = FakeEmailSender(failure=lambda _e: DeliveryError("SMTP server refused (550)",
                                                             transient=False))
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=email)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert len(n.dispatch().failed) == 1


def test_a_claimed_delivery_is_not_sent_by_a_second_notifier(engine: Engine) -> None:
    """While one notifier holds a delivery's lease another cannot claim it; after a restart its owner takes it back."""
    clock = FixedClock(at(2026, 2, 26, 9))
    store.add_subscription(engine, subscription(email="sen@example.gov.uk"))
    one = notifier(engine, clock, instance_id="one")
    one.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    (delivery_id,) = store.due(engine, 1_900_000_000_000, 10)
    assert store.claim(engine, delivery_id, "one", 1_772_096_400_000, 300_000) is not None
    two_email = FakeEmailSender()
    assert notifier(engine, clock, email=two_email, instance_id="two").dispatch().sent == []
    # "one" was killed mid-send and restarts: it releases its own leases and sends.
    one_email = FakeEmailSender()
    again = notifier(engine, clock, email=one_email, instance_id="one")
    assert again.release_own_leases() == 1
    assert again.dispatch().sent == [delivery_id]
    assert (len(one_email.sent), two_email.sent) == (1, [])


def test_a_daily_digest_collects_alerts_until_its_working_day_time(engine: Engine) -> None:
    """Alerts on Friday evening and Saturday go into Monday's 08:00 digest, once."""
    clock = FixedClock(at(2026, 3, 6, 18))  # Friday 6 March 2026, 18:00 GMT
    email = FakeEmailSender()
    store.add_subscription(engine, subscription(email="sen@example.gov.uk", digest_at=time(8)))
    n = notifier(engine, clock, email=email)
    friday = int(at(2026, 3, 6, 18).timestamp() * 1000)
    saturday = int(at(2026, 3, 7, 10).timestamp() * 1000)
    report = n.ingest([
        incoming(REFERRALS.name, referral_record(CASE, "886")),
        incoming(ALERTS.name, alert_record(CASE), offset=1, timestamp_ms=friday),
        incoming(ALERTS.name, alert_record(CASE, kind="DEADLINE_AT_RISK"), offset=2,
                 timestamp_ms=saturday),
    ], CODEC)
    assert (report.queued, report.digest_items) == (0, 2)
    clock.instant = at(2026, 3, 8, 20)  # Sunday: no digest
    assert n.close_digests() == 0
    clock.instant = at(2026, 3, 9, 8)  # Monday 08:00
    assert n.close_digests() == 1
    assert n.close_digests() == 0
    n.dispatch()
    (digest,) = email.sent
    assert "2 alert change(s)" in digest.subject
    assert digest.text.count(CASE) >= 2


def test_removing_a_subscription_cancels_what_it_had_queued(engine: Engine) -> None:
    """A queued delivery of a removed subscription is cancelled, never sent."""
    email = FakeEmailSender()
    sub = subscription(email="sen@example.gov.uk")
    store.add_subscription(engine, sub)
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=email)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert store.remove_subscription(engine, sub.subscription_id, 0)
    assert not store.remove_subscription(engine, sub.subscription_id, 0)
    assert n.dispatch().sent == []
    assert store.counts(engine) == {("email", "cancelled"): 1}


def test_a_new_subscription_is_not_told_the_history(engine: Engine) -> None:
    """An alert recorded before the subscription was made queues nothing for it."""
    store.add_subscription(engine, subscription(email="sen@example.gov.uk",
                                                created_ms=1_900_000_000_000))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    report = n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                       incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert report.queued == 0


def test_an_agencys_digest_has_no_workspace_link_and_an_las_has(engine: Engine) -> None:
    """Both a trust's and an LA's daily digest hold the reminder; only the LA's links to the workspace."""
    clock = FixedClock(at(2026, 3, 6, 18))
    email = FakeEmailSender()
    store.add_subscription(engine, subscription(agency="ods:RVV", email="trust@example.nhs.uk",
                                                digest_at=time(8)))
    store.add_subscription(engine, subscription(email="sen@example.gov.uk", digest_at=time(8)))
    n = notifier(engine, clock, email=email)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1,
                       timestamp_ms=int(at(2026, 3, 6, 18).timestamp() * 1000))], CODEC)
    clock.instant = at(2026, 3, 9, 8, 1)
    assert n.close_digests() == 2
    n.dispatch()
    by_to = {m.to: m for m in email.sent}
    assert WORKSPACE not in by_to["trust@example.nhs.uk"].text + by_to["trust@example.nhs.uk"].html
    assert f"{WORKSPACE}/cases/{CASE}" in by_to["sen@example.gov.uk"].text
    assert CASE in by_to["trust@example.nhs.uk"].text


# -- the case's owner follows a reg 15 plan transfer (CaseStatus v4's la_code) -----------------

def _recipients(n: Notifier, email: FakeEmailSender) -> list[str]:
    n.dispatch()
    return sorted(m.to for m in email.sent)


@pytest.mark.parametrize("order", ["referral_first", "status_first"])
def test_a_transferred_cases_alerts_go_to_the_new_la_in_either_read_order(
        engine: Engine, order: str) -> None:
    """Referral to 886, status naming 887 (a plan transfer), read in either order: the case is
    887's and its alert reaches 887's officer, not 886's."""
    email = FakeEmailSender()
    store.add_subscription(engine, subscription(la="886", email="old@example.gov.uk"))
    store.add_subscription(engine, subscription(la="887", email="new@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 6, 10, 9)), email=email)
    referral = incoming(REFERRALS.name, referral_record(CASE, "886"))
    status = incoming(CASE_STATUS.name, status_record(CASE, "887"))
    first, second = (referral, status) if order == "referral_first" else (status, referral)
    n.ingest([first], CODEC)
    n.ingest([second], CODEC)
    with engine.connect() as conn:
        assert store.owner_of(conn, CASE) == "887"
    report = n.ingest([incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert (report.held, report.queued) == (0, 1)
    assert _recipients(n, email) == ["new@example.gov.uk"]


def test_an_alert_held_before_any_owner_goes_to_the_la_a_status_names(engine: Engine) -> None:
    """An alert read before anything names its case's LA is held; a v4 status naming 887 (read
    before the referral) releases it to 887; the later referral to 886 changes nothing."""
    email = FakeEmailSender()
    store.add_subscription(engine, subscription(la="886", email="old@example.gov.uk"))
    store.add_subscription(engine, subscription(la="887", email="new@example.gov.uk"))
    n = notifier(engine, FixedClock(at(2026, 6, 10, 9)), email=email)
    assert n.ingest([incoming(ALERTS.name, alert_record(CASE))], CODEC).held == 1
    assert n.ingest([incoming(CASE_STATUS.name, status_record(CASE, "887"))],
                    CODEC).queued == 1
    assert n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886"))], CODEC).queued == 0
    with engine.connect() as conn:
        assert store.owner_of(conn, CASE) == "887"
    assert _recipients(n, email) == ["new@example.gov.uk"]


def test_a_pre_v4_status_leaves_the_referral_la_and_the_latest_status_wins(
        engine: Engine) -> None:
    """A status with no LA (before v4) keeps the referral's LA; transfers 886 -> 887 -> 888 end
    with 888 (the latest status), and a status without an LA after them falls back to the
    referral's LA, as the read model does."""
    n = notifier(engine, FixedClock(at(2026, 6, 10, 9)))

    def owner() -> str | None:
        with engine.connect() as conn:
            return store.owner_of(conn, CASE)

    n.ingest([incoming(CASE_STATUS.name, status_record(CASE, None))], CODEC)
    assert owner() is None  # nothing names the LA yet
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886"))], CODEC)
    assert owner() == "886"
    n.ingest([incoming(CASE_STATUS.name, status_record(CASE, "887"))], CODEC)
    n.ingest([incoming(CASE_STATUS.name, status_record(CASE, "888"))], CODEC)
    assert owner() == "888"
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "999"))], CODEC)  # a second referral
    assert owner() == "888"
    n.ingest([incoming(CASE_STATUS.name, status_record(CASE, None))], CODEC)
    assert owner() == "886"


def test_hostile_or_removed_statuses_are_skipped_not_fatal(engine: Engine) -> None:
    """A tombstone, garbage bytes and an over-long LA code on the status topic change no owner
    and stop nothing."""
    n = notifier(engine, FixedClock(at(2026, 6, 10, 9)))
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886"))], CODEC)
    long_la = status_record(CASE, "8" * 1_000_000)
    report = n.ingest([
        Incoming(CASE_STATUS.name, 0, 1, None, 0),
        Incoming(CASE_STATUS.name, 0, 2, b"\x00" * 1000, 0),
        incoming(CASE_STATUS.name, long_la, offset=3),
    ], CODEC)
    assert (report.statuses, report.skipped) == (0, 2)
    with engine.connect() as conn:
        assert store.owner_of(conn, CASE) == "886"
