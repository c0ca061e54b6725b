"""CSV batch import: same validation as the JSON API, per-row errors, dry run, nothing lost."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import cli
from connectors.app import Ports, create_app
from connectors.auth import KIND_ADVICE_TYPES, KIND_SCOPES, InMemoryCredentialStore, new_credential
from connectors.csv_import import (
    IMPORT_KINDS,
    ImportReport,
    columns_markdown,
    import_csv,
    known_columns,
)
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher, Principal, PublishedEvent
from ehcp.clock import FixedClock
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CASEWORK_EVENTS, CONTRIBUTIONS, REFERRALS
from ehcp.errors import ConfigurationError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings

LA = Principal("csv", LA_CODE_SYSTEM, "999", "education", KIND_SCOPES["education"],
               KIND_ADVICE_TYPES["education"])
SOCIAL_CARE = Principal("csv", LA_CODE_SYSTEM, "999", "social_care", KIND_SCOPES["social_care"],
                        KIND_ADVICE_TYPES["social_care"])
#: The import's clock: 1 December 2026, 12:00 UTC.
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
CSV_DOC = Path(__file__).parents[3] / "docs" / "csv-import.md"
EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "casework-events-social-care.csv"
EVENTS_HEADER = "type,event_id,case_id,occurred_on,looked_after,exception_id,ground,starts_on,ends_on,request_id\n"
EVENTS_CSV = EVENTS_HEADER + (
    "LookedAfterStatusChanged,CSC-LAC-1,EHC-999-CSV-1,2026-10-05,yes,,,,,\n"
    "TimescaleExceptionRecorded,CSC-EXC-1,EHC-999-CSV-1,,,CSC-EXC-1,REG_8_2_C,2026-10-20,2026-10-20,REQ-0003\n"
    "TimescaleExceptionEnded,CSC-EXC-2-END,EHC-999-CSV-2,,,CSC-EXC-2,,,2026-11-13,\n"
)
#: The same three events as JSON API bodies.
EVENTS_JSON: list[dict[str, Any]] = [
    {"type": "LookedAfterStatusChanged", "event_id": "CSC-LAC-1", "case_id": "EHC-999-CSV-1",
     "occurred_on": "2026-10-05", "looked_after": True},
    {"type": "TimescaleExceptionRecorded", "event_id": "CSC-EXC-1", "case_id": "EHC-999-CSV-1",
     "exception_id": "CSC-EXC-1", "ground": "REG_8_2_C", "starts_on": "2026-10-20",
     "ends_on": "2026-10-20", "request_id": "REQ-0003"},
    {"type": "TimescaleExceptionEnded", "event_id": "CSC-EXC-2-END", "case_id": "EHC-999-CSV-2",
     "exception_id": "CSC-EXC-2", "ends_on": "2026-11-13"},
]
REFERRALS_CSV = """case_id,la_code,received_at,requested_by,nhs_number,upn,la_child_id,date_of_birth,year_group,vision_impairment,hearing_impairment,looked_after,areas_of_need,institution_system,institution_value,advice_providers
EHC-999-CSV-1,999,2026-09-07T10:00:00+01:00,PARENT,9434765919,B801200005001,,2016-03-14,5,no,yes,no,COMMUNICATION_AND_INTERACTION;SENSORY_AND_PHYSICAL,https://ehcp-exchange.org/Id/school-urn,100001,MEDICAL=https://fhir.nhs.uk/Id/ods-organization-code|ZZ901
EHC-999-CSV-2,999,2026-09-07T10:00:00+01:00,PARENT,9434765918,,,2016-03-14,5,,,,,,,
EHC-999-CSV-3,999,2026-09-07T10:00:00+01:00,PARENT,,A801200005001,,2016-03-14,5,,,,,,,
EHC-999-CSV-4,998,2026-09-07T10:00:00+01:00,PARENT,9434765870,,,2016-03-14,5,,,,,,,
"""


def run(kind: str, text: str, dry_run: bool = False,
        principal: Principal = LA) -> tuple[ImportReport, InMemoryPublisher]:
    """Import ``text`` with a fake publisher."""
    publisher = InMemoryPublisher()
    report = asyncio.run(import_csv(kind, io.StringIO(text), principal, b"k" * 32, publisher,
                                    dry_run=dry_run, clock=FixedClock(NOW)))
    return report, publisher


def posted_to_social_care_api(bodies: list[dict[str, Any]]) -> list[PublishedEvent]:
    """What the social care casework events endpoint publishes for ``bodies`` (LA 999's credential)."""
    publisher = InMemoryPublisher()
    credentials = InMemoryCredentialStore()
    credential, token = new_credential(LA_CODE_SYSTEM, "999", "social_care")
    credentials.add(credential)
    app = create_app(Settings(pseudonym_key="p" * 32),
                     Ports(publisher=publisher, docstore=InMemoryDocumentStore(),
                           credentials=credentials))
    client = TestClient(app)
    for body in bodies:
        r = client.post(f"/api/social-care/cases/{body['case_id']}/events",
                        headers={"Authorization": f"Bearer {token}"}, json=body)
        assert r.status_code == 202, r.text
    return publisher.events


def test_valid_rows_publish_and_bad_rows_are_reported_by_row_and_column() -> None:
    """Row 2 publishes; a bad NHS check digit, a bad UPN check letter and another LA's code are reported."""
    report, publisher = run("referrals", REFERRALS_CSV)
    assert report.rows == 4
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "nhs_number"), (4, "upn"), (5, "la_code")]
    (event,) = publisher.events
    assert (event.topic, event.key) == (REFERRALS.name, "EHC-999-CSV-1")
    assert event.record["child"]["hearing_impairment"] is True
    assert event.record["advice_providers"][0]["agency"]["value"] == "ZZ901"
    default_codec().encode(event.schema_name, event.record)
    assert "9434765918" not in str(report.errors)


