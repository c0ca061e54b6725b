"""The SEN2 person-level return built from evaluated cases (pure: no I/O, no clock).

The caller reads each case's events and the LA that owns it, evaluates the case with the
casework engine as of the collection's reference date (:func:`evaluated`), and passes the
results to :func:`build_return`. This module selects the cases in scope for one LA and one
collection year, maps each to the SEN2 modules, applies the checks it can cite, and renders XML
or CSV. The 20-week flag (``Week20``) is the engine's own ``timeliness.exceptions_apply``, never
worked out again here.

Fields whose code list was not found in a source that could be cited are emitted empty and
listed in :data:`UNFILLED` (docs/sen2.md says where each was looked for): a return with an
invented code would be worse than one with a gap the LA fills from its own system.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.casework.history import event_date
from ehcp.casework.model import CaseAssessment
from ehcp.errors import EhcpError

# GOV.UK "Special educational needs survey: guide to submitting data" (page history): the
# survey (reference) days of the collections this project has a source for.
SURVEY_DAYS: dict[int, date] = {2026: date(2026, 1, 15), 2027: date(2027, 1, 21)}


class Sen2Error(EhcpError):
    """A SEN2 return cannot be built as asked (unknown year, bad LA code)."""


@dataclass(frozen=True, slots=True)
class Collection:
    """One SEN2 collection: its year, reference date and the calendar year it reports on.

    The person-level specifications (2022 v1.3, 2023 v1.1, section 1.3) scope "work completed
    in the calendar year" and work ongoing and plans active on the reference date; the
    calendar year is the one before the collection year.
    """

    year: int
    reference_date: date

    @property
    def period_start(self) -> date:
        return date(self.year - 1, 1, 1)

    @property
    def period_end(self) -> date:
        return date(self.year - 1, 12, 31)


def collection_for(year: int, reference_date: date | None = None) -> Collection:
    """The collection for ``year``; give ``reference_date`` for a year with no known survey day."""
    if reference_date is None:
        if year not in SURVEY_DAYS:
            raise Sen2Error(
                f"no survey day is known for SEN2 {year}: give --reference-date "
                f"(known: {', '.join(str(y) for y in sorted(SURVEY_DAYS))})")
        reference_date = SURVEY_DAYS[year]
    if reference_date.year != year:
        raise Sen2Error(f"the reference date {reference_date} is not in {year}")
    return Collection(year, reference_date)


@dataclass(frozen=True, slots=True)
class Sen2Case:
    """One case as the return needs it.

    Attributes:
        case_ref: the broker's case id (never personal data); used in the report, not in the XML.
        la_code: the LA that owns the case (the worker's stored ``la_code``), if known.
        events: the case's casework events.
        assessment: the engine's evaluation as of the reference date; None when no event is
            dated on or before it.
    """

    case_ref: str
    la_code: str | None
    events: tuple[ev.CaseEvent, ...]
    assessment: CaseAssessment | None


def evaluated(case_ref: str, la_code: str | None, events: Iterable[ev.CaseEvent],
              reference_date: date) -> Sen2Case:
    """A case evaluated by the engine as of ``reference_date`` (events after it set aside)."""
    held = tuple(events)
    known = [e for e in held if event_date(e) <= reference_date]
    assessment = evaluate(known, reference_date) if known else None
    return Sen2Case(case_ref, la_code, held, assessment)


# --- the fields -------------------------------------------------------------------------------

# (module, element, why the case history cannot fill it)
UNFILLED: tuple[tuple[str, str, str], ...] = (
    ("Header", "SourceLevel", "value not found in a citable source"),
    ("Header", "SoftwareCode", "value not found in a citable source"),
    ("Header", "Release", "value not found in a citable source"),
    ("Header", "SerialNo", "value not found in a citable source"),
    ("Person", "Surname", "the broker holds no names (docs/security.md)"),
    ("Person", "Forename", "the broker holds no names (docs/security.md)"),
    ("Person", "Sex", "not held by the broker"),
    ("Person", "Ethnicity", "not held by the broker"),
    ("Person", "PostCode", "the broker holds no address"),
    ("Person", "UPN", "identifiers are on the referral, not the casework events the engine reads"),
    ("Person", "UniqueLearnerNumber", "as UPN"),
    ("Person", "UPNunknown", "code list not found in a citable source"),
    ("Requests", "RequestSource", "the referral does not record who made the request"),
    ("Requests", "RYA", "not recorded"),
    ("Requests", "RequestOutcome", "code list not found in a citable source (the fact is held)"),
    ("Requests", "RequestMediation", "mediation events do not say which decision they dispute"),
    ("Requests", "RequestTribunal", "tribunal events do not say which decision they dispute"),
    ("Requests", "Exported", "code list not found in a citable source"),
    ("Assessment", "AssessmentOutcome",
     "code list not found in a citable source (the fact is held)"),
    ("Assessment", "AssessmentMediation", "as RequestMediation"),
    ("Assessment", "AssessmentTribunal", "as RequestTribunal"),
    ("Assessment", "OtherMediation", "as RequestMediation"),
    ("Assessment", "OtherTribunal", "as RequestTribunal"),
    ("NamedPlan", "PlanRes", "placements are not mapped to SEN2 codes"),
    ("NamedPlan", "PlanWPB", "placements are not mapped to SEN2 codes"),
    ("NamedPlan", "PB", "personal budget events are not mapped to SEN2 codes"),
    ("NamedPlan", "OA", "personal budget events are not mapped to SEN2 codes"),
    ("NamedPlan", "DP", "personal budget events are not mapped to SEN2 codes"),
    ("NamedPlan", "CeaseReason", "full code list not found in a citable source"),
    ("NamedPlan", "PlanDetail", "URN, UKPRN, SENSetting, PlacementRank: placements not mapped"),
    ("ActivePlans", "LastReview", "its meaning beside ReviewMeeting was not verified"),
    ("ActivePlans", "ReviewOutcome", "code list not found in a citable source"),
    ("ActivePlans", "PlacementDetail", "placements are not mapped to SEN2 codes"),
    ("ActivePlans", "SENneed", "SEN type is not recorded"),
)

FILLED: tuple[tuple[str, str], ...] = (
    ("Person", "PersonBirthDate"),
    ("Requests", "ReceivedDate"),
    ("Requests", "RequestOutcomeDate"),
    ("Assessment", "AssessmentOutcomeDate"),
    ("Assessment", "Week20"),
    ("NamedPlan", "StartDate"),
    ("NamedPlan", "CeaseDate"),
    ("ActivePlans", "TransferLA"),
    ("ActivePlans", "ReviewMeeting"),
)


class Scope:
    """Why a case is in the return (specification section 1.3 headings)."""

    ACTIVE_PLAN = "active plan"
    CEASED_IN_YEAR = "plan ceased in the calendar year"
    NOT_ISSUED_IN_YEAR = "decision not to issue in the calendar year"
    NOT_ASSESSED_IN_YEAR = "decision not to assess in the calendar year"
    ONGOING = "ongoing work on the reference date"


@dataclass(frozen=True, slots=True)
class Person:
    """One person's SEN2 values (the filled fields; dates are None when not applicable)."""

    case_ref: str
    scope: str
    birth_date: date | None
    received_date: date | None
    request_outcome_date: date | None
    assessment_outcome_date: date | None
    week20: bool | None  # the engine's exceptions_apply, once an assessment outcome is known
    plan_start_date: date | None
    cease_date: date | None
    transfer_la: str | None
    review_meeting: date | None


@dataclass(frozen=True, slots=True)
class Failure:
    """A validation failure: the rule, the case (its reference, never personal data), why."""

    rule: str
    case_ref: str
    message: str


@dataclass(frozen=True, slots=True)
class Sen2Return:
    """The return for one LA and collection, with what was left out and why."""

    la_code: str
    collection: Collection
    persons: tuple[Person, ...]
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> count
    failures: tuple[Failure, ...] = ()


def _first(events: Sequence[ev.CaseEvent], kinds: tuple[type, ...], until: date) -> date | None:
    days = [event_date(e) for e in events if isinstance(e, kinds) and event_date(e) <= until]
    return min(days, default=None)


def _last(events: Sequence[ev.CaseEvent], kinds: tuple[type, ...], until: date) -> date | None:
    days = [event_date(e) for e in events if isinstance(e, kinds) and event_date(e) <= until]
    return max(days, default=None)


def _scope(case: Sen2Case, coll: Collection) -> tuple[str | None, str]:
    """(scope, exclusion reason): exactly one of them is meaningful."""
    events, ref = case.events, coll.reference_date
    ceased = _last(events, (ev.PlanCeased,), ref)
    issued = _first(events, (ev.FinalPlanIssued,), ref)
    refused = _first(events, (ev.AssessmentRefused,), ref)
    not_issued = _first(events, (ev.DecisionNotToIssuePlan,), ref)

    def in_period(day: date | None) -> bool:
        return day is not None and coll.period_start <= day <= coll.period_end

    if ceased is not None:
        if in_period(ceased):
            return Scope.CEASED_IN_YEAR, ""
        return None, "plan ceased outside the calendar year"
    if issued is not None:
        return Scope.ACTIVE_PLAN, ""
    if not_issued is not None:
        if in_period(not_issued):
            return Scope.NOT_ISSUED_IN_YEAR, ""
        return None, "decision not to issue outside the calendar year"
    if refused is not None:
        if in_period(refused):
            return Scope.NOT_ASSESSED_IN_YEAR, ""
        return None, "decision not to assess outside the calendar year"
    if case.assessment is not None and case.assessment.received_on is not None:
        return Scope.ONGOING, ""
    return None, "no request received by the reference date"


def _person(case: Sen2Case, assessment: CaseAssessment, scope: str, coll: Collection) -> Person:
    events, ref = case.events, coll.reference_date
    request = next((e for e in events if isinstance(e, ev.RequestForAssessmentReceived)), None)
    outcome = _first(events, (ev.FinalPlanIssued, ev.DecisionNotToIssuePlan), ref)
    transfers = [e for e in events if isinstance(e, ev.PlanTransferred)
                 and e.to_la == case.la_code and event_date(e) <= ref]
    return Person(
        case_ref=case.case_ref,
        scope=scope,
        birth_date=request.date_of_birth if request is not None else None,
        received_date=assessment.received_on,
        request_outcome_date=_first(events, (ev.DecisionToAssessMade, ev.AssessmentRefused), ref),
        assessment_outcome_date=outcome,
        # The engine's SEN2 flag as of the reference date: never recomputed here.
        week20=assessment.timeliness.exceptions_apply if outcome is not None else None,
        plan_start_date=_first(events, (ev.FinalPlanIssued,), ref),
        cease_date=_last(events, (ev.PlanCeased,), ref),
        transfer_la=transfers[-1].from_la if transfers else None,
        review_meeting=_last(events, (ev.AnnualReviewMeetingHeld,), ref),
    )


def build_return(cases: Iterable[Sen2Case], la_code: str, coll: Collection) -> Sen2Return:
    """Select ``la_code``'s cases in scope for ``coll``, map them and validate them."""
    if not (len(la_code) == 3 and la_code.isdigit()):
        raise Sen2Error("an LA code is three digits")
    persons: list[Person] = []
    excluded: dict[str, int] = {}
    for case in cases:
        if case.la_code != la_code:
            reason = "another LA's case"
        elif case.assessment is None:
            reason = "no event by the reference date"
        else:
            scope, reason = _scope(case, coll)
            if scope is not None:
                persons.append(_person(case, case.assessment, scope, coll))
                continue
        excluded[reason] = excluded.get(reason, 0) + 1
    persons.sort(key=lambda p: p.case_ref)
    failures = tuple(f for p in persons for f in validate(p, coll))
    return Sen2Return(la_code, coll, tuple(persons), dict(sorted(excluded.items())), failures)


# --- validation ---------------------------------------------------------------------------------
# DfE's own validation rules (annex A of the guide) were not found in a citable source, so their
# rule numbers are not used. These checks are the date orderings the return's own definitions
# and the Children and Families Act 2014 / SEND Regulations 2014 imply, each with its source.
RULES: dict[str, str] = {
    "EHCP-S01": "ReceivedDate is on or before the reference date (collection scope, spec 1.3)",
    "EHCP-S02": "RequestOutcomeDate is on or after ReceivedDate (SEND Regs 2014 reg 4-5: the "
                "decision follows the request)",
    "EHCP-S03": "AssessmentOutcomeDate is on or after RequestOutcomeDate (reg 10/13 follow the "
                "decision to assess)",
    "EHCP-S04": "PersonBirthDate is before ReceivedDate",
    "EHCP-S05": "CeaseDate is on or after StartDate (a plan ceases after it is issued)",
    "EHCP-S06": "Week20 is given whenever AssessmentOutcomeDate is (the 20-week flag describes "
                "an assessment with an outcome)",
}


def validate(p: Person, coll: Collection) -> list[Failure]:
    """The failures of one person's values against :data:`RULES`."""
    out: list[Failure] = []

    def fail(rule: str) -> None:
        out.append(Failure(rule, p.case_ref, RULES[rule]))

    if p.received_date is not None and p.received_date > coll.reference_date:
        fail("EHCP-S01")
    if p.request_outcome_date and p.received_date and p.request_outcome_date < p.received_date:
        fail("EHCP-S02")
    if (p.assessment_outcome_date and p.request_outcome_date
            and p.assessment_outcome_date < p.request_outcome_date):
        fail("EHCP-S03")
    if p.birth_date and p.received_date and p.birth_date >= p.received_date:
        fail("EHCP-S04")
    if p.cease_date and p.plan_start_date and p.cease_date < p.plan_start_date:
        fail("EHCP-S05")
    if p.assessment_outcome_date is not None and p.week20 is None:
        fail("EHCP-S06")
    return out


# --- rendering ----------------------------------------------------------------------------------

def _d(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _flag(value: bool | None) -> str:
    # 1/0 as witan.sen2 reads the SEN2 binary items from DfE's pre-submission workbook
    # (docs/sen2.md, "Sources"): inferred for the XML, not read in the guide.
    return "" if value is None else "1" if value else "0"


def _values(p: Person) -> dict[tuple[str, str], str]:
    return {
        ("Person", "PersonBirthDate"): _d(p.birth_date),
        ("Requests", "ReceivedDate"): _d(p.received_date),
        ("Requests", "RequestOutcomeDate"): _d(p.request_outcome_date),
        ("Assessment", "AssessmentOutcomeDate"): _d(p.assessment_outcome_date),
        ("Assessment", "Week20"): _flag(p.week20),
        ("NamedPlan", "StartDate"): _d(p.plan_start_date),
        ("NamedPlan", "CeaseDate"): _d(p.cease_date),
        ("ActivePlans", "TransferLA"): p.transfer_la or "",
        ("ActivePlans", "ReviewMeeting"): _d(p.review_meeting),
    }


def to_xml(ret: Sen2Return, generated_at: datetime) -> str:
    """The return as XML: Header, then Persons/Person with Requests and their modules.

    Only filled elements are written (an empty element could be read as a value); the
    unfilled ones are in :data:`UNFILLED`.
    """
    root = ET.Element("Message")
    header = ET.SubElement(root, "Header")
    details = ET.SubElement(header, "CollectionDetails")
    ET.SubElement(details, "Collection").text = "SEN2"
    ET.SubElement(details, "Year").text = str(ret.collection.year)
    ET.SubElement(details, "ReferenceDate").text = ret.collection.reference_date.isoformat()
    source = ET.SubElement(header, "Source")
    ET.SubElement(source, "LEA").text = ret.la_code
    ET.SubElement(source, "DateTime").text = generated_at.replace(microsecond=0).isoformat()
    persons = ET.SubElement(root, "Persons")
    for p in ret.persons:
        values = _values(p)
        person = ET.SubElement(persons, "Person")
        _put(person, "PersonBirthDate", values[("Person", "PersonBirthDate")])
        requests = ET.SubElement(person, "Requests")
        for element in ("ReceivedDate", "RequestOutcomeDate"):
            _put(requests, element, values[("Requests", element)])
        for module, elements in (("Assessment", ("AssessmentOutcomeDate", "Week20")),
                                 ("NamedPlan", ("StartDate", "CeaseDate")),
                                 ("ActivePlans", ("TransferLA", "ReviewMeeting"))):
            if any(values[(module, e)] for e in elements):
                node = ET.SubElement(requests, module)
                for element in elements:
                    _put(node, element, values[(module, element)])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _put(parent: ET.Element, tag: str, text: str) -> None:
    if text:
        ET.SubElement(parent, tag).text = text


def csv_columns() -> list[str]:
    """The CSV header: the case reference, the scope, then every SEN2 field (filled first)."""
    return ["CaseRef", "Scope",
            *(f"{m}.{e}" for m, e in FILLED),
            *(f"{m}.{e}" for m, e, _ in UNFILLED if m != "Header")]


def to_csv(ret: Sen2Return) -> str:
    """One row per person; unfilled fields are empty columns, so the LA can fill them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns())
    for p in ret.persons:
        values = _values(p)
        writer.writerow([p.case_ref, p.scope, *(values[k] for k in FILLED),
                         *("" for m, _, _ in UNFILLED if m != "Header")])
    return buffer.getvalue()


def summary(ret: Sen2Return) -> str:
    """What was produced, without personal data: counts, failures by case ref, unfilled fields."""
    coll = ret.collection
    lines = [f"SEN2 {coll.year} for LA {ret.la_code}: reference date "
             f"{coll.reference_date}, calendar year {coll.period_start}..{coll.period_end}",
             f"  persons: {len(ret.persons)}"]
    by_scope: dict[str, int] = {}
    for p in ret.persons:
        by_scope[p.scope] = by_scope.get(p.scope, 0) + 1
    lines += [f"    {n:>5}  {scope}" for scope, n in sorted(by_scope.items())]
    lines.append(f"  excluded: {sum(ret.excluded.values())}")
    lines += [f"    {n:>5}  {reason}" for reason, n in ret.excluded.items()]
    lines.append(f"  validation failures: {len(ret.failures)}")
    lines += [f"    {f.rule} case {f.case_ref}: {f.message}" for f in ret.failures]
    lines.append(f"  fields not filled ({len(UNFILLED)}):")
    lines += [f"    {m}.{e}: {why}" for m, e, why in UNFILLED]
    return "\n".join(lines)
