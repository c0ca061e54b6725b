"""The case stage over contract records: open a case, fold inputs, fire each alert once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ehcp.contract.records import (
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    TASK_STATUS_CHANGED,
    RefusedError,
)
from ehcp.contract.records import CASEWORK_EVENT_RECORDED as CASEWORK_EVENT
from ehcp.contract.records import REFERRAL_RECEIVED as REFERRAL
from ehcp.contract.topics import ADVICE_REQUESTS, ALERTS, CASE_STATUS, CHILD_INDEX
from ehcp.errors import ContractError
from ehcp.identifiers import (
    LA_CODE_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    SCHOOL_URN_SYSTEM,
    UPN_SYSTEM,
)
from ehcp.routing import CASE_ID_LINK
from streams.stages.cases import CaseOutcome, CaseProcessor

KEY = b"k" * 32
CASE = "EHC-999-UNIT-1"
RECEIVED = datetime(2026, 9, 7, 10, tzinfo=UTC)  # a Monday in term time


def referral() -> dict[str, Any]:
    """A referral naming a health provider for medical advice only."""
    return {
        "event_id": "ref-1",
        "case_id": CASE,
        "la_code": "999",
        "received_at": RECEIVED,
        "requested_by": "PARENT",
        "child": {
            "identifiers": [
                {"system": NHS_NUMBER_SYSTEM, "value": "9434765919"},
                {"system": UPN_SYSTEM, "value": "B801200005001"},
            ],
            "date_of_birth": date(2016, 3, 14),
            "year_group": 5,
            "vision_impairment": False,
            "hearing_impairment": False,
            "looked_after": False,
        },
        "areas_of_need": [],
        "institution": None,
        "advice_providers": [
            {
                "advice_type": "MEDICAL",
                "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
            }
        ],
    }


def tick(as_of: date) -> dict[str, Any]:
    """A timer tick for the case."""
    return {"event_id": f"tick-{as_of}", "case_id": CASE, "as_of": as_of}


def medical(submitted_at: datetime, request_id: str | None) -> dict[str, Any]:
    """Medical advice routed into the case."""
    return {
        "event_id": "adv-1",
        "contribution_id": "urn:uuid:adv-1",
        "case_id": CASE,
        "request_id": request_id,
        "child_identifiers": [],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
        "submitted_at": submitted_at,
        "channel": "FHIR",
        "document": None,
    }


def run(
    processor: CaseProcessor, inputs: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, Any] | None, list[CaseOutcome]]:
    """Feed inputs through the stage as the agent would, returning the state and every outcome."""
    state = None
    outcomes = []
    for name, record in inputs:
        outcome = processor.on_event(state, CASE, name, record)
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def opened(processor: CaseProcessor) -> tuple[dict[str, Any], CaseOutcome, dict[str, Any]]:
    """A case after its referral and the advice request the referral caused."""
    state, (outcome,) = run(processor, [(REFERRAL, referral())])
    request = next(r for t, _, r, _ in outcome.outputs if t == ADVICE_REQUESTS)
    state2 = processor.on_event(state, CASE, ADVICE_REQUESTED, request).state
    return state2, outcome, request


@pytest.fixture
def processor() -> CaseProcessor:
    """The stage with the default policy."""
    return CaseProcessor.default(KEY)


def test_referral_opens_the_case(processor: CaseProcessor) -> None:
    """A referral emits index entries per identifier, a medical request due in 6 weeks, and a status."""
    _, outcome, request = opened(processor)
    topics = [t for t, _, _, _ in outcome.outputs]
    assert topics.count(CHILD_INDEX) == 3  # the case under its own id, and two identifiers
    assert topics.count(ADVICE_REQUESTS) == 1
    assert topics[-1] == CASE_STATUS
    for _, key, _record, _ in outcome.outputs:
        assert "9434765919" not in key
    assert request["advice_type"] == "MEDICAL"
    assert request["sent_on"] == date(2026, 9, 7)
    assert request["due_on"] == date(2026, 10, 19)  # 6 weeks, reg 8(1)
    assert request["regulation"] == "reg 6(1)(c)"


def test_a_repeated_input_changes_nothing(processor: CaseProcessor) -> None:
    """The same referral twice: the second is recognised and emits nothing."""
    state, _, _ = opened(processor)
    again = processor.on_event(state, CASE, REFERRAL, referral())
    assert again.changed is False
    assert again.outputs == []


def test_a_record_for_another_case_is_refused(processor: CaseProcessor) -> None:
    """A record whose case id is not its Kafka key is a contract error (dead-lettered)."""
    with pytest.raises(ContractError):
        processor.on_event(None, "EHC-OTHER", REFERRAL, referral())


def _alerts(outcome: CaseOutcome) -> list[tuple[str, str, str | None]]:
    return [
        (r["kind"], r["status"], r["advice_type"])
        for t, _, r, _ in outcome.outputs
        if t == ALERTS
    ]


def test_overdue_medical_advice_raises_one_alert_and_arrival_resolves_it(
    processor: CaseProcessor,
) -> None:
    """Late health advice raises exactly one overdue alert, repeated ticks add none, arrival resolves it."""
    state, _, request = opened(processor)
    overdue_day = date(2026, 10, 20)
    first = processor.on_event(state, CASE, CASE_TICK, tick(overdue_day))
    overdue = [a for a in _alerts(first) if a[0] == "ADVICE_OVERDUE" and a[2] == "MEDICAL"]
    assert overdue == [("ADVICE_OVERDUE", "RAISED", "MEDICAL")]
    later = processor.on_event(first.state, CASE, CASE_TICK, tick(overdue_day + timedelta(days=1)))
    assert not [a for a in _alerts(later) if a[0] == "ADVICE_OVERDUE" and a[2] == "MEDICAL"]
    arrived = processor.on_event(
        later.state,
        CASE,
        ADVICE_SUBMITTED,
        medical(datetime(2026, 10, 22, 9, tzinfo=UTC), request["request_id"]),
    )
    assert ("ADVICE_OVERDUE", "RESOLVED", "MEDICAL") in _alerts(arrived)
    status = next(r for t, _, r, _ in arrived.outputs if t == CASE_STATUS)
    assert {a["advice_type"]: a["status"] for a in status["advice"]}["MEDICAL"] == "RECEIVED"


def test_replaying_the_same_inputs_gives_identical_outputs(processor: CaseProcessor) -> None:
    """Event time, not processing time: the same inputs replayed give byte-identical outputs."""
    inputs = [
        (REFERRAL, referral()),
        (CASE_TICK, tick(date(2026, 10, 12))),
        (CASE_TICK, tick(date(2026, 10, 20))),
    ]
    _, first = run(processor, inputs)
    _, second = run(CaseProcessor.default(KEY), inputs)
    assert [o.outputs for o in first] == [o.outputs for o in second]
    assert any(_alerts(o) for o in first), "the scenario must raise alerts to compare"


def test_ids_are_deterministic(processor: CaseProcessor) -> None:
    """Request and alert event ids depend only on the case, so a replay after a crash repeats ids."""
    _, outcome, request = opened(processor)
    assert request["request_id"] == str(uuid.UUID(request["request_id"]))
    _, again, request_again = opened(CaseProcessor.default(KEY))
    assert request["request_id"] == request_again["request_id"]
    assert [r["event_id"] for _, _, r, _ in outcome.outputs if "event_id" in r] == [
        r["event_id"] for _, _, r, _ in again.outputs if "event_id" in r
    ]


def test_exported_events_explain_to_the_same_assessment(processor: CaseProcessor) -> None:
    """The stage's events written as JSON lines and parsed back evaluate exactly as the stage did."""
    from ehcp.casework.engine import evaluate
    from ehcp.casework.jsonl import dumps, parse_lines

    state, _, request = opened(processor)
    state = processor.on_event(
        state,
        CASE,
        ADVICE_SUBMITTED,
        medical(datetime(2026, 10, 22, 9, tzinfo=UTC), request["request_id"]),
    ).state
    state = processor.on_event(state, CASE, CASE_TICK, tick(date(2026, 11, 2))).state
    exported = dumps(processor.casework_events(state))
    assert evaluate(parse_lines(exported.splitlines()), date(2026, 11, 2)) == processor.assess(
        state
    )


