"""Health advice delegated by the ICB's Designated Clinical Officer to providers (pure).

The LA asks the ICB for medical advice (reg 6(1)(c)); the ICB's Designated Clinical Officer
(DCO) delegates parts to providers (community paediatrics, speech and language therapy,
occupational therapy, CAMHS) and collates their answers. In law the ICB is the body asked, so
the parent request keeps its reg 8(1) deadline and only the collated advice that names the
parent request answers it [V: reg 8(1) binds the person the request was made to]. The parts are
how the case knows *who* is holding the request up:

- a part is DONE when advice naming its id arrives, DECLINED when the provider declined it
  (the DCO must ask someone else), otherwise OPEN;
- an open part past its own due date, or past the parent's (a part delegated after the ICB's
  6 weeks ran out is holding it up from the start), while the parent request is still open,
  raises ADVICE_OVERDUE about the part with the provider as its agency (so the provider's own
  Task shows the reminder);
- the parent's own ADVICE_OVERDUE alert names the providers whose parts are still open.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from ehcp.casework.alerts import alert_id
from ehcp.casework.events import (
    ADVICE_LABEL,
    AdviceDelegated,
    AdviceRequestDeclined,
    AdviceSubmitted,
)
from ehcp.casework.history import CaseHistory
from ehcp.casework.model import AdviceItem, AdviceStatus, Alert, AlertKind, Severity

#: Advice statuses of a parent request that is still waited for.
_OPEN_PARENT = frozenset({AdviceStatus.REQUESTED, AdviceStatus.OVERDUE})


class PartStatus(enum.Enum):
    """Where a delegated part has got to."""

    OPEN = "OPEN"
    DONE = "DONE"
    DECLINED = "DECLINED"


@dataclass(frozen=True, slots=True)
class DelegatedPart:
    """One part of a health advice request, delegated by the DCO to a provider."""

    part_id: str
    parent_request_id: str
    agency_id: str
    service: str
    sent_on: date
    due_on: date
    status: PartStatus
    done_on: date | None

    def holding_up(self, as_of: date, parent_due: date | None = None) -> bool:
        """Open and past its own due date (or the parent's, if that is earlier)."""
        return self.status is PartStatus.OPEN and as_of > self.late_after(parent_due)

    def late_after(self, parent_due: date | None) -> date:
        """The last day the part is not yet late: its own due date or the parent's."""
        return min(self.due_on, parent_due) if parent_due is not None else self.due_on


def delegated_parts(history: CaseHistory) -> tuple[DelegatedPart, ...]:
    """Every delegated part in the case with its status, by sent date then id."""
    parts: dict[str, DelegatedPart] = {}
    for d in history.of_kind(AdviceDelegated):
        parts.setdefault(d.part_id, DelegatedPart(
            d.part_id, d.parent_request_id, d.agency_id, d.service.name, d.sent_on, d.due_on,
            PartStatus.OPEN, None,
        ))
    for e in history.events:
        if isinstance(e, AdviceSubmitted) and e.request_id in parts:
            part = parts[e.request_id]
            if part.status is not PartStatus.DONE:
                parts[e.request_id] = replace(part, status=PartStatus.DONE,
                                              done_on=e.submitted_on)
        elif isinstance(e, AdviceRequestDeclined) and e.request_id in parts:
            part = parts[e.request_id]
            if part.status is PartStatus.OPEN:
                parts[e.request_id] = replace(part, status=PartStatus.DECLINED,
                                              done_on=e.occurred_on)
    return tuple(sorted(parts.values(), key=lambda p: (p.sent_on, p.part_id)))


def _service_words(service: str) -> str:
    return "CAMHS" if service == "CAMHS" else service.replace("_", " ").lower()


def _holder_words(part: DelegatedPart) -> str:
    return (f"{_service_words(part.service)} at {part.agency_id.rpartition('|')[2]} "
            f"(part {part.part_id}, due {part.due_on.isoformat()})")


def with_holders(alerts: Sequence[Alert], parts: Iterable[DelegatedPart],
                 items: Iterable[AdviceItem]) -> list[Alert]:
    """The alerts, each parent request's ADVICE_OVERDUE naming the providers still open on it."""
    by_subject = {i.subject: i.request_id for i in items if i.request_id}
    open_parts = [p for p in parts if p.status is PartStatus.OPEN]
    result = []
    for alert in alerts:
        request_id = by_subject.get(alert.subject)
        holders = [p for p in open_parts if p.parent_request_id == request_id]
        if alert.kind is AlertKind.ADVICE_OVERDUE and holders:
            alert = replace(alert, message=alert.message + " Waiting for: "
                            + "; ".join(_holder_words(p) for p in holders) + ".")
        result.append(alert)
    return result


def part_alerts(case_id: str, parts: Iterable[DelegatedPart], items: Iterable[AdviceItem],
                as_of: date) -> list[Alert]:
    """ADVICE_OVERDUE for each open part past its due date while its parent request is open."""
    open_parents = {i.request_id: i for i in items
                    if i.request_id and i.status in _OPEN_PARENT}
    alerts = []
    for part in parts:
        parent = open_parents.get(part.parent_request_id)
        if parent is None or not part.holding_up(as_of, parent.due_on):
            continue
        late_after = part.late_after(parent.due_on)
        overdue = (as_of - late_after).days
        subject = f"part:{part.part_id}"
        alerts.append(Alert(
            alert_id=alert_id(case_id, AlertKind.ADVICE_OVERDUE, subject, "overdue"),
            case_id=case_id,
            kind=AlertKind.ADVICE_OVERDUE,
            subject=subject,
            threshold="overdue",
            severity=Severity.WARNING,
            regulation="reg 8(1) (delegated part)",
            message=(
                f"The {_service_words(part.service)} part {part.part_id} of "
                f"{ADVICE_LABEL[parent.advice_type].lower()} request {part.parent_request_id}, "
                f"delegated to {part.agency_id.rpartition('|')[2]}, was due on "
                f"{late_after.isoformat()} and is {overdue} day(s) overdue."
            ),
            due_on=late_after,
            days_overdue=overdue,
            agency_id=part.agency_id,
            advice_type=parent.advice_type,
        ))
    return alerts


def transition_dates(parts: Iterable[DelegatedPart]) -> list[date]:
    """Days the part alerts may change: the day after each open part falls due."""
    return [p.due_on + timedelta(days=1) for p in parts if p.status is PartStatus.OPEN]
