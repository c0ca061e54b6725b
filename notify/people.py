"""Notifications for the workspace's people: their own subscriptions, and the reminders they
send a late agency from a case page.

- :func:`new_user_subscription`: a user's email subscription, checked like any other (the
  address is not stored: the notifier reads the account's address when it sends);
- :func:`queue_manual_reminder`: a reminder to the contacts of the agency asked for a piece of
  advice, queued on the delivery log exactly like the automatic ones (purpose ``reminder``),
  with a deterministic delivery id per contact, advice and London day, so a double click (or a
  second officer the same day) queues it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from notify import decide, store
from notify.model import (
    AlertTransition,
    Channel,
    RecipientKind,
    Subscription,
    parse_digest_time,
    parse_kinds,
    parse_label,
    parse_severity,
    user_recipient,
)


def new_user_subscription(user_id: str, *, kinds: Sequence[str], min_severity: str,
                          resolved: bool, digest_at: str | None, label: str,
                          now_ms: int) -> Subscription:
    """A workspace user's email subscription, checked like any other.

    Raises:
        ValidationError: an unknown kind or severity, a digest time not HH:MM, a bad label.
    """
    recipient = user_recipient(user_id)
    return Subscription(
        subscription_id=str(uuid.uuid4()), recipient=recipient, channel=Channel.EMAIL,
        address="", kinds=parse_kinds(kinds, recipient),
        min_severity=parse_severity(min_severity), include_resolved=resolved,
        digest_at=parse_digest_time(digest_at), label=parse_label(label), created_ms=now_ms)


@dataclass(frozen=True, slots=True)
class AdviceOwed:
    """The advice a reminder is about, as the case page shows it (no child's details)."""

    case_id: str
    la_code: str
    advice_type: str
    agency_system: str
    agency_value: str
    due_on: date
    regulation: str


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What a manual reminder did: how many contacts it was queued for (new), and how many
    had it already today."""

    contacts: int
    queued: int
    already_today: int


def queue_manual_reminder(engine: Engine, owed: AdviceOwed, *, today: date,
                          now_ms: int) -> ReminderOutcome:
    """Queue a reminder to every immediate contact subscription of the agency asked.

    The reminder is an ``ADVICE_OVERDUE`` (or ``ADVICE_DUE_SOON`` before the due date)
    transition, delivered with purpose ``reminder`` like the automatic ones, so the agency gets
    the same message. A contact with a daily digest gets it at once too: a reminder someone
    chose to send should not wait for tomorrow's digest.

    Returns:
        ``contacts == 0``: the agency has no contact subscription; nothing was queued.

    Raises:
        ReadModelError: the database refused.
    """
    contacts = [s for s in store.all_subscriptions(engine)
                if s.recipient.kind is RecipientKind.AGENCY
                and (s.recipient.system, s.recipient.value) == (owed.agency_system,
                                                                owed.agency_value)]
    late = (today - owed.due_on).days
    transition = AlertTransition(
        event_id=decide.manual_reminder_event_id(owed.case_id, owed.advice_type,
                                                 owed.agency_system, owed.agency_value, today),
        alert_id=f"manual-reminder:{owed.case_id}:{owed.advice_type}",
        case_id=owed.case_id, kind="ADVICE_OVERDUE" if late > 0 else "ADVICE_DUE_SOON",
        status="RAISED", severity="WARNING" if late > 0 else "INFO",
        advice_type=owed.advice_type, agency_system=owed.agency_system,
        agency_value=owed.agency_value, due_on=owed.due_on, days_overdue=max(late, 0),
        regulation=owed.regulation,
        message="A reminder sent by the local authority's SEN team.",
        as_of=today, recorded_ms=now_ms, la_code=owed.la_code)
    queued = 0
    for sub in contacts:
        if store.enqueue_now(engine, delivery_id=decide.delivery_id(sub.subscription_id,
                                                                    transition.event_id),
                             subscription=sub, purpose="reminder", items=[transition],
                             now_ms=now_ms, case_owner=(owed.case_id, owed.la_code)):
            queued += 1
    return ReminderOutcome(len(contacts), queued, len(contacts) - queued)