def test_casework_event_from_the_la_is_applied(processor: CaseProcessor) -> None:
    """A DecisionToAssessMade recorded by the LA moves the case to ASSESSING."""
    import json

    state, _, _ = opened(processor)
    event = {
        "type": "DecisionToAssessMade",
        "event_id": "D-1",
        "case_id": CASE,
        "occurred_on": "2026-10-05",
    }
    record = {
        "event_id": "D-1",
        "case_id": CASE,
        "event_type": "DecisionToAssessMade",
        "occurred_on": date(2026, 10, 5),
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "999"},
        "event_json": json.dumps(event),
    }
    outcome = processor.on_event(state, CASE, CASEWORK_EVENT, record)
    status = next(r for t, _, r, _ in outcome.outputs if t == CASE_STATUS)
    assert status["stage"] == "ASSESSING"


def test_missed_appointment_on_a_task_excuses_the_advice_deadline(processor: CaseProcessor) -> None:
    """A health Task changed with reason reg-8-2-c records that exception: no overdue alert for it."""
    state, _, request = opened(processor)
    change = {
        "event_id": "T-1",
        "request_id": request["request_id"],
        "case_id": CASE,
        "status": "ACCEPTED",
        "reason_code": "reg-8-2-c",
        "reason_text": None,
        "owner": {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"},
        "changed_at": datetime(2026, 9, 20, 10, tzinfo=UTC),
    }
    state = processor.on_event(state, CASE, TASK_STATUS_CHANGED, change).state
    late = processor.on_event(state, CASE, CASE_TICK, tick(date(2026, 10, 20)))
    assert not [a for a in _alerts(late) if a[0] == "ADVICE_OVERDUE" and a[2] == "MEDICAL"]
    assessment = processor.assess(late.state)
    assert assessment is not None
    assert any(e.ground.name == "REG_8_2_C" for e in assessment.exceptions)


def test_a_casework_event_from_another_la_is_refused(processor: CaseProcessor) -> None:
    """LA 998 cannot record a decision on LA 999's case: ContractError (dead-lettered)."""
    import json

    state, _, _ = opened(processor)
    event = {"type": "DecisionToAssessMade", "event_id": "D-9", "case_id": CASE,
             "occurred_on": "2026-10-05"}
    record = {
        "event_id": "D-9",
        "case_id": CASE,
        "event_type": "DecisionToAssessMade",
        "occurred_on": date(2026, 10, 5),
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "998"},
        "event_json": json.dumps(event),
    }
    with pytest.raises(ContractError, match="belongs to LA 999"):
        processor.on_event(state, CASE, CASEWORK_EVENT, record)
    school = {**record, "recorded_by": {"system": "https://ehcp-exchange.org/Id/school-urn",
                                         "value": "100001"}}
    assert processor.on_event(state, CASE, CASEWORK_EVENT, school).changed


