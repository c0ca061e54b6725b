"""Notifications in the workspace (docs/notifications.md, docs/workspace.md).

- ``/notifications`` (managers): the delivery log of their LA -- queued, sent, failed and
  cancelled per channel (the numbers ``ehcp notify status --la CODE`` prints, from the same
  :func:`notify.store.delivery_summary`), the failed deliveries with their reason, and a retry
  button per failed delivery;
- ``/account/notifications`` (every signed-in user): their own subscriptions -- alert kinds,
  least severity, at once or a daily digest at a chosen London time -- sent by email to the
  address on their account. A user hears only about their LA's cases; a case officer only about
  the cases on their caseload (as in the work tray);
- ``POST /cases/{case_id}/advice/{advice_type}/remind`` (the case's officer, or a manager):
  a reminder to the contacts of the agency asked for overdue or due-soon advice, queued on the
  delivery log like the automatic reminders (:func:`notify.people.queue_manual_reminder`).

Every POST needs the session's CSRF token and is an ``ActionTaken`` audit event when it changed
something (``DELIVERY_RETRIED``, ``NOTIFICATIONS_CHANGED``, ``REMINDER_SENT``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from connectors.ports import PublishedEvent
from ehcp.clock import Clock
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import REMINDERS
from ehcp.errors import PublishError, ValidationError
from ehcp.identifiers import ODS_ORGANISATION_SYSTEM
from ehcp.readmodel import people, views
from notify import people as notify_people
from notify import store
from notify.model import ALERT_KINDS, SEVERITIES, Subscription
from workspace.audit import ActionKind, audit_action
from workspace.render import page
from workspace.routes.pages import refused_as_not_found
from workspace.security import (
    ActorDep,
    ClockDep,
    EngineDep,
    ManagerDep,
    NotFound,
    SessionDep,
    audit_refusal,
    caseload_of,
    checked_form,
)

log = structlog.get_logger(__name__)
router = APIRouter()
#: The failed deliveries the page lists (newest first); ``ehcp notify failed`` lists all.
MAX_FAILED_SHOWN: Final = 200


def _now_ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


# -- the operator's view (managers) -------------------------------------------------------------

def _operator_page(request: Request, session: people.SessionInfo, engine: Any, *,
                   notice: str | None = None, error: str | None = None,
                   status_code: int = 200) -> Response:
    la = session.user.la_code
    failed = store.deliveries_with(engine, store.FAILED, MAX_FAILED_SHOWN, la_code=la)
    return page(request, "notifications.html", {
        "summary": store.delivery_summary(engine, la), "failed": failed,
        "failed_at": {d.delivery_id: datetime.fromtimestamp((d.finished_ms or 0) / 1000, UTC)
                      for d in failed},
        "statuses": store.STATUSES, "notice": notice, "error": error,
    }, status_code=status_code)


@router.get("/notifications")
async def notifications(request: Request, session: ManagerDep, engine: EngineDep,
                        done: str = "") -> Response:
    """Deliveries of the manager's LA per channel and status; the failed ones to retry."""
    notice = "Queued again: the notifier sends it within a minute." if done == "retried" else None
    return await run_in_threadpool(_operator_page, request, session, engine, notice=notice)


@router.post("/notifications/deliveries/{delivery_id}/retry")
async def retry(request: Request, delivery_id: str, session: ManagerDep, engine: EngineDep,
                clock: ClockDep) -> Response:
    """Queue a failed delivery of the manager's LA again (audited)."""
    try:
        await checked_form(request, session)
    except ValidationError as exc:
        return await run_in_threadpool(_operator_page, request, session, engine,
                                       error=exc.message, status_code=400)
    done = await run_in_threadpool(store.retry_failed, engine, delivery_id[:64],
                                   _now_ms(clock), session.user.la_code)
    if not done:
        await audit_refusal(request, session.user, "delivery not failed or not the LA's")
        raise NotFound()
    log.info("notify_delivery_retried_by_hand", delivery_id=delivery_id,
             user_id=session.user.user_id)
    await audit_action(request, session.user, ActionKind.DELIVERY_RETRIED, case_id=None,
                       published_event_id=None, target_id=delivery_id[:64])
    return RedirectResponse("/notifications?done=retried", status_code=303)


# -- a user's own subscriptions -----------------------------------------------------------------

