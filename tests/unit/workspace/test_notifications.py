"""The workspace's notification pages and the case page's reminder button (HTTP tier, fakes)."""

from __future__ import annotations

import re
import uuid

from ehcp.contract import records
from ehcp.readmodel import views
from notify import model, store
from notify.model import Channel, Subscription
from notify.people import new_user_subscription
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import CASE, FOREIGN_CASE, csrf_of


def _actions(ws: Workspace, kind: str) -> list[dict[str, object]]:
    return [e.record for e in ws.publisher.events
            if e.schema_name == records.ACTION_TAKEN and e.record["action"] == kind]


def _refusals(ws: Workspace) -> int:
    return sum(e.schema_name == records.ACCESS_REFUSED for e in ws.publisher.events)


def _overdue_item(ws: Workspace, case_id: str = CASE, la: str = "886") -> views.AdviceItem:
    page = views.case_page(ws.engine, la, ws.clock, case_id)
    assert page is not None
    (item,) = [i for i in page.detail.advice_items
               if i.agency is not None and i.status in views.OPEN_STATUSES]
    return item


def _contact(ws: Workspace, item: views.AdviceItem) -> str:
    assert item.agency is not None
    recipient = model.Recipient(model.RecipientKind.AGENCY, item.agency.system, item.agency.value)
    sub = Subscription(str(uuid.uuid4()), recipient, Channel.EMAIL, "advice@trust.example.nhs.uk",
                       frozenset(model.REMINDER_KINDS), "INFO", False, None, "", 0)
    store.add_subscription(ws.engine, sub)
    return sub.subscription_id


def _remind_action(html: str) -> str:
    found = re.search(r'action="(/cases/[^"]+/remind)"', html)
    assert found, "no reminder button on the case page"
    return found.group(1)


def test_the_cases_officer_reminds_a_late_agency_once_per_day(workspace: Workspace) -> None:
    """The button queues one reminder delivery to the agency's contact; a second click the same
    day queues nothing more and says so; one REMINDER_SENT audit event."""
    contact = _contact(workspace, _overdue_item(workspace))
    client = signed_in(workspace, "officer")
    case_page = client.get(f"/cases/{CASE}")
    action = _remind_action(case_page.text)
    first = client.post(action, data={"csrf_token": csrf_of(case_page.text)})
    second = client.post(action, data={"csrf_token": csrf_of(case_page.text)})
    assert first.status_code == 200
    assert "Reminder queued" in first.text
    assert second.status_code == 200
    assert "already sent today" in second.text
    (delivery,) = store.deliveries_with(workspace.engine)
    assert (delivery.subscription_id, delivery.purpose, delivery.case_id, delivery.status) == (
        contact, "reminder", CASE, store.QUEUED)
    assert store.delivery_summary(workspace.engine, "886").channels["email"]["queued"] == 1
    (audit,) = _actions(workspace, "REMINDER_SENT")
    assert audit["case_id"] == CASE
    assert audit["user_id"] == workspace.users["officer"].user_id


