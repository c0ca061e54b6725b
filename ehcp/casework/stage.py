"""The lifecycle stage of a case, read from its history."""

from __future__ import annotations

from ehcp.casework.history import CaseHistory, first_on_or_after
from ehcp.casework.model import Stage

# Stages in which advice is being gathered, so advice alerts apply.
GATHERING_ADVICE = frozenset(
    {Stage.REQUEST_RECEIVED, Stage.ASSESSING, Stage.DRAFT_PLAN_ISSUED, Stage.REASSESSING}
)


def stage_of(history: CaseHistory) -> Stage:
    """The case's stage: the furthest step reached, with cessation overriding everything."""
    if history.ceased is not None:
        return Stage.CEASED
    latest = history.latest_reassessment
    plans = [*history.final_dates, *history.amended_dates]
    if latest is not None and first_on_or_after(plans, latest) is None:
        return Stage.REASSESSING
    if (
        history.proposals
        and first_on_or_after(history.amended_dates, history.proposals[-1]) is None
    ):
        return Stage.AMENDING
    if history.final is not None:
        return Stage.PLAN_MAINTAINED
    if history.not_issuing is not None:
        return Stage.PLAN_NOT_ISSUED
    if history.draft is not None:
        return Stage.DRAFT_PLAN_ISSUED
    if history.decided_to_assess is not None:
        return Stage.ASSESSING
    if history.refused is not None:
        return Stage.ASSESSMENT_REFUSED
    if history.request is not None:
        return Stage.REQUEST_RECEIVED
    return Stage.NO_REQUEST