def test_referral_indexes_the_case_under_its_own_id(processor: CaseProcessor) -> None:
    """The referral sends a case-id routing entry keyed by the case id, so advice naming it can be routed."""
    _, outcome, _ = opened(processor)
    by_id = [(k, r) for t, k, r, _ in outcome.outputs
             if t == CHILD_INDEX and r["identifier_system"] == CASE_ID_LINK]
    assert len(by_id) == 1
    key, link = by_id[0]
    assert key == CASE
    assert link["case_id"] == CASE
    assert link["case_open"] is True


def test_a_case_referred_before_id_indexing_is_indexed_on_its_next_input(
    processor: CaseProcessor,
) -> None:
    """A stored case without the id entry gets it on its next input (a tick), once."""
    state, _, _ = opened(processor)
    del state["id_linked"]  # as stored by a version that did not index cases by id
    first = processor.on_event(state, CASE, CASE_TICK, tick(date(2026, 9, 20)))
    links = [(k, r) for t, k, r, _ in first.outputs if t == CHILD_INDEX]
    assert [(k, r["identifier_system"]) for k, r in links] == [(CASE, CASE_ID_LINK)]
    second = processor.on_event(first.state, CASE, CASE_TICK, tick(date(2026, 9, 21)))
    assert CHILD_INDEX not in [t for t, _, _, _ in second.outputs]


