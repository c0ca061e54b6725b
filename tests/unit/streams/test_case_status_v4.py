"""CaseStatus v4 carries the LA that owns the case: the first referral's, then the new LA's after
a reg 15 transfer, so the read model can file the case under whoever the worker says owns it."""

from __future__ import annotations

from datetime import date

from ehcp.contract.avro import default_codec
from ehcp.contract.records import CASE_STATUS as CASE_STATUS_RECORD
from ehcp.contract.records import CASEWORK_EVENT_RECORDED
from streams.stages.cases import CaseProcessor

from .test_case_processor import CASE, KEY, opened
from .test_case_status_v3 import casework, status_of


def test_the_status_names_the_owner_and_follows_a_transfer() -> None:
    """Before the transfer the referral's LA (999); after it the new LA (886), on the wire too."""
    processor = CaseProcessor.default(KEY)
    state, _, _ = opened(processor)
    plan = processor.on_event(state, CASE, CASEWORK_EVENT_RECORDED,
                              casework("FinalPlanIssued", "P-1", date(2026, 11, 2)))
    assert status_of(plan)["la_code"] == "999"
    moved = processor.on_event(plan.state, CASE, CASEWORK_EVENT_RECORDED, casework(
        "PlanTransferred", "T-1", date(2027, 1, 11), from_la="999", to_la="886",
        moved_on="2027-01-11"))
    status = status_of(moved)
    assert status["la_code"] == "886"
    codec = default_codec()
    name, decoded = codec.decode(codec.encode(CASE_STATUS_RECORD, status))
    assert name == CASE_STATUS_RECORD
    assert decoded["la_code"] == "886"
