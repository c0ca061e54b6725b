"""The LA's pull API (/api/la) and FHIR DocumentReference search and Binary reads, through the
app factory with fakes and a SQLite read model fed as the projector feeds it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from connectors.app import Ports, create_app
from connectors.auth import InMemoryCredentialStore, new_credential
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.contract import records
from ehcp.contract.topics import AUDIT
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM, SCHOOL_URN_SYSTEM
from ehcp.readmodel.access import encode_cursor
from ehcp.readmodel.store import create_tables, open_engine
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.unit.readmodel.test_access import LATE_EVENING, Feed, alert, routed, status

PDF_886 = b"%PDF-1.4\n% advice for LA 886\n" + bytes(range(256)) * 300
PDF_212 = b"%PDF-1.4\n% advice for LA 212\n"
SHA_886 = hashlib.sha256(PDF_886).hexdigest()
SHA_212 = hashlib.sha256(PDF_212).hexdigest()

#: Credentials by name: (kind, system, code).
WHO = {
    "la": ("local_authority", LA_CODE_SYSTEM, "886"),
    "other_la": ("local_authority", LA_CODE_SYSTEM, "212"),
    "la_education": ("education", LA_CODE_SYSTEM, "886"),
    "school": ("education", SCHOOL_URN_SYSTEM, "100001"),
    "trust": ("health", ODS_ORGANISATION_SYSTEM, "RVV"),
    "social_care": ("social_care", LA_CODE_SYSTEM, "886"),
}


class LaApi:
    """A test client, its fakes and the read model feed."""

    def __init__(self, tmp_path: Path, *, with_readmodel: bool = True) -> None:
        self.publisher = InMemoryPublisher()
        store = InMemoryDocumentStore()
        store.put(PDF_886, "application/pdf")
        store.put(PDF_212, "application/pdf")
        credentials = InMemoryCredentialStore()
        self.tokens: dict[str, str] = {}
        for who, (kind, system, value) in WHO.items():
            credential, token = new_credential(system, value, kind)
            credentials.add(credential)
            self.tokens[who] = token
        # A file: the handlers read from worker threads, and each would see its own in-memory DB.
        self.engine = open_engine(f"sqlite:///{tmp_path / 'readmodel.sqlite3'}")
        create_tables(self.engine)
        self.feed = Feed(self.engine)
        self.feed.send(
            rr.referral("EHC-886-A", "886"), rr.referral("EHC-886-B", "886"),
            rr.referral("EHC-886-C", "886"), rr.referral("EHC-212-X", "212"),
            status("EHC-886-A"), status("EHC-886-B"), status("EHC-886-C"), status("EHC-212-X"),
            alert("EHC-886-A", "A|overdue"), alert("EHC-212-X", "X|overdue"),
            routed("EHC-886-A", SHA_886, "adv-a", size_bytes=len(PDF_886)),
            routed("EHC-212-X", SHA_212, "adv-x", size_bytes=len(PDF_212)),
        )
        app = create_app(Settings(pseudonym_key="p" * 32), Ports(  # type: ignore[arg-type]
            publisher=self.publisher, docstore=store, credentials=credentials,
            clock=LATE_EVENING, readmodel=self.engine if with_readmodel else None))
        self.client = TestClient(app)

    def get(self, path: str, who: str, **headers: str) -> Response:
        """GET ``path`` as ``who``."""
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}",
                                              **headers})

    def audit(self, schema: str = records.ACCESS_REFUSED) -> list[dict[str, Any]]:
        """The audit records of ``schema`` published so far."""
        return [dict(e.record) for e in self.publisher.events
                if e.topic == AUDIT.name and e.schema_name == schema]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LaApi]:
    """The app with LA 886's cases A, B, C (a document on A) and LA 212's case X."""
    api = LaApi(tmp_path)
    yield api
    api.engine.dispose()


#: Every read route of an LA, and what LA 212's credential must not get from it.
LA_ROUTES = [
    "/api/la/cases", "/api/la/cases/EHC-886-A", "/api/la/alerts",
    f"/api/la/documents/{SHA_886}", "/fhir/DocumentReference", "/fhir/DocumentReference/adv-a",
    f"/fhir/Binary/{SHA_886}",
]


def test_cases_list_pages_with_a_cursor_and_a_next_link(api: LaApi) -> None:
    """Two at a time: the next link gives the rest; only LA 886's cases appear."""
    first = api.get("/api/la/cases?limit=2", "la")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["has_more"] is True
    assert len(body["items"]) == 2
    rest = api.get(body["next"].removeprefix("http://testserver"), "la").json()
    assert rest["has_more"] is False
    ids = sorted(c["case_id"] for c in body["items"] + rest["items"])
    assert ids == ["EHC-886-A", "EHC-886-B", "EHC-886-C"]
    api.feed.send(status("EHC-886-B", stage="DRAFTING"))
    later = api.get(f"/api/la/cases?cursor={rest['cursor']}", "la").json()
    assert [(c["case_id"], c["stage"]) for c in later["items"]] == [("EHC-886-B", "DRAFTING")]