def test_advice_from_another_las_social_care_for_a_case_is_refused_with_an_alert(
    processor: CaseProcessor,
) -> None:
    """LA 886's social care advice naming LA 999's case: RefusedError carrying a CRITICAL alert; not applied."""
    state, _, _ = opened(processor)
    advice = {**medical(RECEIVED + timedelta(days=10), None), "advice_type": "SOCIAL_CARE",
              "contribution_id": "urn:uuid:sc-1", "event_id": "sc-1", "channel": "JSON",
              "agency": {"system": LA_CODE_SYSTEM, "value": "886"}}
    with pytest.raises(RefusedError, match="by LA 886, but the case belongs to LA 999") as refused:
        processor.on_event(state, CASE, ADVICE_SUBMITTED, advice)
    ((topic, key, alert, _),) = refused.value.emits
    assert (topic, key) == (ALERTS, CASE)
    assert alert["kind"] == "CONTRIBUTION_UNROUTED"
    assert alert["severity"] == "CRITICAL"
    assert alert["status"] == "RAISED"
    assert alert["case_id"] == CASE
    assert alert["agency"] == {"system": LA_CODE_SYSTEM, "value": "886"}
    assert "urn:uuid:sc-1" in alert["message"]
    assert "sc-1" not in state["seen"]


def test_advice_from_the_cases_own_la_a_school_or_a_health_body_is_applied(
    processor: CaseProcessor,
) -> None:
    """The owning LA's social care, any school (URN) and a health body (ODS) are accepted."""
    state, _, _ = opened(processor)
    when = RECEIVED + timedelta(days=10)
    for n, agency, advice_type in [
        (1, {"system": LA_CODE_SYSTEM, "value": "999"}, "SOCIAL_CARE"),
        (2, {"system": SCHOOL_URN_SYSTEM, "value": "100001"}, "EDUCATIONAL"),
        (3, {"system": ODS_ORGANISATION_SYSTEM, "value": "ZZ901"}, "MEDICAL"),
    ]:
        advice = {**medical(when, None), "advice_type": advice_type, "agency": agency,
                  "contribution_id": f"urn:uuid:ok-{n}", "event_id": f"ok-{n}"}
        outcome = processor.on_event(state, CASE, ADVICE_SUBMITTED, advice)
        assert outcome.changed
        state = outcome.state


def test_an_alert_raised_again_after_it_was_resolved_gets_new_event_ids() -> None:
    """Raised, resolved, raised again: three distinct event ids (readers de-duplicate by id), the first as before episodes were counted."""
    from datetime import date
    from types import SimpleNamespace

    from ehcp.casework.model import Alert, AlertKind, Severity
    from streams.stages.case_outputs import alert_changes, transition_id
    from streams.stages.case_store import new_case

    alert = Alert(alert_id="A-1", case_id="EHC-999-0001", kind=AlertKind.ADVICE_OVERDUE,
                  subject="MEDICAL", threshold="overdue", severity=Severity.WARNING,
                  regulation="reg 8(1)", message="medical advice overdue",
                  due_on=date(2026, 11, 2), days_overdue=3)
    state = new_case()
    ids = []
    for day, alerts in ((5, [alert]), (6, []), (9, [alert]), (10, [])):
        assessment = SimpleNamespace(case_id="EHC-999-0001", as_of=date(2026, 11, day),
                                     alerts=alerts)
        ids += [(e.record["status"], e.record["event_id"])
                for e in alert_changes(state, assessment)]  # type: ignore[arg-type]
    assert [status for status, _ in ids] == ["RAISED", "RESOLVED", "RAISED", "RESOLVED"]
    assert len({event_id for _, event_id in ids}) == 4
    assert ids[0][1] == transition_id("A-1", "RAISED")
    assert state["alerts"] == {}
    assert state["alert_raises"] == {"A-1": 2}


