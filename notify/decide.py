"""The notifier's decisions (pure: no I/O, no clock of its own, no randomness of its own).

- :func:`matching`: which subscriptions hear about an alert transition;
- :func:`delivery_id` and :func:`digest_delivery_id`: deterministic ids, so the same transition
  (read twice after a restart, or by two notifiers) is one delivery per subscription;
- :func:`latest_digest_slot` / :func:`next_digest_slot`: daily digests at a London time on
  working days (England and Wales bank holidays, :class:`ehcp.casework.calendar.Calendar`);
- :func:`retry_delay`: exponential back-off with jitter, and when to give up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from ehcp.casework.calendar import LONDON, Calendar
from notify.model import SEVERITIES, AlertTransition, RecipientKind, Subscription, UserScope

#: Namespace of delivery ids (uuid5); fixed forever, or replays would get new ids.
DELIVERY_NAMESPACE: Final = uuid.UUID("6f1d4c52-55a3-4c8e-9a38-0a8f2f1b7c11")
_LONDON: Final = ZoneInfo(LONDON)


def matching(subscriptions: Iterable[Subscription], transition: AlertTransition, *,
             users: Mapping[str, UserScope] | None = None,
             case_holder: str | None = None) -> list[Subscription]:
    """The subscriptions that hear about ``transition``.

    A subscription hears about a transition when all of these hold:

    - the transition was recorded at or after the subscription was made (a new subscription is
      not told the history);
    - its kind is one the subscription chose, and its severity at least the chosen minimum;
    - a resolution only if the subscription wants resolutions (agencies: never, a reminder is
      about advice still owed);
    - an LA's subscription: the case belongs to that LA (the owner learnt from the referral);
      an alert whose case has no known owner (an unrouted contribution) reaches no LA;
    - an agency's subscription: the alert names that agency (its own advice);
    - a workspace user's subscription: the account is known (``users``) and active, the case
      belongs to the user's LA, and for a case officer the case is theirs (``case_holder``,
      the user id the case is assigned to); managers and read-only users hear about every
      case of their LA, as they see every case in the workspace.
    """
    users = users or {}
    rank = SEVERITIES.index(transition.severity) if transition.severity in SEVERITIES else 0
    chosen = []
    for sub in subscriptions:
        if transition.recorded_ms < sub.created_ms:
            continue
        if transition.kind not in sub.kinds or rank < SEVERITIES.index(sub.min_severity):
            continue
        if transition.status == "RESOLVED" and (
                not sub.include_resolved or sub.recipient.kind is RecipientKind.AGENCY):
            continue
        if sub.recipient.kind is RecipientKind.LOCAL_AUTHORITY:
            if transition.la_code is None or transition.la_code != sub.recipient.value:
                continue
        elif sub.recipient.kind is RecipientKind.USER:
            scope = users.get(sub.recipient.value)
            if scope is None or not scope.active or transition.la_code != scope.la_code:
                continue
            if scope.caseload_only and case_holder != sub.recipient.value:
                continue
        elif (transition.agency_system, transition.agency_value) != (
                sub.recipient.system, sub.recipient.value):
            continue
        chosen.append(sub)
    return chosen


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The id of telling ``subscription_id`` about the alert event ``event_id`` at once."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"alert|{subscription_id}|{event_id}"))


def manual_reminder_event_id(case_id: str, advice_type: str, agency_system: str,
                             agency_value: str, day: date) -> str:
    """The id of the reminder an LA user sends about one piece of advice on ``day`` (London).

    Deterministic, so a second click (or a second officer) the same day is the same reminder,
    and the same delivery per contact (:func:`delivery_id`).
    """
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"manual-reminder|{case_id}|{advice_type}|"
                                              f"{agency_system}|{agency_value}|{day.isoformat()}"))


def digest_delivery_id(subscription_id: str, slot: datetime) -> str:
    """The id of the digest ``subscription_id`` gets at ``slot``."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE,
                          f"digest|{subscription_id}|{slot.astimezone(UTC).isoformat()}"))


def _slot_on(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=_LONDON).astimezone(UTC)


def latest_digest_slot(now: datetime, at: time, calendar: Calendar) -> datetime:
    """The most recent digest time at or before ``now``: ``at`` London time on a working day.

    Args:
        now: tz-aware current instant.
        at: the subscription's digest time (London wall clock; across a clock change the
            same wall time, so 08:00 stays 08:00 in summer and winter).
        calendar: working days (weekends and England and Wales bank holidays are skipped).
    """
    day = now.astimezone(_LONDON).date()
    while True:
        if calendar.is_working_day(day) and _slot_on(day, at) <= now:
            return _slot_on(day, at)
        day -= timedelta(days=1)


def next_digest_slot(now: datetime, at: time, calendar: Calendar) -> datetime:
    """The first digest time strictly after ``now``."""
    day = now.astimezone(_LONDON).date()
    while True:
        if calendar.is_working_day(day) and _slot_on(day, at) > now:
            return _slot_on(day, at)
        day += timedelta(days=1)


def retry_delay(attempt: int, *, base_s: float, cap_s: float,
                jitter: Callable[[], float]) -> float:
    """Seconds before retry number ``attempt`` (1 = the first retry).

    Exponential (``base_s``, doubling, at most ``cap_s``) with "equal jitter": half the delay is
    fixed and half random, so retries of many deliveries spread out but never come at once.

    Args:
        jitter: returns a number in [0, 1) (``random.random``; tests pass a constant).
    """
    exp = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return float(exp / 2 + exp / 2 * jitter())


def gives_up(first_queued_ms: int, now_ms: int, retry_for_s: float) -> bool:
    """True once a delivery has been retried for longer than ``retry_for_s``: dead-letter it."""
    return now_ms - first_queued_ms >= retry_for_s * 1000
