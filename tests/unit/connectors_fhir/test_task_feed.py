"""The Task feed folds advice requests and status changes into the Task store, once each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.fhir.events import TaskStatusChanged
from connectors.fhir.ports import InMemoryTaskStore
from connectors.fhir.tasks import task_id_for
from connectors.task_feed import ReadRecord, ReminderFeed, TaskFeed, task_status_record
from ehcp.contract.avro import default_codec
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings

from .support import advice_request

REQUESTED = "org.ehcpexchange.events.AdviceRequested"
CHANGED = "org.ehcpexchange.events.TaskStatusChanged"


def change(status: str, day: int) -> dict[str, object]:
    """A TaskStatusChanged record for REQ-2025-0042 as the feed decodes it."""
    return task_status_record(TaskStatusChanged(
        request_id="REQ-2025-0042", case_id="CASE-2025-0007", status=status, reason_code=None,
        reason_text=None, owner_ods="RBZ", at=datetime(2025, 3, day, 9, tzinfo=UTC)))


def test_reading_the_topics_again_does_not_count_versions_up_twice() -> None:
    """A reconnect replays every record; the Task ends where it was, at the same version."""
    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), default_codec(), tasks)
    records = [(REQUESTED, advice_request()), (CHANGED, change("accepted", 4)),
               (CHANGED, change("completed", 7))]
    for name, record in records:
        feed.apply(name, record)
    first = tasks.get(task_id_for("REQ-2025-0042"))
    assert first is not None
    assert (first.status, first.version) == ("completed", 3)
    for name, record in records:  # the feed reconnected and read from the start
        feed.apply(name, record)
    assert tasks.get(task_id_for("REQ-2025-0042")) == first


def test_a_request_for_a_non_health_body_is_held_but_never_a_health_task() -> None:
    """Every process holds every request; an ODS search (FHIR) never finds one sent by LA code,
    even to an ODS code spelt like that LA code."""
    tasks = InMemoryTaskStore()
    record = advice_request()
    record["agency"] = {"system": LA_CODE_SYSTEM, "value": "999"}
    TaskFeed(Settings(), default_codec(), tasks).apply(REQUESTED, record)
    (held,) = tasks.tasks.values()
    assert tasks.search("999", system=LA_CODE_SYSTEM) == [held]
    assert tasks.search("999") == []
    assert not held.owned_by(ODS_ORGANISATION_SYSTEM, "999")
    assert not tasks.asked("999", case_id=str(record["case_id"]))


def test_a_status_change_by_another_body_than_the_one_asked_is_ignored() -> None:
    """A TaskStatusChanged whose owner is not the request's agency (or names another case) changes nothing."""
    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), default_codec(), tasks)
    feed.apply(REQUESTED, advice_request())
    forged = {**change("accepted", 4), "owner": {"system": ODS_ORGANISATION_SYSTEM,
                                                   "value": "RX1"}}
    feed.apply(CHANGED, forged)
    other_case = {**change("completed", 5), "case_id": "CASE-2025-0999"}
    feed.apply(CHANGED, other_case)
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert (stored.status, stored.version) == ("requested", 1)
    feed.apply(CHANGED, change("accepted", 6))
    assert tasks.get(task_id_for("REQ-2025-0042")).status == "accepted"  # type: ignore[union-attr]


def test_the_feed_records_where_each_change_was_read() -> None:
    """The store keeps the Kafka position and timestamp of a request's latest change."""
    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), default_codec(), tasks)
    when = datetime(2025, 3, 4, 9, tzinfo=UTC)
    feed.apply(REQUESTED, advice_request(), ReadRecord(("ehcp.advice-requests.v1", 2, 17), when))
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert (stored.position, stored.updated_at) == (("ehcp.advice-requests.v1", 2, 17), when)
    feed.apply(CHANGED, change("accepted", 5), ReadRecord(("ehcp.task-status.v1", 0, 3), when))
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert stored.position == ("ehcp.task-status.v1", 0, 3)
    assert stored.updated_at == datetime(2025, 3, 5, 9, tzinfo=UTC)  # the change's own time


def test_a_change_this_connector_made_counts_once_when_read_back_from_kafka() -> None:
    """The service stores its own update; the feed then reads the same event: one version."""
    codec = default_codec()
    at = datetime(2025, 3, 4, 9, 15, 30, 123000, tzinfo=UTC)  # whole milliseconds, as stored
    event = TaskStatusChanged(request_id="REQ-2025-0042", case_id="CASE-2025-0007",
                              status="accepted", reason_code=None, reason_text=None,
                              owner_ods="RBZ", at=at)
    record = task_status_record(event)
    for read_back_first in (False, True):
        tasks = InMemoryTaskStore()
        feed = TaskFeed(Settings(), codec, tasks)
        feed.apply(REQUESTED, advice_request())
        name, decoded = codec.decode(codec.encode(CHANGED, record))  # as Kafka returns it
        task_id = task_id_for("REQ-2025-0042")
        if read_back_first:
            feed.apply(name, decoded)
        tasks.set_status(task_id, "accepted", None, None, at)
        if not read_back_first:
            feed.apply(name, decoded)
        stored = tasks.get(task_id)
        assert stored is not None
        assert (stored.status, stored.version) == ("accepted", 2)


