"""CSV batch import: same validation as the JSON API, per-row errors, dry run, nothing lost."""

from __future__ import annotations

import asyncio
import io

from connectors.auth import KIND_ADVICE_TYPES, KIND_SCOPES
from connectors.csv_import import ImportReport, import_csv
from connectors.ports import InMemoryPublisher, Principal
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import CONTRIBUTIONS, REFERRALS
from ehcp.identifiers import LA_CODE_SYSTEM

LA = Principal("csv", LA_CODE_SYSTEM, "999", "education", KIND_SCOPES["education"],
               KIND_ADVICE_TYPES["education"])
REFERRALS_CSV = """case_id,la_code,received_at,requested_by,nhs_number,upn,la_child_id,date_of_birth,year_group,vision_impairment,hearing_impairment,looked_after,areas_of_need,institution_system,institution_value,advice_providers
EHC-999-CSV-1,999,2026-09-07T10:00:00+01:00,PARENT,9434765919,B801200005001,,2016-03-14,5,no,yes,no,COMMUNICATION_AND_INTERACTION;SENSORY_AND_PHYSICAL,https://ehcp-exchange.org/Id/school-urn,100001,MEDICAL=https://fhir.nhs.uk/Id/ods-organization-code|ZZ901
EHC-999-CSV-2,999,2026-09-07T10:00:00+01:00,PARENT,9434765918,,,2016-03-14,5,,,,,,,
EHC-999-CSV-3,999,2026-09-07T10:00:00+01:00,PARENT,,A801200005001,,2016-03-14,5,,,,,,,
EHC-999-CSV-4,998,2026-09-07T10:00:00+01:00,PARENT,9434765870,,,2016-03-14,5,,,,,,,
"""


def run(kind: str, text: str, dry_run: bool = False) -> tuple[ImportReport, InMemoryPublisher]:
    """Import ``text`` with a fake publisher."""
    publisher = InMemoryPublisher()
    report = asyncio.run(import_csv(kind, io.StringIO(text), LA, b"k" * 32, publisher,
                                    dry_run=dry_run))
    return report, publisher


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