def test_dry_run_validates_without_publishing() -> None:
    """A dry run reports the same errors and publishes nothing."""
    report, publisher = run("referrals", REFERRALS_CSV, dry_run=True)
    assert len(report.errors) == 3
    assert report.published == 0
    assert publisher.events == []


def test_advice_rows_are_scoped_to_the_agency() -> None:
    """An education import may load educational advice but not medical advice."""
    text = ("contribution_id,advice_type,case_id,request_id,nhs_number,upn,la_child_id,date_of_birth,submitted_at\n"
            "EDU-1,EDUCATIONAL,EHC-999-CSV-1,,,,,,2026-10-01T09:00:00+00:00\n"
            "MED-1,MEDICAL,EHC-999-CSV-1,,,,,,2026-10-01T09:00:00+00:00\n")
    report, publisher = run("advice", text)
    assert [(e.row, e.column) for e in report.errors] == [(3, "advice_type")]
    assert [e.topic for e in publisher.events] == [CONTRIBUTIONS.name]
    assert publisher.events[0].record["channel"] == "CSV_IMPORT"


def test_casework_event_rows_publish_what_the_json_api_publishes() -> None:
    """Looked-after and timescale exception rows give exactly the events the social care API gives for the same data."""
    report, publisher = run("casework-events", EVENTS_CSV, principal=SOCIAL_CARE)
    assert (report.rows, report.published, report.errors) == (3, 3, [])
    assert publisher.events == posted_to_social_care_api(EVENTS_JSON)
    assert [(e.topic, e.key) for e in publisher.events] == [
        (CASEWORK_EVENTS.name, "EHC-999-CSV-1"), (CASEWORK_EVENTS.name, "EHC-999-CSV-1"),
        (CASEWORK_EVENTS.name, "EHC-999-CSV-2")]
    assert publisher.events[0].record["event_type"] == "LookedAfterStatusChanged"
    assert '"looked_after": true' in publisher.events[0].record["event_json"]
    for event in publisher.events:
        default_codec().encode(event.schema_name, event.record)