def test_a_status_change_read_before_its_request_is_applied_when_the_request_arrives() -> None:
    """The two topics are read side by side: a completion may come first after a restart."""
    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), default_codec(), tasks)
    feed.apply(CHANGED, change("accepted", 4))
    feed.apply(CHANGED, change("completed", 7))
    assert tasks.tasks == {}
    feed.apply(REQUESTED, advice_request())
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert (stored.status, stored.version) == ("completed", 3)


def test_a_new_task_is_last_updated_when_its_request_reached_kafka() -> None:
    """The feed passes the record's Kafka timestamp: a new Task's meta.lastUpdated is that instant."""
    from types import SimpleNamespace

    from connectors.fhir.service import task_resource
    from ehcp.contract import records

    tasks = InMemoryTaskStore()
    feed = TaskFeed(Settings(), default_codec(), tasks)
    value = default_codec().encode(records.ADVICE_REQUESTED, advice_request())
    stamp = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
    feed._apply_message(SimpleNamespace(value=value, timestamp=int(stamp.timestamp() * 1000),
                                        topic="t", partition=0, offset=0))
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert task_resource(stored)["meta"]["lastUpdated"] == stamp.isoformat()


def _alert(kind: str, status: str, event_id: str, *, owner: str = "RBZ") -> dict[str, object]:
    """A reminder alert about REQ-2025-0042's medical advice, as the feed decodes it."""
    from datetime import date

    return {"event_id": event_id, "alert_id": f"CASE-2025-0007|{kind}|MEDICAL",
            "case_id": "CASE-2025-0007", "kind": kind, "status": status, "severity": "WARNING",
            "advice_type": "MEDICAL",
            "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": owner},
            "due_on": date(2025, 4, 14), "days_overdue": 0, "regulation": "reg 8(1)",
            "message": "medical advice is overdue", "as_of": date(2025, 4, 15)}


def test_an_overdue_alert_shows_on_the_asked_trusts_task_until_resolved() -> None:
    """RAISED overdue sets businessStatus (a new version, a new lastUpdated); a replay changes nothing; RESOLVED clears it."""
    from connectors.fhir.service import task_resource

    tasks = InMemoryTaskStore()
    reminders = ReminderFeed(Settings(), default_codec(), tasks)
    feed = TaskFeed(Settings(), default_codec(), tasks, reminders)
    task_id = task_id_for("REQ-2025-0042")
    feed.apply(REQUESTED, advice_request())
    raised = _alert("ADVICE_OVERDUE", "RAISED", "al-1")
    reminders.apply("org.ehcpexchange.events.Alert", raised)
    shown = task_resource(tasks.get(task_id))  # type: ignore[arg-type]
    from fhir.resources.R4B.task import Task

    Task.model_validate(shown)  # still a valid R4 Task
    assert shown["businessStatus"]["coding"][0]["code"] == "overdue"
    assert "overdue (due 2025-04-14)" in shown["businessStatus"]["text"]
    assert shown["meta"]["versionId"] == "2"
    assert shown["meta"]["lastUpdated"].startswith("2025-04-15")
    reminders.apply("org.ehcpexchange.events.Alert", raised)  # read again after a reconnect
    assert task_resource(tasks.get(task_id))["meta"]["versionId"] == "2"  # type: ignore[arg-type]
    reminders.apply("org.ehcpexchange.events.Alert", _alert("ADVICE_OVERDUE", "RESOLVED", "al-2"))
    cleared = task_resource(tasks.get(task_id))  # type: ignore[arg-type]
    assert "businessStatus" not in cleared
    assert cleared["meta"]["versionId"] == "3"


def test_a_reminder_read_before_its_request_waits_and_other_agencies_are_untouched() -> None:
    """An alert read before the request is applied when the request arrives; an alert naming another trust changes nothing."""
    tasks = InMemoryTaskStore()
    reminders = ReminderFeed(Settings(), default_codec(), tasks)
    feed = TaskFeed(Settings(), default_codec(), tasks, reminders)
    reminders.apply("org.ehcpexchange.events.Alert", _alert("ADVICE_DUE_SOON", "RAISED", "al-3"))
    reminders.apply("org.ehcpexchange.events.Alert",
                    _alert("ADVICE_OVERDUE", "RAISED", "al-4", owner="RX1"))
    feed.apply(REQUESTED, advice_request())
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert (stored.reminder, stored.version) == ("due-soon", 2)


def _read(offset: int) -> ReadRecord:
    return ReadRecord(("ehcp.alerts.v1", 0, offset), None)


def _case_alert(case: str, kind: str, status: str, event_id: str) -> dict[str, Any]:
    return {**_alert(kind, status, event_id), "case_id": case,
            "alert_id": f"{case}|{kind}|MEDICAL"}


