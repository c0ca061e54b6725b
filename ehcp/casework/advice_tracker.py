"""The advice items of the case's current assessment: what is required (reg 6), what was asked
for, what arrived, and when each body's 6 weeks end (reg 8(1)).

The current assessment is the latest re-assessment (reg 27) if there is one, else the initial
assessment. Requirements apply once the LA has decided to assess (or re-assess).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from ehcp.casework.events import (
    ADVICE_REGULATION,
    AdditionalAdviceAdded,
    AdviceDelegated,
    AdviceRequestDeclined,
    AdviceRequested,
    AdviceReused,
    AdviceSubmitted,
    AdviceType,
    CaseEvent,
    DeclineReason,
)
from ehcp.casework.history import CaseHistory
from ehcp.casework.model import AdviceItem, AdviceStatus, ExceptionInForce
from ehcp.casework.policy import Policy
from ehcp.casework.rules import advice as advice_rules
from ehcp.casework.rules.exceptions import excuses_advice_deadline

_ADVICE_ORDER = {advice_type: index for index, advice_type in enumerate(AdviceType)}
# Statuses that mean the requirement is being, or has been, met.
LIVE = frozenset(
    {AdviceStatus.REQUESTED, AdviceStatus.OVERDUE, AdviceStatus.RECEIVED, AdviceStatus.REUSED}
)


@dataclass(frozen=True, slots=True)
class AssessmentCycle:
    """The assessment advice is being gathered for.

    Attributes:
        starts_on: events before this belong to an earlier assessment (None: the initial one).
        decided_on: the decision to assess or the notice of re-assessment, if made.
    """

    starts_on: date | None
    decided_on: date | None


def current_cycle(history: CaseHistory) -> AssessmentCycle:
    """The latest re-assessment if any (reg 27), else the initial assessment (reg 5)."""
    latest = history.latest_reassessment
    if latest is not None:
        return AssessmentCycle(starts_on=latest, decided_on=latest)
    return AssessmentCycle(starts_on=None, decided_on=history.decided_to_assess)


def _request_item(
    req: AdviceRequested,
    submissions: list[AdviceSubmitted],
    declined: DeclineReason | None,
    exceptions: tuple[ExceptionInForce, ...],
    as_of: date,
) -> AdviceItem:
    """One request's item: due 6 weeks from the body's receipt (reg 8(1)), excused by reg 8(2)."""
    body_received = req.received_by_body_on or req.sent_on
    due = advice_rules.advice_due_on(body_received)
    excusing = tuple(
        e.exception_id
        for e in exceptions
        if excuses_advice_deadline(e, req.request_id, body_received, due, as_of)
    )
    if submissions:
        status = AdviceStatus.RECEIVED
    elif declined is not None:
        status = AdviceStatus.DECLINED
    elif as_of > due:
        status = AdviceStatus.OVERDUE
    else:
        status = AdviceStatus.REQUESTED
    return AdviceItem(
        advice_type=req.advice_type,
        regulation=ADVICE_REGULATION[req.advice_type],
        status=status,
        required=False,
        request_id=req.request_id,
        agency_id=req.agency_id,
        sent_on=req.sent_on,
        received_by_body_on=body_received,
        due_on=due,
        submitted_on=min((s.submitted_on for s in submissions), default=None),
        contribution_ids=tuple(s.contribution_id for s in submissions),
        excused=bool(excusing),
        exception_ids=excusing,
        decline_reason=declined if status is AdviceStatus.DECLINED else None,
        subject=f"request:{req.request_id}",
    )


def _gathered_items(
    history: CaseHistory, cycle: AssessmentCycle, exceptions: tuple[ExceptionInForce, ...]
) -> list[AdviceItem]:
    """Items for every request, unrequested submission and reg 6(4) reuse in the cycle."""

    def in_cycle(event: CaseEvent) -> bool:
        return cycle.starts_on is None or history.date_of(event) >= cycle.starts_on

    # A delegated part's advice and declines belong to the part, never to an LA request: the
    # parent request is answered only by the advice that names it (ehcp.casework.delegation).
    parts = {d.part_id for d in history.of_kind(AdviceDelegated)}
    requests: dict[str, AdviceRequested] = {}
    for req in history.of_kind(AdviceRequested):
        if in_cycle(req) and req.request_id not in requests:
            requests[req.request_id] = req
    # The latest decline of each request gives its reason (history is in event order).
    declined: dict[str, DeclineReason] = {
        d.request_id: d.reason
        for d in history.of_kind(AdviceRequestDeclined)
        if d.request_id in requests
    }
    answers: dict[str, list[AdviceSubmitted]] = {rid: [] for rid in requests}
    unrequested: list[AdviceSubmitted] = []
    by_sent = sorted(requests.values(), key=lambda r: (r.sent_on, r.request_id))
    for sub in history.of_kind(AdviceSubmitted):
        if not in_cycle(sub) or sub.request_id in parts:
            continue
        if sub.request_id is not None and sub.request_id in requests:
            answers[sub.request_id].append(sub)
            continue
        # Unlinked advice answers the earliest open request of its type sent before it, one
        # addressed to the body that sent it first (two trusts may be asked for medical advice).
        candidates = [
            r
            for r in by_sent
            if r.advice_type is sub.advice_type
            and r.sent_on <= sub.submitted_on
            and not answers[r.request_id]
            and r.request_id not in declined
        ]
        open_request = next(
            (r for r in candidates if sub.agency_id is not None and r.agency_id == sub.agency_id),
            candidates[0] if candidates else None,
        )
        if sub.request_id is None and open_request is not None:
            answers[open_request.request_id].append(sub)
        else:
            unrequested.append(sub)

    items = [
        _request_item(req, answers[rid], declined.get(rid), exceptions, history.as_of)
        for rid, req in requests.items()
    ]
    items.extend(
        AdviceItem(
            advice_type=sub.advice_type,
            regulation=ADVICE_REGULATION[sub.advice_type],
            status=AdviceStatus.RECEIVED,
            required=False,
            request_id=sub.request_id,
            agency_id=sub.agency_id,
            submitted_on=sub.submitted_on,
            contribution_ids=(sub.contribution_id,),
            subject=f"contribution:{sub.contribution_id}",
        )
        for sub in unrequested
    )
    seen_reuse: set[str] = set()
    for reuse in history.of_kind(AdviceReused):
        # Reg 6(4): only when the author, the LA and the family all agree.
        if not in_cycle(reuse) or not reuse.all_agreed or reuse.reuse_id in seen_reuse:
            continue
        seen_reuse.add(reuse.reuse_id)
        items.append(
            AdviceItem(
                advice_type=reuse.advice_type,
                regulation=f"{ADVICE_REGULATION[reuse.advice_type]} met under reg 6(4)",
                status=AdviceStatus.REUSED,
                required=False,
                contribution_ids=(reuse.source_contribution_id,),
                reuse_id=reuse.reuse_id,
                submitted_on=reuse.occurred_on,
                subject=f"reuse:{reuse.reuse_id}",
            )
        )
    return items


def required_types(
    history: CaseHistory, decided_on: date, policy: Policy
) -> tuple[AdviceType, ...]:
    """Reg 6(1)(a)-(e), (g), 6(2) and the VSH policy, judged on the decision date."""
    vsh = history.looked_after and policy.virtual_school_head_for_looked_after
    request = history.request
    if request is None:
        extra = (AdviceType.VIRTUAL_SCHOOL_HEAD,) if vsh else ()
        return advice_rules.ALWAYS_REQUIRED + extra
    return advice_rules.required_advice(
        year_group=advice_rules.year_group_on(
            request.year_group, history.date_of(request), decided_on
        ),
        date_of_birth=request.date_of_birth,
        on=decided_on,
        vision_impairment=request.vision_impairment,
        hearing_impairment=request.hearing_impairment,
        looked_after=history.looked_after,
        virtual_school_head_for_looked_after=policy.virtual_school_head_for_looked_after,
    )


def _with_requirements(
    history: CaseHistory,
    cycle: AssessmentCycle,
    decided_on: date,
    items: list[AdviceItem],
    policy: Policy,
) -> list[AdviceItem]:
    """Mark required items and add NOT_REQUESTED placeholders for unmet requirements."""
    required = required_types(history, decided_on, policy)
    result = [replace(i, required=True) if i.advice_type in required else i for i in items]
    for advice_type in required:
        if not any(i.advice_type is advice_type and i.status in LIVE for i in result):
            result.append(
                AdviceItem(
                    advice_type=advice_type,
                    regulation=ADVICE_REGULATION[advice_type],
                    status=AdviceStatus.NOT_REQUESTED,
                    required=True,
                    subject=f"required:{advice_type.value}",
                )
            )
    # Reg 6(1)(f)/(h) additions: each is met by a live item of its type (and agency, if named).
    used: set[int] = set()
    seen: set[str] = set()
    for addition in history.of_kind(AdditionalAdviceAdded):
        in_cycle = cycle.starts_on is None or addition.occurred_on >= cycle.starts_on
        if not in_cycle or addition.addition_id in seen:
            continue
        seen.add(addition.addition_id)
        match = next(
            (
                index
                for index, i in enumerate(result)
                if index not in used
                and i.advice_type is addition.advice_type
                and i.status in LIVE
                and (addition.agency_id is None or i.agency_id == addition.agency_id)
            ),
            None,
        )
        if match is not None:
            used.add(match)
            result[match] = replace(result[match], required=True)
            continue
        result.append(
            AdviceItem(
                advice_type=addition.advice_type,
                regulation=ADVICE_REGULATION[addition.advice_type],
                status=AdviceStatus.NOT_REQUESTED,
                required=True,
                agency_id=addition.agency_id,
                subject=f"addition:{addition.addition_id}",
            )
        )
    return result


def advice_items(
    history: CaseHistory, exceptions: tuple[ExceptionInForce, ...], policy: Policy
) -> tuple[AdviceItem, ...]:
    """The advice items of the current assessment, in reg 6 order."""
    cycle = current_cycle(history)
    items = _gathered_items(history, cycle, exceptions)
    if cycle.decided_on is not None:
        items = _with_requirements(history, cycle, cycle.decided_on, items, policy)
    return tuple(
        sorted(
            items,
            key=lambda i: (_ADVICE_ORDER[i.advice_type], i.sent_on or date.min, i.subject),
        )
    )