def _lifecycle(processor: CaseProcessor, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A referral, its advice request, advice a day after it is due, then a tick, for ``case_id``."""
    ref = {**referral(), "case_id": case_id, "event_id": f"ref-{case_id}"}
    outcome = processor.on_event(None, case_id, REFERRAL, ref)
    request = next(r for t, _, r, _ in outcome.outputs if t == ADVICE_REQUESTS)
    advice = {**medical(datetime(2026, 10, 20, 9, tzinfo=UTC), request["request_id"]),
              "case_id": case_id, "event_id": f"adv-{case_id}",
              "contribution_id": f"urn:uuid:adv-{case_id}"}

    def case_tick(on: date) -> dict[str, Any]:
        return {**tick(on), "case_id": case_id, "event_id": f"tick-{case_id}-{on}"}

    return [(REFERRAL, ref), (ADVICE_REQUESTED, request), (CASE_TICK, case_tick(date(2026, 10, 20))),
            (ADVICE_SUBMITTED, advice), (CASE_TICK, case_tick(date(2027, 1, 4)))]


def test_parsed_inputs_kept_between_events_give_what_a_fresh_parse_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cases interleaved through one processor (its parsed-event cache evicting) match fresh ones."""
    import streams.stages.cases as cases_module

    monkeypatch.setattr(cases_module, "PARSED_CASES", 2)
    cases = [f"EHC-999-UNIT-{n}" for n in range(3)]
    inputs = {c: _lifecycle(CaseProcessor.default(KEY), c) for c in cases}
    shared = CaseProcessor.default(KEY)
    states: dict[str, Any] = dict.fromkeys(cases)
    fresh_states: dict[str, Any] = dict.fromkeys(cases)
    alerts = 0
    for step in range(5):
        for case_id in cases:
            name, record = inputs[case_id][step]
            got = shared.on_event(states[case_id], case_id, name, record)
            # a new processor per input parses every stored input from scratch
            want = CaseProcessor.default(KEY).on_event(fresh_states[case_id], case_id, name, record)
            assert (got.state, got.outputs, got.next_due) == (want.state, want.outputs,
                                                              want.next_due)
            states[case_id], fresh_states[case_id] = got.state, want.state
            alerts += sum(e.topic == ALERTS for e in got.outputs)
    assert alerts >= 2 * len(cases)  # the overdue medical advice raised and resolved in each
    assert len(shared._parsed) == 2


def test_the_next_due_date_is_stored_with_the_case(processor: CaseProcessor) -> None:
    """The timer's index is rebuilt from the stored date; a case stored without one is evaluated."""
    state, outcomes = run(processor, [(REFERRAL, referral())])
    assert outcomes[0].next_due is not None
    assert state is not None
    assert state["next_due"] == outcomes[0].next_due.isoformat()
    assert processor.next_due(state) == outcomes[0].next_due
    stored_before = {k: v for k, v in state.items() if k != "next_due"}
    assert processor.next_due(stored_before) == outcomes[0].next_due
    moved = {**state, "next_due": "2031-01-01"}  # read, not worked out again
    assert processor.next_due(moved) == date(2031, 1, 1)


def _casework(event: dict[str, Any], by: str) -> dict[str, Any]:
    import json

    return {
        "event_id": event["event_id"],
        "case_id": CASE,
        "event_type": event["type"],
        "occurred_on": date.fromisoformat(event["occurred_on"]),
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": by},
        "event_json": json.dumps(event),
    }


def test_a_plan_transfer_moves_the_case_to_the_new_la(processor: CaseProcessor) -> None:
    """Reg 15: after LA 999 transfers to 886, 886 records on the case and 999 is refused; the
    case keeps its history (the advice request is still there)."""
    state, _, request = opened(processor)
    moved = {"type": "PlanTransferred", "event_id": "TR-1", "case_id": CASE,
             "occurred_on": "2026-10-05", "from_la": "999", "to_la": "886",
             "moved_on": "2026-10-05"}
    # Only the owner can transfer, and only its own case.
    with pytest.raises(ContractError, match="belongs to LA 999"):
        processor.on_event(state, CASE, CASEWORK_EVENT, _casework(moved, "886"))
    wrong_from = {**moved, "event_id": "TR-0", "from_la": "201"}
    with pytest.raises(ContractError, match="transfer from LA 201"):
        processor.on_event(state, CASE, CASEWORK_EVENT, _casework(wrong_from, "999"))

    state = processor.on_event(state, CASE, CASEWORK_EVENT, _casework(moved, "999")).state
    assert state["la_code"] == "886"
    notice = {"type": "TransferNoticeGiven", "event_id": "TN-1", "case_id": CASE,
              "occurred_on": "2026-10-06", "proposes_assessment": False}
    assert processor.on_event(state, CASE, CASEWORK_EVENT, _casework(notice, "886")).changed
    with pytest.raises(ContractError, match="belongs to LA 886"):
        processor.on_event(state, CASE, CASEWORK_EVENT,
                           _casework({**notice, "event_id": "TN-2"}, "999"))
    events = processor.casework_events(state)
    assert any(getattr(e, "request_id", None) == request["request_id"] for e in events)


def test_the_referrals_own_advice_requests_are_applied_with_it(processor: CaseProcessor) -> None:
    """The referral's status already shows its request; reading the request back does nothing."""
    from ehcp.contract.avro import default_codec

    state, (outcome,) = run(processor, [(REFERRAL, referral())])
    assert state is not None
    request = next(r for t, _, r, _ in outcome.outputs if t == ADVICE_REQUESTS)
    status = next(r for t, _, r, _ in outcome.outputs if t == CASE_STATUS)
    assert [(a["advice_type"], a["status"], a["request_id"]) for a in status["advice"]
            if a["advice_type"] == "MEDICAL"] == [("MEDICAL", "REQUESTED", request["request_id"])]
    assert [item["event"]["type"] for item in state["inputs"]] == [
        "RequestForAssessmentReceived", "AdviceRequested"]
    codec = default_codec()
    name, read_back = codec.decode(codec.encode(ADVICE_REQUESTED, request))
    again = processor.on_event(state, CASE, name, read_back)
    assert (again.changed, again.outputs, again.next_due) == (False, [], outcome.next_due)
    # a fresh processor (nothing cached) reads the stored request back as the same event
    fresh = CaseProcessor.default(KEY)
    assert fresh.casework_events(state) == processor.casework_events(state)
    assert fresh.assess(state) == processor.assess(state)


def test_an_advice_request_sent_by_someone_else_is_still_applied_on_read(
    processor: CaseProcessor,
) -> None:
    """Only the stage's own requests are folded in: another request is applied when it arrives."""
    state, _ = run(processor, [(REFERRAL, referral())])
    other = {"event_id": "req-other", "request_id": "req-other", "case_id": CASE,
             "advice_type": "EDUCATIONAL",
             "agency": {"system": LA_CODE_SYSTEM, "value": "999"},
             "child_identifiers": [], "sent_on": date(2026, 9, 8), "due_on": date(2026, 10, 20),
             "regulation": "reg 6(1)(b)",
             "requester": {"system": LA_CODE_SYSTEM, "value": "999"}}
    outcome = processor.on_event(state, CASE, ADVICE_REQUESTED, other)
    assert outcome.changed is True
    assert outcome.state["inputs"][-1]["event"]["type"] == "AdviceRequested"
    assert outcome.outputs[-1].topic == CASE_STATUS