def test_a_case_reads_with_dates_advice_documents_and_alerts(api: LaApi) -> None:
    """One case: statutory dates with regulations, advice items, a document link, open alerts."""
    case = api.get("/api/la/cases/EHC-886-A", "la").json()
    assert {(d["name"], d["regulation"]) for d in case["statutory_dates"]} == {
        ("advice_due", "reg 8(1)"), ("final_plan_due", "reg 13(2)")}
    medical = next(i for i in case["advice_items"] if i["advice_type"] == "MEDICAL")
    assert (medical["status"], medical["decline_reason"]) == ("DECLINED", "WRONG_SERVICE")
    (received,) = case["advice_received"]
    assert received["document"]["href"] == f"/api/la/documents/{SHA_886}"
    assert [a["alert_id"] for a in case["open_alerts"]] == ["A|overdue"]


def test_a_v3_case_reads_with_every_engine_date_and_its_regulation(api: LaApi) -> None:
    """CaseStatus v3: each limit of the engine with status, done date, exceptions and regulation;
    the decision, final plan and SEN2 flag on the case."""
    api.feed.send(rr.status("EHC-886-C", final_issued=date(2026, 6, 8), exceptions_apply=True))
    case = api.get("/api/la/cases/EHC-886-C", "la").json()
    dates = {d["name"]: d for d in case["statutory_dates"]}
    assert set(dates) == {"advice_due", "decision_to_assess_due", "final_plan_due"}
    final = dates["final_plan_due"]
    assert (final["status"], final["completed_on"], final["excused"], final["exception_ids"]) == (
        "MISSED", "2026-06-08", True, ["X-1"])
    assert all(d["regulation"].startswith("reg ") for d in case["statutory_dates"])
    assert (case["decided_to_assess_on"], case["final_plan_issued_on"],
            case["exceptions_apply"]) == ("2026-02-02", "2026-06-08", True)
    assert api.get("/api/la/cases/EHC-886-C", "other_la").status_code == 404


def test_alerts_are_the_las_own_with_days_overdue_counted_today(api: LaApi) -> None:
    """Open alerts of LA 886 only; due 20 June, read on 1 July (London): 11 days overdue."""
    body = api.get("/api/la/alerts?status=open", "la").json()
    assert [(a["alert_id"], a["days_overdue"], a["open"]) for a in body["items"]] == [
        ("A|overdue", 11, True)]


def test_a_document_downloads_with_type_length_etag_and_digest_and_is_audited(
    api: LaApi
) -> None:
    """The bytes are the stored bytes; the headers let the client check them; a RecordRead."""
    got = api.get(f"/api/la/documents/{SHA_886}", "la")
    assert got.status_code == 200
    assert got.content == PDF_886
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-length"] == str(len(PDF_886))
    assert got.headers["etag"] == f'"{SHA_886}"'
    digest = base64.b64encode(hashlib.sha256(PDF_886).digest()).decode()
    assert got.headers["repr-digest"] == f"sha-256=:{digest}:"
    (read,) = api.audit(records.RECORD_READ)
    assert (read["record_id"], read["case_id"], read["channel"]) == (SHA_886, "EHC-886-A", "API")
    assert read["agency"]["value"] == "886"


@pytest.mark.parametrize("path", [
    "/api/la/cases/EHC-886-A", f"/api/la/documents/{SHA_886}", "/fhir/DocumentReference/adv-a",
    f"/fhir/Binary/{SHA_886}"])
def test_another_las_case_or_document_is_not_found_and_audited(api: LaApi, path: str) -> None:
    """LA 212 asking for LA 886's case or document gets 404, as for an unknown id, and an
    AccessRefused audit record; no RecordRead, no data."""
    got = api.get(path, "other_la")
    assert got.status_code == 404
    assert "886" not in got.text
    assert SHA_886 not in got.text
    assert "EHC-886" not in got.text
    (refused,) = api.audit()
    assert (refused["path"], refused["agency"]["value"]) == (path, "212")
    assert api.audit(records.RECORD_READ) == []
    unknown = path.replace("EHC-886-A", "EHC-886-NONE").replace("adv-a", "adv-none").replace(
        SHA_886, "0" * 64)
    assert api.get(unknown, "other_la").json().get("detail") == got.json().get("detail")


