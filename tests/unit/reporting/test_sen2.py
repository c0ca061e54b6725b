"""The SEN2 return from worked cases: scope, the engine's 20-week flag, validation, output."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.reporting import sen2
from tests.unit.casework.builders import decided, next_id, request_received

COLL = sen2.collection_for(2026)  # reference date 15 January 2026, calendar year 2025
GOLDEN = Path(__file__).parent / "golden"
RECEIVED = date(2025, 1, 6)  # a Monday


def _case(ref: str, events: list[ev.CaseEvent], la: str | None = "999") -> sen2.Sen2Case:
    return sen2.evaluated(ref, la, [_with_case(e, ref) for e in events], COLL.reference_date)


def _with_case(event: ev.CaseEvent, ref: str) -> ev.CaseEvent:
    from dataclasses import replace
    return replace(event, case_id=ref)


def _issued(on: date) -> ev.FinalPlanIssued:
    return ev.FinalPlanIssued(next_id(), "x", on)


def plan_in_19_weeks(ref: str = "EHC-999-T-0001") -> sen2.Sen2Case:
    return _case(ref, [request_received(RECEIVED), decided(date(2025, 2, 10)),
                       ev.DraftPlanIssued(next_id(), "x", date(2025, 4, 22)),
                       _issued(RECEIVED + timedelta(weeks=19))])


def plan_in_22_weeks_excused(ref: str = "EHC-999-T-0002") -> sen2.Sen2Case:
    return _case(ref, [
        request_received(RECEIVED), decided(date(2025, 2, 10)),
        ev.TimescaleExceptionRecorded(next_id(), "x", "EXC-1", ev.ExceptionGround.REG_10_4_C,
                                      starts_on=date(2025, 4, 1), ends_on=date(2025, 5, 20)),
        ev.DraftPlanIssued(next_id(), "x", date(2025, 5, 12)),
        _issued(RECEIVED + timedelta(weeks=22))])


def refusal(ref: str = "EHC-999-T-0003", on: date = date(2025, 2, 14)) -> sen2.Sen2Case:
    return _case(ref, [request_received(on - timedelta(weeks=5)),
                       ev.AssessmentRefused(next_id(), "x", on)])


def test_a_plan_issued_in_19_weeks_is_an_active_plan_without_exceptions() -> None:
    case = plan_in_19_weeks()
    assert case.assessment is not None
    assert case.assessment.timeliness.final_plan_within_20_weeks is True
    ret = sen2.build_return([case], "999", COLL)
    (p,) = ret.persons
    assert p.scope == sen2.Scope.ACTIVE_PLAN
    assert p.received_date == RECEIVED
    assert p.request_outcome_date == date(2025, 2, 10)
    assert p.assessment_outcome_date == p.plan_start_date == date(2025, 5, 19)
    assert p.week20 is False
    assert ret.failures == ()


def test_a_plan_issued_in_22_weeks_with_an_exception_carries_the_engines_flag() -> None:
    case = plan_in_22_weeks_excused()
    assert case.assessment is not None
    timeliness = case.assessment.timeliness
    assert timeliness.final_plan_within_20_weeks is False
    assert timeliness.exceptions_apply is True
    (p,) = sen2.build_return([case], "999", COLL).persons
    assert p.week20 is True
    assert p.assessment_outcome_date == date(2025, 6, 9)


def test_week20_is_the_engines_flag_not_a_recomputation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip the engine's flag on an evaluated case: the return follows it."""
    from dataclasses import replace
    case = plan_in_19_weeks()
    assert case.assessment is not None
    flipped = replace(case, assessment=replace(
        case.assessment, timeliness=replace(case.assessment.timeliness, exceptions_apply=True)))
    (p,) = sen2.build_return([flipped], "999", COLL).persons
    assert p.week20 is True


def test_a_refusal_in_the_year_is_reported_as_not_assessed() -> None:
    (p,) = sen2.build_return([refusal()], "999", COLL).persons
    assert p.scope == sen2.Scope.NOT_ASSESSED_IN_YEAR
    assert p.request_outcome_date == date(2025, 2, 14)
    assert p.assessment_outcome_date is None
    assert p.week20 is None


def test_another_las_case_and_a_case_outside_the_year_are_excluded() -> None:
    cases = [plan_in_19_weeks(), _case("EHC-886-T-0004", [request_received(RECEIVED)], la="886"),
             refusal("EHC-999-T-0005", on=date(2024, 3, 1)),
             _case("EHC-999-T-0006", [request_received(date(2026, 2, 2))])]
    ret = sen2.build_return(cases, "999", COLL)
    assert [p.case_ref for p in ret.persons] == ["EHC-999-T-0001"]
    assert ret.excluded == {"another LA's case": 1,
                            "decision not to assess outside the calendar year": 1,
                            "no event by the reference date": 1}