def _mine_page(request: Request, session: people.SessionInfo, engine: Any, *,
               notice: str | None = None, error: str | None = None,
               values: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    user = session.user
    return page(request, "my_notifications.html", {
        "subscriptions": store.subscriptions_of_user(engine, user.user_id),
        "contact": store.user_contact(engine, user.user_id),
        "kinds": ALERT_KINDS, "severities": SEVERITIES, "notice": notice, "error": error,
        "values": values or {"kinds": ["ADVICE_OVERDUE"], "min_severity": "INFO",
                             "cadence": "now", "digest_at": "08:00", "resolved": True},
        "caseload_only": not user.role.sees_every_case,
    }, status_code=status_code)


@router.get("/account/notifications")
async def mine(request: Request, session: SessionDep, engine: EngineDep,
               done: str = "") -> Response:
    """The user's own subscriptions and the form to add one."""
    notice = {"added": "Subscription added.", "removed": "Subscription removed."}.get(done)
    return await run_in_threadpool(_mine_page, request, session, engine, notice=notice)


def _subscription_from(form: FormData, user_id: str, now_ms: int) -> Subscription:
    kinds = [k for k in form.getlist("kinds") if isinstance(k, str)]
    if not kinds:
        raise ValidationError("choose at least one kind of alert", location="kinds")
    cadence = form.get("cadence")
    at = form.get("digest_at")
    if cadence not in ("now", "digest"):
        raise ValidationError("choose at once or a daily digest", location="cadence")
    return notify_people.new_user_subscription(
        user_id, kinds=kinds, min_severity=str(form.get("min_severity") or ""),
        resolved=form.get("resolved") == "yes",
        digest_at=(at if isinstance(at, str) else "") if cadence == "digest" else None,
        label="", now_ms=now_ms)


@router.post("/account/notifications")
async def add(request: Request, session: SessionDep, engine: EngineDep,
              clock: ClockDep) -> Response:
    """Add a subscription for the signed-in user (checked like ``ehcp notify subscribe``)."""
    try:
        form = await checked_form(request, session)
    except ValidationError as exc:
        return await run_in_threadpool(_mine_page, request, session, engine, error=exc.message,
                                       status_code=400)
    try:
        sub = _subscription_from(form, session.user.user_id, _now_ms(clock))
    except ValidationError as exc:
        values = {"kinds": [k for k in form.getlist("kinds") if isinstance(k, str)],
                  "min_severity": form.get("min_severity"), "cadence": form.get("cadence"),
                  "digest_at": form.get("digest_at"), "resolved": form.get("resolved") == "yes"}
        return await run_in_threadpool(_mine_page, request, session, engine, values=values,
                                       error=f"Check the form: {exc.message}.",
                                       status_code=422)
    await run_in_threadpool(store.add_subscription, engine, sub)
    log.info("notify_subscription_added_by_user", subscription_id=sub.subscription_id,
             user_id=session.user.user_id)
    await audit_action(request, session.user, ActionKind.NOTIFICATIONS_CHANGED, case_id=None,
                       published_event_id=None, target_id=sub.subscription_id)
    return RedirectResponse("/account/notifications?done=added", status_code=303)


@router.post("/account/notifications/{subscription_id}/remove")
async def remove(request: Request, subscription_id: str, session: SessionDep,
                 engine: EngineDep, clock: ClockDep) -> Response:
    """Remove one of the user's own subscriptions (another's: 404, audited)."""
    try:
        await checked_form(request, session)
    except ValidationError as exc:
        return await run_in_threadpool(_mine_page, request, session, engine, error=exc.message,
                                       status_code=400)
    own = await run_in_threadpool(store.subscriptions_of_user, engine, session.user.user_id)
    if subscription_id not in {s.subscription_id for s in own}:
        await audit_refusal(request, session.user, "subscription not the user's")
        raise NotFound()
    await run_in_threadpool(store.remove_subscription, engine, subscription_id,
                            _now_ms(clock))
    await audit_action(request, session.user, ActionKind.NOTIFICATIONS_CHANGED, case_id=None,
                       published_event_id=None, target_id=subscription_id)
    return RedirectResponse("/account/notifications?done=removed", status_code=303)


# -- a reminder to a late agency ----------------------------------------------------------------

def remindable(case: views.CasePage, advice_type: str, clock: Clock) -> Any:
    """The case's open advice item of ``advice_type`` that is overdue or due soon (within
    :data:`ehcp.readmodel.views.DUE_SOON_DAYS`), with an agency asked; else None."""
    day = views.today(clock)
    for item in case.detail.advice_items:
        if (item.advice_type == advice_type and item.status in views.OPEN_STATUSES
                and item.agency is not None and item.due_on is not None
                and item.due_on <= day + timedelta(days=views.DUE_SOON_DAYS)):
            return item
    return None


@router.post("/cases/{case_id}/advice/{advice_type}/remind")
async def remind(request: Request, case_id: str, advice_type: str, session: ActorDep,
                 engine: EngineDep, clock: ClockDep) -> Response:
    """Queue a reminder to the agency asked for this overdue or due-soon advice."""
    case = await run_in_threadpool(views.case_page, engine, session.user.la_code, clock,
                                   case_id[:200], caseload_of=caseload_of(session))
    if case is None:
        await refused_as_not_found(request, session)
    the_case = case.detail.summary.case_id
    try:
        await checked_form(request, session)
    except ValidationError as exc:
        return _reminder_page(request, the_case, error=exc.message, status_code=400)
    item = remindable(case, advice_type[:64], clock)
    if item is None:
        return _reminder_page(request, the_case, status_code=422,
                              error="That advice is not overdue or due soon, or no agency "
                                    "was asked for it: there is no one to remind.")
    owed = notify_people.AdviceOwed(
        case_id=the_case, la_code=session.user.la_code, advice_type=item.advice_type,
        agency_system=item.agency.system, agency_value=item.agency.value, due_on=item.due_on,
        regulation=item.regulation)
    reminder_id = _reminder_id(owed, clock)
    outcome = await run_in_threadpool(
        lambda: notify_people.queue_manual_reminder(engine, owed, today=views.today(clock),
                                                    now_ms=_now_ms(clock)))
    on_task = item.agency.system == ODS_ORGANISATION_SYSTEM
    new = outcome.queued > 0 or (outcome.contacts == 0 and on_task)
    if on_task and new:
        # A health body sees it on its FHIR Task (the connectors read ehcp.reminders.v1); the
        # id is the day's reminder id, so a repeat changes nothing there either.
        try:
            await request.app.state.publisher.publish(_reminder_event(owed, reminder_id, clock))
        except PublishError:
            return _reminder_page(request, the_case, status_code=503, agency=item.agency.value,
                                  error="The reminder could not be shown on the trust's Task "
                                        "just now (Kafka is unavailable). Try again in a "
                                        "minute.")
    if outcome.contacts == 0 and not on_task:
        return _reminder_page(request, the_case, status_code=409, agency=item.agency.value,
                              error=f"{item.agency.value} has no contact to remind: nobody "
                                    "has subscribed an email address or webhook for it. Ask "
                                    "your system administrator to add one "
                                    "(ehcp notify subscribe --agency ...), or contact "
                                    "the agency directly.")
    if new:
        log.info("agency_reminder_sent_by_hand", case_id=the_case,
                 user_id=session.user.user_id, advice_type=item.advice_type,
                 contacts=outcome.queued, on_task=on_task)
        await audit_action(request, session.user, ActionKind.REMINDER_SENT, case_id=the_case,
                           published_event_id=reminder_id if on_task else None,
                           target_id=reminder_id)
    return _reminder_page(request, the_case, agency=item.agency.value, outcome=outcome,
                          advice_type=item.advice_type, on_task=on_task)


def _reminder_event(owed: notify_people.AdviceOwed, reminder_id: str,
                    clock: Clock) -> PublishedEvent:
    schema = REMINDERS.value_schema or ""
    return PublishedEvent(
        topic=REMINDERS.name, key=owed.case_id, schema_name=schema, record={
            "event_id": reminder_id, "case_id": owed.case_id, "la_code": owed.la_code,
            "advice_type": owed.advice_type,
            "agency": {"system": owed.agency_system, "value": owed.agency_value},
            "due_on": owed.due_on, "sent_at": clock.now()},
        ce_type=event_type(schema), ce_subject=owed.case_id)


def _reminder_id(owed: notify_people.AdviceOwed, clock: Clock) -> str:
    from notify.decide import manual_reminder_event_id

    return manual_reminder_event_id(owed.case_id, owed.advice_type, owed.agency_system,
                                    owed.agency_value, views.today(clock))


def _reminder_page(request: Request, case_id: str, *, error: str | None = None,
                   status_code: int = 200, agency: str | None = None,
                   outcome: notify_people.ReminderOutcome | None = None,
                   advice_type: str | None = None, on_task: bool = False) -> Response:
    return page(request, "reminder.html", {
        "case_id": case_id, "error": error, "agency": agency, "outcome": outcome,
        "advice_type": advice_type, "on_task": on_task}, status_code=status_code)


