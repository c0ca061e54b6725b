"""Workspace users' subscriptions: their LA's cases (a case officer: their caseload), the
address read from the account at send time, and nothing for a disabled account."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ehcp.clock import FixedClock
from ehcp.contract.topics import ALERTS, REFERRALS
from ehcp.errors import ValidationError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.readmodel import people
from notify import store
from notify.fakes import FakeEmailSender
from notify.people import AdviceOwed, new_user_subscription, queue_manual_reminder
from tests.notify_support import (
    CODEC,
    alert_record,
    at,
    incoming,
    notifier,
    referral_record,
    sqlite_engine,
    subscription,
)

CASE, CASE_2 = "EHC-886-2026-0042", "EHC-886-2026-0043"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return sqlite_engine(tmp_path)


def _user(engine: Engine, name: str, role: people.Role, la: str = "886",
          email: str | None = "x@example.gov.uk") -> people.User:
    user = people.add_user(engine, username=name, la_code=la, role=role,
                           password_hash="h",  # noqa: S106 - not a real hash, never checked
                           totp_secret="s",  # noqa: S106 - never checked here
                           now=datetime(2026, 1, 5, tzinfo=UTC))
    if email is not None:
        assert people.set_email(engine, name, email.replace("x@", f"{name}@"))
    return user


def _subscribe(engine: Engine, user: people.User, **kw: object) -> str:
    sub = new_user_subscription(user.user_id, kinds=["ADVICE_OVERDUE"], min_severity="INFO",
                                resolved=True, digest_at=None, label="", now_ms=0)
    store.add_subscription(engine, sub)
    return sub.subscription_id


def _two_cases(engine: Engine, email: FakeEmailSender) -> list[str]:
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=email)
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(REFERRALS.name, referral_record(CASE_2, "886"), offset=1),
              incoming(ALERTS.name, alert_record(CASE), offset=2),
              incoming(ALERTS.name, alert_record(CASE_2), offset=3)], CODEC)
    n.dispatch()
    return sorted(m.to for m in email.sent)


def test_a_case_officer_hears_about_their_caseload_and_a_manager_about_every_case(
        engine: Engine) -> None:
    """Officer holding CASE: one email (CASE); manager: two; another LA's manager: none."""
    officer = _user(engine, "officer.886", people.Role.CASE_OFFICER)
    manager = _user(engine, "mgr.886", people.Role.MANAGER)
    foreign = _user(engine, "mgr.999", people.Role.MANAGER, la="999")
    people.assign_case(engine, CASE, officer.user_id)
    for user in (officer, manager, foreign):
        _subscribe(engine, user)
    email = FakeEmailSender()
    sent = _two_cases(engine, email)
    assert sent == ["mgr.886@example.gov.uk", "mgr.886@example.gov.uk",
                    "officer.886@example.gov.uk"]
    (officers,) = [m for m in email.sent if m.to.startswith("officer")]
    assert CASE in officers.subject
    assert CASE_2 not in officers.text


def test_the_address_is_the_accounts_when_sending(engine: Engine) -> None:
    """An address changed after the alert was queued is the one used."""
    manager = _user(engine, "mgr.886", people.Role.MANAGER)
    _subscribe(engine, manager)
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=(email := FakeEmailSender()))
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    people.set_email(engine, "mgr.886", "new.address@example.gov.uk")
    assert len(n.dispatch().sent) == 1
    assert [m.to for m in email.sent] == ["new.address@example.gov.uk"]