def test_social_care_may_import_only_the_casework_events_its_api_accepts() -> None:
    """A final plan or a decision to assess from social care is refused per row; education may import them."""
    text = EVENTS_HEADER + (
        "FinalPlanIssued,F-1,EHC-999-CSV-1,2026-10-05,,,,,,\n"
        "LookedAfterStatusChanged,L-1,EHC-999-CSV-1,2026-10-05,false,,,,,\n"
        "DecisionToAssessMade,D-1,EHC-999-CSV-1,2026-10-05,,,,,,\n"
    )
    report, publisher = run("casework-events", text, principal=SOCIAL_CARE)
    assert [(e.row, e.column) for e in report.errors] == [(2, "type"), (4, "type")]
    assert report.errors[0].message == (
        "event type must be one of CareStatusRecorded, LookedAfterStatusChanged, "
        "PupilPremiumPlusEligibilityRecorded, TimescaleExceptionEnded, "
        "TimescaleExceptionRecorded, VirtualSchoolHeadNamed")
    assert [e.record["event_id"] for e in publisher.events] == ["L-1"]
    report, publisher = run("casework-events", text, principal=LA)
    assert report.errors == []
    assert [e.record["event_type"] for e in publisher.events] == [
        "FinalPlanIssued", "LookedAfterStatusChanged", "DecisionToAssessMade"]


def test_bad_casework_rows_are_reported_by_row_and_column_without_their_values() -> None:
    """Bad dates, a missing case id, a non-boolean status and a stray column are each reported; the good row publishes."""
    text = EVENTS_HEADER + (
        "LookedAfterStatusChanged,L-1,EHC-999-CSV-1,05/10/2026,true,,,,,\n"
        "TimescaleExceptionRecorded,X-1,EHC-999-CSV-1,,,X-1,REG_10_4_D,2026-13-01,,\n"
        "LookedAfterStatusChanged,L-2,,2026-10-05,true,,,,,\n"
        "LookedAfterStatusChanged,L-3,EHC-999-CSV-1,2026-10-05,perhaps,,,,,\n"
        "LookedAfterStatusChanged,L-4,EHC-999-CSV-1,2026-10-05,true,,,2026-10-05,,\n"
        "TimescaleExceptionRecorded,X-2,EHC-999-CSV-1,,,X-2,REG_10_4_D,2026-10-06,2026-10-01,\n"
        "LookedAfterStatusChanged,L-5,EHC-999-CSV-1,2026-10-05,true,,,,,\n"
    )
    report, publisher = run("casework-events", text, principal=SOCIAL_CARE)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "occurred_on"), (3, "starts_on"), (4, "case_id"), (5, "looked_after"),
        (6, "starts_on"), (7, "")]
    assert "must be an ISO date" in report.errors[0].message
    assert report.errors[2].message == "case_id is required"
    assert "must be true or false" in report.errors[3].message
    assert "unknown field" in report.errors[4].message
    assert "ends_on cannot be before starts_on" in report.errors[5].message
    for value in ("05/10/2026", "2026-13-01", "perhaps"):
        assert value not in str(report.errors)
    assert [e.record["event_id"] for e in publisher.events] == ["L-5"]


def test_casework_events_dry_run_publishes_nothing() -> None:
    """A dry run of casework events reports the same errors and publishes nothing."""
    text = EVENTS_CSV + "PlanCeased,P-1,EHC-999-CSV-1,2026-10-05,,,,,,\n"
    report, publisher = run("casework-events", text, dry_run=True, principal=SOCIAL_CARE)
    assert (report.rows, report.published) == (4, 0)
    assert [(e.row, e.column) for e in report.errors] == [(5, "type")]
    assert publisher.events == []