def test_ongoing_ceased_and_not_issued_cases_are_in_scope() -> None:
    ongoing = _case("EHC-999-T-0007", [request_received(date(2025, 12, 1))])
    ceased = _case("EHC-999-T-0008", [
        request_received(date(2023, 1, 9)), decided(date(2023, 2, 13)), _issued(date(2023, 5, 22)),
        ev.PlanCeased(next_id(), "x", date(2025, 7, 18))])
    not_issued = _case("EHC-999-T-0009", [
        request_received(RECEIVED), decided(date(2025, 2, 10)),
        ev.DecisionNotToIssuePlan(next_id(), "x", date(2025, 4, 28))])
    ret = sen2.build_return([ongoing, ceased, not_issued], "999", COLL)
    scopes = {p.case_ref: p.scope for p in ret.persons}
    assert scopes == {"EHC-999-T-0007": sen2.Scope.ONGOING,
                      "EHC-999-T-0008": sen2.Scope.CEASED_IN_YEAR,
                      "EHC-999-T-0009": sen2.Scope.NOT_ISSUED_IN_YEAR}
    ceased_p = next(p for p in ret.persons if p.case_ref == "EHC-999-T-0008")
    assert ceased_p.cease_date == date(2025, 7, 18)


def test_a_transferred_in_plan_names_the_old_la() -> None:
    case = _case("EHC-999-T-0010", [
        request_received(date(2023, 1, 9)), decided(date(2023, 2, 13)), _issued(date(2023, 5, 22)),
        ev.PlanTransferred(next_id(), "x", date(2025, 9, 1), from_la="886", to_la="999",
                           moved_on=date(2025, 8, 20))])
    (p,) = sen2.build_return([case], "999", COLL).persons
    assert p.transfer_la == "886"


def test_validation_reports_rule_and_case_reference_only() -> None:
    p = sen2.Person(case_ref="EHC-999-T-0011", scope=sen2.Scope.ACTIVE_PLAN,
                    birth_date=date(2016, 5, 14), received_date=date(2025, 3, 3),
                    request_outcome_date=date(2025, 3, 1), assessment_outcome_date=date(2025, 2, 1),
                    week20=None, plan_start_date=date(2025, 2, 1), cease_date=date(2025, 1, 1),
                    transfer_la=None, review_meeting=None)
    failures = sen2.validate(p, COLL)
    assert [f.rule for f in failures] == ["EHCP-S02", "EHCP-S03", "EHCP-S05", "EHCP-S06"]
    assert all(f.case_ref == "EHC-999-T-0011" for f in failures)
    assert all("2016" not in f.message for f in failures)  # never the date of birth
    ok = sen2.Person("EHC-999-T-0012", sen2.Scope.ONGOING, date(2016, 5, 14), date(2025, 3, 3),
                     None, None, None, None, None, None, None)
    assert sen2.validate(ok, COLL) == []


def test_the_summary_holds_no_date_of_birth_and_lists_unfilled_fields() -> None:
    ret = sen2.build_return([plan_in_19_weeks(), refusal()], "999", COLL)
    text = sen2.summary(ret)
    assert "2016-05-14" not in text
    assert "Assessment.AssessmentOutcome: code list not found" in text
    assert "persons: 2" in text


def test_unknown_year_and_bad_la_code_are_clear_errors() -> None:
    with pytest.raises(sen2.Sen2Error, match="give --reference-date"):
        sen2.collection_for(2031)
    assert sen2.collection_for(2031, date(2031, 1, 16)).period_end == date(2030, 12, 31)
    with pytest.raises(sen2.Sen2Error, match="three digits"):
        sen2.build_return([], "99<x>" * 1000, COLL)


def test_filled_and_unfilled_fields_do_not_overlap() -> None:
    unfilled = {(m, e) for m, e, _ in sen2.UNFILLED}
    assert not unfilled & set(sen2.FILLED)


def _golden_cases() -> list[sen2.Sen2Case]:
    return [plan_in_19_weeks(), plan_in_22_weeks_excused(), refusal(),
            _case("EHC-886-T-0004", [request_received(RECEIVED)], la="886")]


@pytest.mark.parametrize("fmt", ["xml", "csv"])
def test_golden_output(fmt: str) -> None:
    """The whole output for the worked cases; regenerate with EHCP_REGOLD=1 after a reviewed change."""
    import os
    ret = sen2.build_return(_golden_cases(), "999", COLL)
    at = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)
    body = sen2.to_xml(ret, at) if fmt == "xml" else sen2.to_csv(ret)
    path = GOLDEN / f"sen2_2026_999.{fmt}"
    if os.environ.get("EHCP_REGOLD"):
        path.write_text(body, encoding="utf-8")
    assert body == path.read_text(encoding="utf-8")


def test_xml_and_csv_are_well_formed_and_agree() -> None:
    ret = sen2.build_return(_golden_cases(), "999", COLL)
    root = ET.fromstring(sen2.to_xml(  # noqa: S314 (our own output, not untrusted input)
        ret, datetime(2026, 1, 20, tzinfo=UTC)))
    assert root.findtext("Header/Source/LEA") == "999"
    weeks = [p.findtext("Requests/Assessment/Week20") for p in root.findall("Persons/Person")]
    rows = list(csv.DictReader(io.StringIO(sen2.to_csv(ret))))
    assert weeks == [r["Assessment.Week20"] or None for r in rows] == ["0", "1", None]


def test_engine_evaluation_matches_the_case_used() -> None:
    case = plan_in_22_weeks_excused()
    assert case.assessment == evaluate(list(case.events), COLL.reference_date)