def test_a_trust_without_a_contact_sees_the_reminder_on_its_task(workspace: Workspace) -> None:
    """A health body with no email or webhook contact: the page says so, nothing is queued, and
    an AdviceReminderSent (the day's reminder id) is published for its FHIR Task; audited."""
    item = _overdue_item(workspace)
    client = signed_in(workspace, "manager")
    page = client.get(f"/cases/{CASE}")
    response = client.post(_remind_action(page.text), data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 200
    assert item.agency is not None
    assert f"{item.agency.value} has no email or webhook contact" in response.text
    assert "FHIR Task" in response.text
    assert store.deliveries_with(workspace.engine) == []
    (event,) = [e for e in workspace.publisher.events if e.topic == "ehcp.reminders.v1"]
    assert event.schema_name == records.ADVICE_REMINDER_SENT
    assert event.key == CASE
    assert (event.record["advice_type"], event.record["agency"]["value"]) == ("MEDICAL", "RVV")
    assert event.record["sent_at"] == workspace.clock.now()
    (audit,) = _actions(workspace, "REMINDER_SENT")
    assert audit["published_event_id"] == event.record["event_id"]


def test_an_agency_without_a_contact_or_a_task_is_not_reminded(workspace: Workspace) -> None:
    """A school asked for advice with no contact subscription: 409 with a clear message;
    nothing queued, published or audited."""
    from ehcp.contract.topics import CASE_STATUS
    from ehcp.identifiers import SCHOOL_URN_SYSTEM
    from tests import readmodel_records as rr
    from tests.workspace_support import CASE_2, seed

    _, key, value, headers = rr.status(CASE_2)
    record = rr.CODEC.decode(value)[1]
    record["advice"] = [{**record["advice"][0], "advice_type": "EDUCATIONAL",
                         "regulation": "reg 6(1)(b)",
                         "agency": {"system": SCHOOL_URN_SYSTEM, "value": "100001"}}]
    seed(workspace.engine, (CASE_STATUS.name, key, rr.CODEC.encode(records.CASE_STATUS, record),
                            headers))
    client = signed_in(workspace, "manager")
    page = client.get(f"/cases/{CASE_2}")
    response = client.post(_remind_action(page.text), data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 409
    assert "100001 has no contact to remind" in response.text
    assert store.deliveries_with(workspace.engine) == []
    assert [e for e in workspace.publisher.events if e.topic == "ehcp.reminders.v1"] == []
    assert _actions(workspace, "REMINDER_SENT") == []


def test_reminders_are_refused_without_csrf_for_read_only_and_for_another_las_case(
        workspace: Workspace) -> None:
    """No CSRF token: 403; a read-only user: 403 and no button; another LA's case: 404;
    advice not owed: 422. Nothing is queued."""
    _contact(workspace, _overdue_item(workspace))
    officer = signed_in(workspace, "officer")
    action = _remind_action(officer.get(f"/cases/{CASE}").text)
    assert officer.post(action, data={"csrf_token": "wrong"}).status_code == 403
    reader = signed_in(workspace, "reader")
    page = reader.get(f"/cases/{CASE}")
    assert "/remind" not in page.text
    assert reader.post(action, data={"csrf_token": csrf_of(page.text)}).status_code == 403
    foreign = signed_in(workspace, "foreign")
    token = csrf_of(foreign.get("/tray").text)
    assert foreign.post(action, data={"csrf_token": token}).status_code == 404
    own_page = foreign.get(f"/cases/{FOREIGN_CASE}")
    assert foreign.post(f"/cases/{FOREIGN_CASE}/advice/EDUCATIONAL/remind",
                        data={"csrf_token": csrf_of(own_page.text)}).status_code in (404, 422)
    manager = signed_in(workspace, "manager")
    token = csrf_of(manager.get(f"/cases/{CASE}").text)
    assert manager.post(f"/cases/{CASE}/advice/NOT_A_TYPE/remind",
                        data={"csrf_token": token}).status_code == 422
    assert store.deliveries_with(workspace.engine) == []


def _failed_delivery(ws: Workspace, case_id: str, la: str) -> str:
    sub = Subscription(str(uuid.uuid4()), model.parse_recipient(la, None), Channel.EMAIL,
                       f"sen@la{la}.example.gov.uk", frozenset(model.ALERT_KINDS), "INFO", True,
                       None, "", 0)
    store.add_subscription(ws.engine, sub)
    delivery_id = str(uuid.uuid4())
    with ws.engine.begin() as conn:
        store.record_owner(conn, case_id, la)
        transition = model.AlertTransition(
            event_id=str(uuid.uuid4()), alert_id="a", case_id=case_id, kind="ADVICE_OVERDUE",
            status="RAISED", severity="WARNING", advice_type="MEDICAL", agency_system=None,
            agency_value=None, due_on=None, days_overdue=3, regulation="reg 8(1)", message="m",
            as_of=ws.clock.now().date(), recorded_ms=0, la_code=la)
        store.enqueue(conn, delivery_id=delivery_id, subscription=sub, purpose="alert",
                      items=[transition], now_ms=0)
    assert store.claim(ws.engine, delivery_id, "n1", 1, 1000) is not None
    store.finish(ws.engine, delivery_id, "n1", status=store.FAILED, now_ms=2,
                 error=f"SMTP 550 mailbox unavailable ({la})")
    return delivery_id


def test_the_operator_view_shows_the_las_deliveries_and_retries_a_failed_one(
        workspace: Workspace) -> None:
    """Counts per channel equal delivery_summary for the LA; the failed delivery is listed with
    its reason; another LA's is neither counted nor listed nor retryable; retry is audited."""
    own = _failed_delivery(workspace, CASE, "886")
    other = _failed_delivery(workspace, FOREIGN_CASE, "999")
    client = signed_in(workspace, "manager")
    page = client.get("/notifications")
    assert page.status_code == 200
    summary = store.delivery_summary(workspace.engine, "886")
    assert summary.channels["email"]["failed"] == 1
    row = re.search(r"<th scope=\"row\">email</th>(.*?)</tr>", page.text)
    assert row
    assert re.findall(r"<td>(\d+)</td>", row.group(1)) == [
        str(summary.channels["email"][s]) for s in store.STATUSES]
    assert "SMTP 550 mailbox unavailable (886)" in page.text
    assert "(999)" not in page.text
    assert other not in page.text
    token = csrf_of(page.text)
    assert client.post(f"/notifications/deliveries/{other}/retry",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"/notifications/deliveries/{own}/retry",
                       data={"csrf_token": "nope"}).status_code == 403
    done = client.post(f"/notifications/deliveries/{own}/retry", data={"csrf_token": token},
                       follow_redirects=False)
    assert done.status_code == 303
    statuses = {d.delivery_id: d.status for d in store.deliveries_with(workspace.engine)}
    assert statuses == {own: store.QUEUED, other: store.FAILED}
    (audit,) = _actions(workspace, "DELIVERY_RETRIED")
    assert audit["target_id"] == own


def test_only_managers_see_the_operator_view(workspace: Workspace) -> None:
    """A case officer and a read-only user are refused (403, audited)."""
    for who in ("officer", "reader"):
        before = _refusals(workspace)
        assert signed_in(workspace, who).get("/notifications").status_code == 403
        assert _refusals(workspace) == before + 1


def test_a_user_manages_their_own_subscriptions(workspace: Workspace) -> None:
    """Add (audited) a digest subscription; bad input 422 and nothing stored; another user's
    subscription cannot be removed (404); removing one's own works."""
    officer_id = workspace.users["officer"].user_id
    client = signed_in(workspace, "officer")
    page = client.get("/account/notifications")
    assert page.status_code == 200
    assert "no email address" in page.text
    token = csrf_of(page.text)
    base = {"csrf_token": token, "kinds": ["ADVICE_OVERDUE", "DEADLINE_AT_RISK"],
            "min_severity": "WARNING", "cadence": "digest", "digest_at": "07:45"}
    for bad in ({"kinds": ["NOT_A_KIND"]}, {"digest_at": "7.45"}, {"min_severity": "LOUD"},
                {"kinds": []}):
        assert client.post("/account/notifications", data={**base, **bad}).status_code == 422
    assert client.post("/account/notifications", data={**base, "csrf_token": "x"}
                       ).status_code == 403
    assert store.subscriptions_of_user(workspace.engine, officer_id) == []
    added = client.post("/account/notifications", data=base, follow_redirects=False)
    assert added.status_code == 303
    (sub,) = store.subscriptions_of_user(workspace.engine, officer_id)
    assert (sorted(sub.kinds), sub.min_severity, sub.digest_at.strftime("%H:%M") if sub.digest_at
            else None, sub.include_resolved) == (
        ["ADVICE_OVERDUE", "DEADLINE_AT_RISK"], "WARNING", "07:45", False)
    assert [a["target_id"] for a in _actions(workspace, "NOTIFICATIONS_CHANGED")] == [
        sub.subscription_id]
    manager_sub = new_user_subscription(workspace.users["manager"].user_id, kinds=[],
                                        min_severity="INFO", resolved=True, digest_at=None,
                                        label="", now_ms=0)
    store.add_subscription(workspace.engine, manager_sub)
    assert client.post(f"/account/notifications/{manager_sub.subscription_id}/remove",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"/account/notifications/{sub.subscription_id}/remove",
                       data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert store.subscriptions_of_user(workspace.engine, officer_id) == []
    assert len(store.all_subscriptions(workspace.engine)) == 1