def test_reimporting_casework_events_gives_the_same_event_ids() -> None:
    """Importing the same file twice publishes identical events whose ids are the rows' event ids, so workers drop the repeat."""
    _, first = run("casework-events", EVENTS_CSV, principal=SOCIAL_CARE)
    _, second = run("casework-events", EVENTS_CSV, principal=SOCIAL_CARE)
    assert [e.record["event_id"] for e in first.events] == [
        "CSC-LAC-1", "CSC-EXC-1", "CSC-EXC-2-END"]
    assert first.events == second.events


def test_documented_example_imports_cleanly() -> None:
    """docs/examples/casework-events-social-care.csv imports as social care without errors."""
    report, publisher = run("casework-events", EXAMPLE.read_text(encoding="utf-8"),
                            principal=SOCIAL_CARE)
    assert report.errors == []
    assert report.published == report.rows == 5
    assert {e.record["event_type"] for e in publisher.events} == {
        "LookedAfterStatusChanged", "TimescaleExceptionRecorded", "TimescaleExceptionEnded"}


def test_blank_cell_is_null_where_the_field_takes_null() -> None:
    """An education row with a blank institution id records the LA's default closure period, as a JSON null would."""
    text = ("type,event_id,case_id,institution_id,first_day,last_day\n"
            "InstitutionClosurePeriodRecorded,T-1,EHC-999-CSV-1,,2026-12-19,2027-01-04\n")
    report, publisher = run("casework-events", text)
    assert report.errors == []
    (event,) = publisher.events
    assert '"institution_id": null' in event.record["event_json"]


REFERRALS_HEADER = REFERRALS_CSV.splitlines()[0]


def test_referral_rows_without_a_child_identifier_or_dated_in_the_future_are_row_errors() -> None:
    """The CSV import shares the API's referral rules: no child identifier, or received in 2027, is a row error."""
    text = REFERRALS_HEADER + "\n" + (
        "EHC-999-CSV-5,999,2026-09-07T10:00:00+01:00,PARENT,,,,2016-03-14,5,,,,,,,\n"
        "EHC-999-CSV-6,999,2027-01-05T09:00:00+00:00,PARENT,9434765919,,,2016-03-14,5,,,,,,,\n"
        "EHC-999-CSV-7,999,2026-09-07T10:00:00+01:00,PARENT,,,LA-77,2016-03-14,5,,,,,,,\n"
    )
    report, publisher = run("referrals", text)
    assert [(e.row, e.column) for e in report.errors] == [(2, "child"), (3, "received_at")]
    assert "identifier" in report.errors[0].message
    assert "future" in report.errors[1].message
    assert [e.key for e in publisher.events] == ["EHC-999-CSV-7"]


def test_an_unknown_column_refuses_the_file_with_one_header_error() -> None:
    """A misspelt ``nhs_no`` column is one error on row 1 naming the column, and no row is imported."""
    text = REFERRALS_CSV.replace("nhs_number", "nhs_no", 1).replace(",upn,", ",UPN ,", 1)
    report, publisher = run("referrals", text)
    (error,) = report.errors
    assert (error.row, error.column) == (1, "nhs_no, UPN")
    assert "unknown column" in error.message
    assert (report.rows, report.published, publisher.events) == (0, 0, [])


def test_an_unknown_casework_events_column_is_a_header_error() -> None:
    """A casework-events column that no event type has (``occured_on``) refuses the file."""
    text = EVENTS_HEADER.replace("occurred_on", "occured_on") + EVENTS_CSV.split("\n", 1)[1]
    report, publisher = run("casework-events", text, principal=SOCIAL_CARE)
    assert [(e.row, e.column) for e in report.errors] == [(1, "occured_on")]
    assert publisher.events == []


