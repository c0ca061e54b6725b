"""Notifications in the workspace, in Debian's Chromium against the real broker, worker,
connectors, projector and web app (the fixtures of tests/e2e/test_workspace_browser.py): a
manager reminds a late trust from the case page (no contact yet: told so, and the trust's FHIR
Task shows the reminder; with a contact: queued once), sees the delivery log of the LA and
retries a failed delivery, and subscribes to alerts; axe-core checks each page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ehcp.readmodel import people
from ehcp.readmodel.store import open_engine
from notify import store
from tests.e2e.test_workspace_browser import (  # noqa: F401 - fixtures used by name
    WorkspaceStack,
    _refer,
    browser,
    check_accessible,
    page,
    sign_in,
    workspace_stack,
)
from tests.notify_support import subscription
from tests.support import wait_until
from tests.workspace_support import PASSWORD
from workspace.signin import hash_password, new_totp_secret

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
MANAGER = "notify.999"


def _manager(stack: WorkspaceStack) -> None:
    if MANAGER in stack.secrets:
        return
    engine = open_engine(stack.readmodel_url)
    try:
        stack.secrets[MANAGER] = new_totp_secret()
        people.add_user(engine, username=MANAGER, la_code="999", role=people.Role.MANAGER,
                        password_hash=hash_password(PASSWORD),
                        totp_secret=stack.secrets[MANAGER], now=datetime.now(UTC))
        people.set_email(engine, MANAGER, "sen.manager@la999.example.gov.uk")
    finally:
        engine.dispose()


def test_remind_a_late_agency_see_the_log_retry_and_subscribe(
        page: Any, workspace_stack: WorkspaceStack) -> None:  # noqa: F811 - fixtures
    """Without a contact the page says so and the trust's FHIR Task shows the reminder; with one
    it is queued once; the LA's log lists it, shows it failed with its reason and queues it
    again; the manager adds a digest subscription."""
    stack = workspace_stack
    _manager(stack)
    case_id = _refer(stack, "REMIND", weeks_ago=7)
    sign_in(page, stack, MANAGER)
    remind = page.get_by_role("button", name="Remind ZZ901")

    def overdue_shown() -> bool:
        page.goto(f"{stack.url}/cases/{case_id}")
        return remind.count() > 0

    wait_until(overdue_shown, 120, interval_s=2, what="the overdue advice on the case page")
    remind.first.click()
    page.get_by_role("heading", name="Reminder sent").wait_for()
    assert "ZZ901 has no email or webhook contact" in page.locator("main").inner_text()
    check_accessible(page, "20-reminder-no-contact")

    def on_task() -> bool:  # the connectors read ehcp.reminders.v1 into the trust's Task
        return "note" in stack.pipeline.wait_for_task(case_id)

    wait_until(on_task, 120, interval_s=2, what="the reminder on ZZ901's FHIR Task")

    engine = open_engine(stack.readmodel_url)
    try:
        store.add_subscription(engine, subscription(
            agency="ods:ZZ901", email="ehcp.advice@zz901.example.nhs.uk"))
        for expected in ("Reminder queued", "Reminder already sent today"):
            page.goto(f"{stack.url}/cases/{case_id}")
            remind.first.click()
            page.get_by_role("heading", name=expected).wait_for()
        check_accessible(page, "21-reminder-queued")
        (reminder,) = [d for d in store.deliveries_with(engine)
                       if d.case_id == case_id and d.purpose == "reminder"]
        # No notifier runs here: play one that gave up on it, as `ehcp notify run` would.
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        assert store.claim(engine, reminder.delivery_id, "e2e-notifier", now_ms, 60_000)
        store.finish(engine, reminder.delivery_id, "e2e-notifier", status=store.FAILED,
                     now_ms=now_ms, error="SMTP 550 mailbox unavailable")
    finally:
        engine.dispose()

    page.get_by_role("link", name="Notifications", exact=True).click()
    page.get_by_role("heading", name="Notifications sent for LA 999").wait_for()
    email_row = page.locator("#delivery-counts tr", has_text="email")
    assert email_row.locator("td").nth(2).inner_text() == "1"  # failed
    failed = page.locator("#failed-deliveries tr", has_text=case_id)
    assert "SMTP 550 mailbox unavailable" in failed.inner_text()
    check_accessible(page, "22-notifications-log")
    failed.get_by_role("button", name="Retry").click()
    page.get_by_role("status").get_by_text("Queued again").wait_for()
    assert page.locator("#failed-deliveries tr", has_text=case_id).count() == 0

    page.get_by_role("link", name="My notifications").click()
    assert "sen.manager@la999.example.gov.uk" in page.locator("main").inner_text()
    page.get_by_label("Deadline at risk").check()
    page.get_by_label("Least severity").select_option("WARNING")
    page.get_by_label("A daily digest on working days").check()
    page.get_by_label("Digest time (London, HH:MM)").fill("07:30")
    page.get_by_role("button", name="Add subscription").click()
    page.get_by_role("status").get_by_text("Subscription added").wait_for()
    row = page.locator("#my-subscriptions tbody tr").first
    assert "Daily digest at 07:30" in row.inner_text()
    assert "Deadline at risk" in row.inner_text()
    check_accessible(page, "23-my-notifications")