def test_another_las_lists_hold_nothing_of_this_la(api: LaApi) -> None:
    """LA 212's cases, alerts and document search list its own case only."""
    cases = api.get("/api/la/cases", "other_la").json()["items"]
    assert [c["case_id"] for c in cases] == ["EHC-212-X"]
    alerts = api.get("/api/la/alerts", "other_la").json()["items"]
    assert [a["case_id"] for a in alerts] == ["EHC-212-X"]
    bundle = api.get("/fhir/DocumentReference?subject=EHC-886-A", "other_la").json()
    assert bundle.get("entry", []) == []
    everything = api.get("/fhir/DocumentReference", "other_la").json()
    assert [e["resource"]["id"] for e in everything["entry"]] == ["adv-x"]


@pytest.mark.parametrize("who", ["school", "trust", "social_care", "la_education"])
@pytest.mark.parametrize("path", LA_ROUTES)
def test_a_school_trust_social_care_or_education_credential_reads_nothing(
    api: LaApi, who: str, path: str
) -> None:
    """Credentials without the LA read scopes get 403 on every LA route, and it is audited.

    (A trust's own DocumentReference read is the one exception: adv-a is not its submission,
    so it is the submitter-only read's 404.)"""
    got = api.get(path, who)
    if who == "trust" and path == "/fhir/DocumentReference/adv-a":
        assert got.status_code == 404
        return
    assert got.status_code == 403, got.text
    assert SHA_886 not in got.text
    assert len(api.audit()) == 1


@pytest.mark.parametrize(("query", "location"), [
    ("cursor=nonsense", "cursor"), (f"cursor={encode_cursor(1)}x", "cursor"),
    ("cursor=" + "A" * 20_000, "cursor"), ("limit=0", "limit"),
    ("updated_since=yesterday", "updated_since"), ("updated_since=2026-03-01T09:00:00", None),
])
def test_hostile_queries_get_a_clear_422(api: LaApi, query: str, location: str | None) -> None:
    """A cursor not given out, an oversized one, a zero limit, a bad or naive time: 422."""
    got = api.get(f"/api/la/cases?{query}", "la")
    assert got.status_code == 422, got.text
    assert got.headers["content-type"] == "application/problem+json"
    if location:
        assert location in got.text


def test_a_huge_limit_is_cut_not_refused(api: LaApi) -> None:
    """limit=10^12 answers 200 with at most one page's worth."""
    got = api.get("/api/la/cases?limit=1000000000000", "la")
    assert got.status_code == 200
    assert len(got.json()["items"]) == 3


