"""The clocks of a plan's later life: review meetings, cessation, disputes and placement.

The dates come from ``rules/`` (``review``, ``cessation``, ``disputes``, ``placement``); this
module decides which limits a case's events start, what completes each, and when one no
longer applies. ``timeline.statutory_dates`` adds them to the assessment and review dates.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta

from ehcp.casework import events as ev
from ehcp.casework.clocks import not_before, time_limit
from ehcp.casework.history import CaseHistory, first_on_or_after
from ehcp.casework.model import DateStatus, ExceptionInForce, StatutoryDate
from ehcp.casework.policy import Policy
from ehcp.casework.rules import cessation as cessation_rules
from ehcp.casework.rules import disputes as dispute_rules
from ehcp.casework.rules import placement as placement_rules
from ehcp.casework.rules import review as review_rules

__all__ = ["plan_dates", "review_maintained_dates"]

_NO_EXCEPTIONS: tuple[ExceptionInForce, ...] = ()


def _first(days: Iterable[date], start: date) -> date | None:
    return first_on_or_after(days, start)


def _by_id(pairs: Iterable[tuple[str, date]]) -> dict[str, list[date]]:
    """Dates grouped by id, each list sorted: one pass, so many events stay linear."""
    out: dict[str, list[date]] = {}
    for key, day in pairs:
        out.setdefault(key, []).append(day)
    for days in out.values():
        days.sort()
    return out


def _first_sorted(days: list[date], start: date) -> date | None:
    """The earliest of sorted ``days`` on or after ``start`` (binary search)."""
    index = bisect_left(days, start)
    return days[index] if index < len(days) else None


def review_maintained_dates(history: CaseHistory) -> tuple[date, ...]:
    """Days the LA decided, after a review, to keep the plan as it is (reg 20(10), 21(8))."""
    return tuple(
        sorted(
            e.occurred_on
            for e in history.of_kind(ev.ReviewDecisionMade)
            if e.outcome is ev.ReviewOutcome.MAINTAIN
        )
    )


def _review_meeting_dates(history: CaseHistory) -> list[StatutoryDate]:
    """Reg 20/21: notice and advice before each scheduled meeting; report and decision after."""
    schedules = history.of_kind(ev.ReviewMeetingScheduled)
    held = set(history.meetings)
    # The latest scheduling wins: a meeting date replaced by a later one (and not held) lapses.
    last_index = {s.meeting_on: i for i, s in enumerate(schedules)}
    invitations = _by_id(
        (e.meeting_on.isoformat(), e.occurred_on) for e in history.of_kind(ev.ReviewInvitationsSent)
    )
    circulated = _by_id(
        (e.meeting_on.isoformat(), e.occurred_on)
        for e in history.of_kind(ev.ReviewAdviceCirculated)
    )
    dates: list[StatutoryDate] = []
    for meeting_on, index in last_index.items():
        # ``index`` is this date's last scheduling, so any later one names another date.
        replaced = meeting_on not in held and index < len(schedules) - 1
        started = schedules[index].occurred_on
        sent = _min(*invitations.get(meeting_on.isoformat(), [])[:1])
        shared = _min(*circulated.get(meeting_on.isoformat(), [])[:1])
        for limit, due, done in (
            (
                review_rules.REVIEW_INVITATIONS,
                review_rules.review_invitations_due(meeting_on),
                sent,
            ),
            (
                review_rules.REVIEW_ADVICE_CIRCULATED,
                review_rules.review_advice_circulated_due(meeting_on),
                shared,
            ),
        ):
            dates.append(
                time_limit(
                    history,
                    _NO_EXCEPTIONS,
                    limit,
                    min(started, due),
                    due,
                    done,
                    not_applicable=replaced and done is None,
                )
            )
    reports = sorted(e.occurred_on for e in history.of_kind(ev.ReviewReportSent))
    decisions = sorted(
        [
            *(e.occurred_on for e in history.of_kind(ev.ReviewDecisionMade)),
            # Proposed amendments or a notice of intention to cease are the decision, notified.
            *history.proposals,
            *(e.occurred_on for e in history.of_kind(ev.CeaseIntentionNotified)),
        ]
    )
    for meeting_on in history.meetings:
        dates.append(
            time_limit(
                history,
                _NO_EXCEPTIONS,
                review_rules.REVIEW_REPORT,
                meeting_on,
                review_rules.review_report_due(meeting_on),
                _first_sorted(reports, meeting_on),
            )
        )
        dates.append(
            time_limit(
                history,
                _NO_EXCEPTIONS,
                review_rules.REVIEW_DECISION,
                meeting_on,
                review_rules.review_decision_due(meeting_on),
                _first_sorted(decisions, meeting_on),
            )
        )
    return dates


def _cessation_dates(history: CaseHistory) -> list[StatutoryDate]:
    """CFA s.45: a plan the LA decided to cease is maintained until the appeal period ends."""
    certificates = [e.occurred_on for e in history.of_kind(ev.MediationCertificateIssued)]
    appeals = history.of_kind(ev.TribunalAppealRegistered)
    orders = [e.occurred_on for e in history.of_kind(ev.TribunalOrderMade)]
    dates: list[StatutoryDate] = []
    for decision in history.of_kind(ev.CessationDecided):
        if decision.outcome is not ev.CessationOutcome.CEASE:
            continue
        notice = decision.occurred_on
        certificate = max((c for c in certificates if c >= notice), default=None)
        ends = cessation_rules.appeal_period_ends(notice, certificate)
        ceased = history.ceased if history.ceased is not None and history.ceased >= notice else None
        appeal = next((a for a in appeals if a.occurred_on >= notice), None)
        item = not_before(
            history, cessation_rules.PLAN_MAINTAINED_DURING_APPEAL, notice, ends, ceased
        )
        if appeal is not None:
            determined = _first(orders, appeal.occurred_on)
            if determined is not None:
                # Ceasing on the day the Tribunal dismisses the appeal is in time (reg 44(2)(a)).
                ends = max(ends, determined - timedelta(days=1))
                item = not_before(
                    history, cessation_rules.PLAN_MAINTAINED_DURING_APPEAL, notice, ends, ceased
                )
            else:
                # An appeal is pending: ceasing now is early; otherwise the plan is owed until
                # the Tribunal decides (the date shown stays the end of the appeal period).
                item = replace(
                    item, status=DateStatus.MISSED if ceased is not None else DateStatus.PENDING
                )
        dates.append(item)
    return dates


def _mediation_dates(history: CaseHistory) -> list[StatutoryDate]:
    """Regs 35-39 [S]: health body told in 3 working days; mediation in 30; certificate."""
    calendar = history.calendar
    notices = _by_id(
        (e.mediation_id, e.occurred_on) for e in history.of_kind(ev.MediationHealthBodyNotified)
    )
    held_by_id = _by_id((e.mediation_id, e.occurred_on) for e in history.of_kind(ev.MediationHeld))
    certificates = history.of_kind(ev.MediationCertificateIssued)
    declined = _by_id(
        (c.mediation_id or "", c.occurred_on)
        for c in certificates
        if c.kind is ev.MediationCertificateKind.MEDIATION_DECLINED
    )
    concluded = _by_id(
        (c.mediation_id or "", c.occurred_on)
        for c in certificates
        if c.kind is ev.MediationCertificateKind.MEDIATION_CONCLUDED
    )
    dates: list[StatutoryDate] = []
    for request in history.of_kind(ev.MediationRequested):
        start = request.occurred_on
        mid = request.mediation_id
        held = _first_sorted(held_by_id.get(mid, []), start)
        # A certificate without a mediation id counts for every mediation of the case.
        was_declined = _min(
            _first_sorted(declined.get(mid, []), start), _first_sorted(declined.get("", []), start)
        )
        if request.includes_health:
            dates.append(
                time_limit(
                    history,
                    _NO_EXCEPTIONS,
                    dispute_rules.MEDIATION_HEALTH_NOTICE,
                    start,
                    dispute_rules.within_working_days(start, calendar),
                    _first_sorted(notices.get(mid, []), start),
                )
            )
        dates.append(
            time_limit(
                history,
                _NO_EXCEPTIONS,
                dispute_rules.MEDIATION_HELD,
                start,
                dispute_rules.mediation_due(start),
                held,
                not_applicable=held is None and was_declined is not None,
            )
        )
        if held is not None:
            dates.append(
                time_limit(
                    history,
                    _NO_EXCEPTIONS,
                    dispute_rules.MEDIATION_CERTIFICATE,
                    held,
                    dispute_rules.within_working_days(held, calendar),
                    _min(
                        _first_sorted(concluded.get(mid, []), held),
                        _first_sorted(concluded.get("", []), held),
                    ),
                )
            )
    return dates


def _tribunal_dates(history: CaseHistory) -> list[StatutoryDate]:
    """The LA's response to an appeal, and the reg 44(2) / 42 periods of each order."""
    dates: list[StatutoryDate] = []
    responses = _by_id(
        (r.appeal_id, r.occurred_on) for r in history.of_kind(ev.TribunalResponseSubmitted)
    )
    for appeal in history.of_kind(ev.TribunalAppealRegistered):
        if appeal.response_due_on is None:
            continue
        dates.append(
            time_limit(
                history,
                _NO_EXCEPTIONS,
                dispute_rules.TRIBUNAL_RESPONSE,
                appeal.occurred_on,
                appeal.response_due_on,
                _first_sorted(responses.get(appeal.appeal_id, []), appeal.occurred_on),
            )
        )
    complied = _by_id((c.order_id, c.occurred_on) for c in history.of_kind(ev.OrderComplied))
    drafts = sorted(e.occurred_on for e in history.of_kind(ev.DraftPlanIssued))
    plans = sorted([*history.final_dates, *history.amended_dates])
    amended = sorted(history.amended_dates)
    assess_notices = sorted(
        [
            *(e.occurred_on for e in history.of_kind(ev.DecisionToAssessMade)),
            *history.reassessments,
        ]
    )
    not_issuing = sorted(e.occurred_on for e in history.of_kind(ev.DecisionNotToIssuePlan))
    named = sorted(e.occurred_on for e in history.of_kind(ev.InstitutionNamed))
    for order in history.of_kind(ev.TribunalOrderMade):
        on = order.occurred_on
        done = _first_sorted(complied.get(order.order_id, []), on)
        plan_after = _first_sorted(plans, on)
        refused_after = _first_sorted(not_issuing, on)
        completions: dict[str, tuple[date | None, bool]] = {
            "order_assessment_notice_due": (
                _min(_first_sorted(assess_notices, on), refused_after, plan_after, done),
                False,
            ),
            "order_decision_not_to_issue_due": (
                refused_after,
                plan_after is not None and refused_after is None,
            ),
            "order_assessment_plan_due": (
                _min(plan_after, done),
                refused_after is not None and plan_after is None,
            ),
            "order_draft_plan_due": (_min(_first_sorted(drafts, on), plan_after, done), False),
            "order_final_plan_due": (_min(plan_after, done), False),
            "order_amended_plan_due": (_min(_first_sorted(amended, on), done), False),
            "order_named_institution_due": (
                _min(_first_sorted(amended, on), _first_sorted(named, on), done),
                False,
            ),
            "mediation_agreement_action_due": (done, False),
        }
        for limit, weeks in dispute_rules.ORDER_LIMITS[order.kind]:
            if (
                order.source is ev.OrderSource.MEDIATION_AGREEMENT
                and order.kind is not ev.OrderKind.NON_APPEALABLE_ACTION
            ):
                limit = replace(limit, regulation=f"reg 42(2) applying {limit.regulation}")
            completed_on, not_applicable = completions[limit.name]
            dates.append(
                time_limit(
                    history,
                    _NO_EXCEPTIONS,
                    limit,
                    on,
                    dispute_rules.order_due(on, weeks),
                    completed_on,
                    not_applicable=not_applicable,
                )
            )
    return dates


def _min(*days: date | None) -> date | None:
    return min((d for d in days if d is not None), default=None)


def _placement_dates(history: CaseHistory, policy: Policy) -> list[StatutoryDate]:
    """The consulted school or college's reply (CFA s.39(2), 40(3); CoP 9.79 period, policy)."""
    answers = _by_id(
        (a.consultation_id, a.occurred_on)
        for a in history.of_kind(ev.InstitutionConsultationAnswered)
    )
    return [
        time_limit(
            history,
            _NO_EXCEPTIONS,
            placement_rules.CONSULTATION_RESPONSE,
            consulted.occurred_on,
            placement_rules.consultation_response_due(
                consulted.occurred_on, policy.institution_consultation_days
            ),
            _first_sorted(answers.get(consulted.consultation_id, []), consulted.occurred_on),
        )
        for consulted in history.of_kind(ev.InstitutionConsulted)
    ]


def plan_dates(history: CaseHistory, policy: Policy) -> list[StatutoryDate]:
    """Every clock of the plan's later life the case's events start."""
    return [
        *_review_meeting_dates(history),
        *_cessation_dates(history),
        *_mediation_dates(history),
        *_tribunal_dates(history),
        *_placement_dates(history, policy),
    ]