@pytest.mark.parametrize("flag", ["vision_impairment", "hearing_impairment", "looked_after"])
def test_a_flag_that_is_not_a_boolean_is_a_row_error(flag: str) -> None:
    """``maybe`` in a yes/no column is a row error naming the column, never read as false."""
    columns = REFERRALS_HEADER.split(",")
    cells = ["EHC-999-CSV-8", "999", "2026-09-07T10:00:00+01:00", "PARENT", "9434765919", "", "",
             "2016-03-14", "5", "", "", "", "", "", "", ""]
    cells[columns.index(flag)] = "maybe"
    report, publisher = run("referrals", REFERRALS_HEADER + "\n" + ",".join(cells) + "\n")
    assert [(e.row, e.column) for e in report.errors] == [(2, flag)]
    assert "maybe" not in report.errors[0].message
    assert publisher.events == []


def test_dry_run_needs_no_pseudonym_key(tmp_path: Path) -> None:
    """``ehcp import advice --dry-run`` validates rows with EHCP_PSEUDONYM_KEY unset and connects to no broker."""
    csv_file = tmp_path / "advice.csv"
    csv_file.write_text(
        "contribution_id,advice_type,case_id,request_id,nhs_number,upn,la_child_id,date_of_birth,submitted_at\n"
        "EDU-1,EDUCATIONAL,,,9434765919,,,2016-03-14,2026-10-01T09:00:00+00:00\n", encoding="utf-8")
    env = {"EHCP_PSEUDONYM_KEY": None, "EHCP_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    result = CliRunner().invoke(cli, ["import", "advice", str(csv_file), "--agency", "999",
                                      "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 row(s) read, 0 published (dry run), 0 error(s)" in result.output


def test_publishing_without_a_pseudonym_key_is_refused_before_reading_rows() -> None:
    """Publishing (not a dry run) without a pseudonym key is a configuration error, not a half-done import."""
    with pytest.raises(ConfigurationError, match="pseudonym key"):
        asyncio.run(import_csv("referrals", io.StringIO(REFERRALS_CSV), LA, None,
                               InMemoryPublisher(), clock=FixedClock(NOW)))


@pytest.mark.parametrize("kind", IMPORT_KINDS)
def test_csv_import_doc_lists_the_columns_the_code_reads(kind: str) -> None:
    """docs/csv-import.md shows, for every kind, exactly the column table the import code reads."""
    doc = CSV_DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- columns:{kind} -->\n(.*?)<!-- end columns:{kind} -->", doc, re.S)
    assert block is not None, f"docs/csv-import.md has no columns:{kind} block"
    expected = columns_markdown(kind)
    assert block.group(1) == expected, f"paste this table into docs/csv-import.md:\n{expected}"
    documented = set(re.findall(r"^\| `(\w+)` \|", block.group(1), re.M))
    if kind != "casework-events":
        assert documented == known_columns(kind)


def test_the_plans_later_events_import_with_the_apis_rules() -> None:
    """An LA imports a review decision and a Tribunal order; a bad outcome is reported at its column; social care may not."""
    text = (
        "type,event_id,case_id,occurred_on,outcome,order_id,kind\n"
        "ReviewDecisionMade,R-1,EHC-999-CSV-1,2026-10-05,MAINTAIN,,\n"
        "TribunalOrderMade,O-1,EHC-999-CSV-1,2026-10-06,,ORD-1,AMEND_PLAN\n"
        "ReviewDecisionMade,R-2,EHC-999-CSV-1,2026-10-05,POSTPONE,,\n"
    )
    report, publisher = run("casework-events", text, principal=LA)
    assert [(e.row, e.column) for e in report.errors] == [(4, "outcome")]
    assert "POSTPONE" not in str(report.errors)
    assert [e.record["event_type"] for e in publisher.events] == [
        "ReviewDecisionMade", "TribunalOrderMade"]
    for event in publisher.events:
        default_codec().encode(event.schema_name, event.record)
    report, publisher = run("casework-events", text, principal=SOCIAL_CARE)
    assert [(e.row, e.column) for e in report.errors] == [(2, "type"), (3, "type"), (4, "type")]
    assert publisher.events == []