def test_a_malformed_document_id_is_422(api: LaApi) -> None:
    """Not 64 lower-case hex digits: 422 on the JSON route, an OperationOutcome on FHIR."""
    assert api.get(f"/api/la/documents/{SHA_886.upper()}", "la").status_code == 422
    for bad in ("not-a-sha", SHA_886.upper(), "a" * 5000):
        fhir = api.get(f"/fhir/Binary/{bad}", "la")
        assert fhir.status_code == 422, bad
        assert fhir.json()["resourceType"] == "OperationOutcome"
    # A path in the id is no Binary read at all (the catch-all's 405 for Binary).
    traversal = api.get("/fhir/Binary/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "la")
    assert traversal.status_code == 405
    assert traversal.json()["resourceType"] == "OperationOutcome"
    assert api.audit(records.RECORD_READ) == []


def test_without_a_read_model_the_routes_answer_503(tmp_path: Path) -> None:
    """Connectors started without a read model say so (503 problem), not 500."""
    api = LaApi(tmp_path, with_readmodel=False)
    got = api.get("/api/la/cases", "la")
    assert got.status_code == 503
    assert "read model" in got.json()["detail"]
    assert api.get("/fhir/DocumentReference", "la").status_code == 503
    api.engine.dispose()


def test_fhir_search_pages_with_next_and_filters_by_case_and_time(api: LaApi) -> None:
    """DocumentReference search: a searchset with a next link; subject and _lastUpdated filter."""
    second = b"%PDF-1.4\n second advice"
    api.client.app.state.docstore.put(second, "application/pdf")  # type: ignore[attr-defined]
    before = api.feed.clock
    api.feed.send(routed("EHC-886-B", hashlib.sha256(second).hexdigest(), "adv-b"))
    first = api.get("/fhir/DocumentReference?_count=1", "la").json()
    assert first["type"] == "searchset"
    assert [e["resource"]["id"] for e in first["entry"]] == ["adv-a"]
    (nxt,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    page2 = api.get(nxt.removeprefix("http://testserver"), "la").json()
    assert [e["resource"]["id"] for e in page2["entry"]] == ["adv-b"]
    assert not [link for link in page2["link"] if link["relation"] == "next"]
    by_case = api.get("/fhir/DocumentReference?subject=EHC-886-B", "la").json()
    assert [e["resource"]["id"] for e in by_case["entry"]] == ["adv-b"]
    since = before.isoformat().replace("+00:00", "Z")
    recent = api.get(f"/fhir/DocumentReference?_lastUpdated=gt{since}", "la").json()
    assert [e["resource"]["id"] for e in recent["entry"]] == ["adv-b"]
    resource = first["entry"][0]["resource"]
    attachment = resource["content"][0]["attachment"]
    assert attachment["url"].endswith(f"/fhir/Binary/{SHA_886}")
    assert attachment["size"] == len(PDF_886)
    assert resource["context"]["related"][0]["identifier"]["value"] == "EHC-886-A"


@pytest.mark.parametrize("query", [
    "_lastUpdated=2026-03-01", "_lastUpdated=gtyesterday", "_lastUpdated=gt2026-03-01T09:00:00",
    "_count=0", "_count=-1", "_count=abc", "_count=" + "9" * 50, "_sort=date",
    "subject=http://other.example/Id|EHC-886-A", "_cursor=bogus", "subject=" + "x" * 300,
])
def test_fhir_search_refuses_hostile_parameters(api: LaApi, query: str) -> None:
    """Bad _lastUpdated, _count, unknown parameters, a foreign system or bad cursor: 4xx outcome."""
    got = api.get(f"/fhir/DocumentReference?{query}", "la")
    assert got.status_code in (400, 422), got.text
    assert got.json()["resourceType"] == "OperationOutcome"


def test_fhir_search_caps_a_huge_count(api: LaApi) -> None:
    """_count=1000000 answers 200 (cut to the page maximum)."""
    got = api.get("/fhir/DocumentReference?_count=1000000", "la")
    assert got.status_code == 200
    assert len(got.json()["entry"]) == 1


def test_fhir_binary_streams_bytes_or_a_json_binary_and_audits_both(api: LaApi) -> None:
    """Raw bytes by default; a FHIR JSON Binary for Accept: application/fhir+json."""
    raw = api.get(f"/fhir/Binary/{SHA_886}", "la")
    assert raw.content == PDF_886
    assert raw.headers["content-type"] == "application/pdf"
    as_json = api.get(f"/fhir/Binary/{SHA_886}", "la", accept="application/fhir+json").json()
    assert as_json["resourceType"] == "Binary"
    assert base64.b64decode(as_json["data"]) == PDF_886
    reads = api.audit(records.RECORD_READ)
    assert [(r["channel"], r["record_id"]) for r in reads] == [("FHIR", SHA_886)] * 2


def test_the_la_reads_a_document_reference_its_search_lists(api: LaApi) -> None:
    """GET /fhir/DocumentReference/{id} with the LA's credential returns the searched resource."""
    got = api.get("/fhir/DocumentReference/adv-a", "la")
    assert got.status_code == 200
    assert got.json()["content"][0]["attachment"]["url"].endswith(SHA_886)


def test_a_local_authority_credential_reads_only_and_is_named_by_an_la_code() -> None:
    """Kind local_authority: scopes cases:read and documents:read only, no advice, LA code only."""
    from connectors.auth import KIND_SCOPES
    from ehcp.errors import ValidationError

    credential, _ = new_credential(LA_CODE_SYSTEM, "886", "local_authority")
    principal = credential.principal()
    assert principal.scopes == KIND_SCOPES["local_authority"] == {"cases:read", "documents:read"}
    assert principal.advice_types == frozenset()
    with pytest.raises(ValidationError):
        new_credential(SCHOOL_URN_SYSTEM, "100001", "local_authority")
    with pytest.raises(ValidationError):
        new_credential(LA_CODE_SYSTEM, "886", "local_authority", ["EDUCATIONAL"])


def test_ehcp_agencies_add_makes_a_local_authority_credential(tmp_path: Path) -> None:
    """`ehcp agencies add --kind local_authority --agency 886` stores an LA-code credential."""
    from click.testing import CliRunner

    from cli.main import cli

    env = {"EHCP_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
           "EHCP_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(cli, ["agencies", "add", "--kind", "local_authority",
                                   "--agency", "886"], env=env)
    assert out.exit_code == 0, out.output
    listed = CliRunner().invoke(cli, ["agencies", "list"], env=env).output
    assert f"local_authority\t{LA_CODE_SYSTEM}|886" in listed