def test_the_reminder_buffer_is_bounded_and_an_overflow_is_read_again_in_order() -> None:
    """With room for 2: four early alerts never hold more than 2; nothing is re-read until a
    Task arrives; then the feed asks to re-read from the earliest dropped offset, and reading
    from there gives each Task its reminder, the raised-then-resolved one cleared."""
    alert_name = "org.ehcpexchange.events.Alert"
    tasks = InMemoryTaskStore()
    reminders = ReminderFeed(Settings(), default_codec(), tasks, max_early=2)
    feed = TaskFeed(Settings(), default_codec(), tasks, reminders)
    topic = [  # offset -> alert, as Kafka holds them
        _case_alert("CASE-A", "ADVICE_OVERDUE", "RAISED", "a-1"),
        _case_alert("CASE-B", "ADVICE_DUE_SOON", "RAISED", "b-1"),
        _case_alert("CASE-C", "ADVICE_OVERDUE", "RAISED", "c-1"),
        _case_alert("CASE-A", "ADVICE_OVERDUE", "RESOLVED", "a-2"),
        _case_alert("CASE-C", "ADVICE_DUE_SOON", "RAISED", "c-2"),
    ]
    for offset, record in enumerate(topic):
        reminders.apply(alert_name, record, _read(offset))
        assert reminders.waiting <= 2
    assert reminders.rewind_to() is None  # no Task yet: re-reading would find nothing new
    for case, request in (("CASE-A", "REQ-A"), ("CASE-B", "REQ-B"), ("CASE-C", "REQ-C")):
        feed.apply(REQUESTED, advice_request(request, case_id=case))
    assert reminders.rewind_to() == {("ehcp.alerts.v1", 0): 0}
    assert reminders.rewind_to() is None  # once
    assert reminders.waiting == 0
    for offset, record in enumerate(topic):  # what the follower reads after seeking back
        reminders.apply(alert_name, record, _read(offset))
    shown = {case: tasks.get(task_id_for(req)).reminder  # type: ignore[union-attr]
             for case, req in (("CASE-A", "REQ-A"), ("CASE-B", "REQ-B"), ("CASE-C", "REQ-C"))}
    assert shown == {"CASE-A": None, "CASE-B": "due-soon", "CASE-C": "due-soon"}


def test_a_buffer_without_overflow_needs_no_re_read() -> None:
    """Below the bound, an early alert is applied when its Task arrives and nothing is re-read."""
    tasks = InMemoryTaskStore()
    reminders = ReminderFeed(Settings(), default_codec(), tasks, max_early=2)
    feed = TaskFeed(Settings(), default_codec(), tasks, reminders)
    reminders.apply("org.ehcpexchange.events.Alert",
                    _case_alert("CASE-A", "ADVICE_OVERDUE", "RAISED", "a-1"), _read(0))
    feed.apply(REQUESTED, advice_request("REQ-A", case_id="CASE-A"))
    assert reminders.rewind_to() is None
    assert tasks.get(task_id_for("REQ-A")).reminder == "overdue"  # type: ignore[union-attr]


def test_an_las_reminder_is_a_note_on_the_trusts_task_once() -> None:
    """AdviceReminderSent: a new Task version with a note at the reminder's time and the overdue
    business status; the same reminder read again changes nothing; one read before its Task
    waits for it."""
    from fhir.resources.R4B.task import Task

    from connectors.fhir.service import task_resource

    tasks = InMemoryTaskStore()
    reminders = ReminderFeed(Settings(), default_codec(), tasks)
    feed = TaskFeed(Settings(), default_codec(), tasks, reminders)
    sent_at = datetime(2025, 4, 16, 10, 30, tzinfo=UTC)
    reminder = {"event_id": "rem-1", "case_id": "CASE-2025-0007", "la_code": "886",
                "advice_type": "MEDICAL",
                "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "RBZ"},
                "due_on": datetime(2025, 4, 14).date(), "sent_at": sent_at}
    name = "org.ehcpexchange.events.AdviceReminderSent"
    reminders.apply(name, reminder, _read(7))
    assert reminders.waiting == 1
    feed.apply(REQUESTED, advice_request())
    stored = tasks.get(task_id_for("REQ-2025-0042"))
    assert stored is not None
    assert (stored.version, stored.la_reminded_at, stored.reminder) == (2, sent_at, "overdue")
    shown = task_resource(stored)
    Task.model_validate(shown)
    assert shown["note"] == [{"time": sent_at.isoformat(),
                              "text": "The local authority sent a reminder about this advice."}]
    assert shown["meta"]["lastUpdated"] == sent_at.isoformat()
    reminders.apply(name, {**reminder, "sent_at": datetime(2025, 4, 16, 11, tzinfo=UTC)},
                    _read(8))  # a second click the same day: the same reminder id
    assert tasks.get(task_id_for("REQ-2025-0042")).version == 2  # type: ignore[union-attr]