def test_a_disabled_account_or_one_without_an_address_is_sent_nothing(engine: Engine) -> None:
    """Disabled after queuing, or no address: cancelled with the reason; status names them."""
    manager = _user(engine, "mgr.886", people.Role.MANAGER)
    reader = _user(engine, "reader.886", people.Role.READ_ONLY, email=None)
    manager_sub = _subscribe(engine, manager)
    reader_sub = _subscribe(engine, reader)
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), email=(email := FakeEmailSender()))
    n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
              incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    people.set_disabled(engine, "mgr.886")
    report = n.dispatch()
    assert (report.sent, len(report.cancelled)) == ([], 2)
    assert email.sent == []
    reasons = {d.subscription_id: d.last_error for d in store.deliveries_with(engine)}
    assert reasons == {manager_sub: "the workspace account is disabled",
                       reader_sub: "the workspace account has no email address"}
    summary = store.delivery_summary(engine, "886")
    assert summary.channels["email"]["cancelled"] == 2
    assert {(u.username, u.reason) for u in summary.unreachable} == {
        ("mgr.886", "the workspace account is disabled"),
        ("reader.886", "the workspace account has no email address")}
    assert store.delivery_summary(engine, "999").unreachable == ()


def test_a_disabled_account_is_not_routed_to_at_all(engine: Engine) -> None:
    """An alert read while the account is disabled queues nothing for it."""
    manager = _user(engine, "mgr.886", people.Role.MANAGER)
    _subscribe(engine, manager)
    people.set_disabled(engine, "mgr.886")
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)))
    report = n.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                       incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
    assert (report.alerts, report.queued) == (1, 0)


def test_bad_subscription_input_is_refused() -> None:
    """Unknown kind, unknown severity, a digest time not HH:MM: clear errors."""
    for kw, message in (({"kinds": ["NOPE"]}, "unknown alert kind"),
                        ({"min_severity": "LOUD"}, "unknown severity"),
                        ({"digest_at": "25:00"}, "HH:MM")):
        args: dict[str, object] = {"kinds": ["ADVICE_OVERDUE"], "min_severity": "INFO",
                                   "resolved": True, "digest_at": None, "label": "",
                                   "now_ms": 0, **kw}
        with pytest.raises(ValidationError, match=message):
            new_user_subscription("u1", **args)  # type: ignore[arg-type]


def test_an_account_email_is_checked(engine: Engine) -> None:
    """A display name, two addresses or a line break are refused; nothing is stored."""
    _user(engine, "mgr.886", people.Role.MANAGER, email=None)
    for bad in ("Jo <jo@example.gov.uk>", "a@example.gov.uk,b@example.gov.uk",
                "jo@example.gov.uk\r\nBcc: x@example.com", "x" * 300 + "@example.gov.uk"):
        with pytest.raises(ValidationError):
            people.set_email(engine, "mgr.886", bad)
    user = people.find_user(engine, "mgr.886")
    assert user is not None
    assert people.email_of(engine, user.user_id) is None


def test_a_manual_reminder_is_queued_once_per_contact_and_day(engine: Engine) -> None:
    """Two clicks on one day: one reminder per contact; the next day: another; no contact:
    contacts == 0 and nothing queued."""
    owed = AdviceOwed(case_id=CASE, la_code="886", advice_type="MEDICAL",
                      agency_system=ODS_ORGANISATION_SYSTEM, agency_value="RVV",
                      due_on=date(2026, 2, 23), regulation="reg 8(1)")
    assert queue_manual_reminder(engine, owed, today=date(2026, 2, 26), now_ms=1).contacts == 0
    assert store.deliveries_with(engine) == []
    store.add_subscription(engine, subscription(agency="ods:RVV", email="ehcp@trust.example.nhs.uk"))
    store.add_subscription(engine, subscription(agency="ods:RXX", email="other@trust.example.nhs.uk"))
    first = queue_manual_reminder(engine, owed, today=date(2026, 2, 26), now_ms=2)
    again = queue_manual_reminder(engine, owed, today=date(2026, 2, 26), now_ms=3)
    assert (first.contacts, first.queued, again.queued, again.already_today) == (1, 1, 0, 1)
    assert queue_manual_reminder(engine, owed, today=date(2026, 2, 27), now_ms=4).queued == 1
    email = FakeEmailSender()
    assert len(notifier(engine, FixedClock(at(2026, 2, 27, 9)), email=email).dispatch().sent) == 2
    assert {m.to for m in email.sent} == {"ehcp@trust.example.nhs.uk"}
    assert all(CASE in m.subject for m in email.sent)
    assert all("/cases/" not in m.text for m in email.sent)
