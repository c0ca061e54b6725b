"""Every workspace route at the HTTP tier: no session, another LA's case, a role that may not."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.workspace.conftest import Workspace
from tests.workspace_support import CASE, CASE_2, FOREIGN_CASE, csrf_of, sign_in

#: Every GET route with a path that exists for LA 886's manager.
PAGES = [
    "/", "/tray", f"/cases/{CASE}", f"/cases/{CASE}/record-advice", "/queue", "/overview",
    "/overview/stages.csv", f"/cases/{CASE}/recorded",
]


def signed_in(ws: Workspace, who: str) -> TestClient:
    """A browser signed in as one of the fixture's users (each sign-in uses a new TOTP step)."""
    ws.clock.advance(seconds=31)
    client = ws.client()
    response = sign_in(client, ws.users[who].username, ws.secrets[who], ws.clock)
    assert response.status_code == 303, response.text
    return client


def _document_path(ws: Workspace, case_id: str) -> str:
    from ehcp.readmodel.access import LaView

    view = LaView(ws.engine, "886" if case_id != FOREIGN_CASE else "999", ws.clock).case(case_id)
    assert view is not None
    assert view.advice_received
    return f"/cases/{case_id}/advice/{view.advice_received[0].event_id}/document"


@pytest.mark.parametrize("path", [*PAGES, "/events/alerts"])
def test_no_session_gets_no_page(workspace: Workspace, path: str) -> None:
    """Without a session every page redirects to sign-in (the live stream answers 401), showing no data."""
    response = workspace.client().get(path, follow_redirects=False)
    if path == "/events/alerts":
        assert response.status_code == 401
    else:
        assert response.status_code == 303
        assert response.headers["location"] == "/signin"
    assert CASE not in response.text


def test_no_session_gets_no_document(workspace: Workspace) -> None:
    """A document link without a session redirects to sign-in and serves no bytes."""
    response = workspace.client().get(_document_path(workspace, CASE), follow_redirects=False)
    assert response.status_code == 303
    assert b"test" not in response.content


@pytest.mark.parametrize("path", [f"/cases/{CASE}/record-advice", "/signout"])
def test_no_session_cannot_post(workspace: Workspace, path: str) -> None:
    """A POST without a session is refused (401) and publishes nothing."""
    response = workspace.client().post(path, data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code == 401
    assert workspace.publisher.events == []


@pytest.mark.parametrize("suffix", ["", "/record-advice", "/recorded"])
def test_another_las_case_is_not_found(workspace: Workspace, suffix: str) -> None:
    """LA 886's manager asking for LA 999's case by URL gets the same 404 as for no case at all."""
    client = signed_in(workspace, "manager")
    foreign = client.get(f"/cases/{FOREIGN_CASE}{suffix}")
    missing = client.get(f"/cases/EHC-886-NO-SUCH{suffix}")
    assert foreign.status_code == missing.status_code == 404
    assert FOREIGN_CASE not in foreign.text


def test_another_las_document_is_not_found(workspace: Workspace) -> None:
    """LA 886's manager cannot read LA 999's advice document by URL (404, no bytes)."""
    client = signed_in(workspace, "manager")
    response = client.get(_document_path(workspace, FOREIGN_CASE))
    assert response.status_code == 404
    assert response.content != b"test"


def test_another_las_case_never_in_tray(workspace: Workspace) -> None:
    """The tray of LA 999's manager lists only LA 999's case; LA 886's show only theirs."""
    assert FOREIGN_CASE in signed_in(workspace, "foreign").get("/tray").text
    tray = signed_in(workspace, "manager").get("/tray").text
    assert FOREIGN_CASE not in tray
    assert CASE in tray
    assert CASE_2 in tray


def test_case_officer_sees_only_their_caseload(workspace: Workspace) -> None:
    """A case officer's tray and case pages cover the cases assigned to them, not the LA's others."""
    client = signed_in(workspace, "officer")
    tray = client.get("/tray").text
    assert CASE in tray
    assert CASE_2 not in tray
    assert client.get(f"/cases/{CASE}").status_code == 200
    assert client.get(f"/cases/{CASE_2}").status_code == 404


@pytest.mark.parametrize("who", ["officer", "reader"])
@pytest.mark.parametrize("path", ["/queue", "/overview", "/overview/stages.csv"])
def test_manager_pages_refuse_other_roles(workspace: Workspace, who: str, path: str) -> None:
    """The queue and the overview are for managers: others get 403 and the refusal is audited."""
    client = signed_in(workspace, who)
    response = client.get(path)
    assert response.status_code == 403
    audit = [e.record for e in workspace.publisher.events if e.topic == "ehcp.audit.v1"]
    assert any(r["path"] == path and r["credential_id"].endswith(workspace.users[who].user_id)
               for r in audit)


def test_read_only_cannot_record_advice(workspace: Workspace) -> None:
    """A read-only user gets 403 for the record-advice form and its POST; nothing is published."""
    client = signed_in(workspace, "reader")
    page = client.get(f"/cases/{CASE}")
    assert page.status_code == 200
    assert "Record advice" not in page.text
    assert client.get(f"/cases/{CASE}/record-advice").status_code == 403
    response = client.post(f"/cases/{CASE}/record-advice",
                           data={"csrf_token": csrf_of(page.text)},
                           files={"document": ("a.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert response.status_code == 403
    assert not [e for e in workspace.publisher.events if e.topic == "ehcp.contributions.v1"]


@pytest.mark.parametrize("who", ["manager", "officer", "reader"])
def test_every_role_reads_its_pages(workspace: Workspace, who: str) -> None:
    """Each role reaches the tray, a case of theirs and its document."""
    client = signed_in(workspace, who)
    assert client.get("/tray").status_code == 200
    assert client.get(f"/cases/{CASE}").status_code == 200
    document = client.get(_document_path(workspace, CASE))
    assert document.status_code == 200
    assert document.content == b"test"


def test_manager_pages(workspace: Workspace) -> None:
    """A manager reaches the queue, the overview with its SVG charts, and the CSV export."""
    client = signed_in(workspace, "manager")
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert "RVV-ADV-UNROUTED-1" in queue.text
    overview = client.get("/overview")
    assert overview.status_code == 200
    assert "<svg" in overview.text
    csv = client.get("/overview/stages.csv")
    assert csv.status_code == 200
    assert csv.text.splitlines()[0] == "stage,cases"
    assert "ASSESSMENT,2" in csv.text  # LA 886's two cases, not LA 999's
    assert client.get("/overview/nonsense.csv").status_code == 404


def test_every_document_view_is_audited(workspace: Workspace) -> None:
    """Opening a document writes a RecordRead (workspace channel, user id, SHA-256, never bytes)."""
    from ehcp.contract.avro import default_codec

    client = signed_in(workspace, "officer")
    path = _document_path(workspace, CASE)
    assert client.get(path).status_code == 200
    assert client.get(path + "?download=1").status_code == 200
    reads = [e for e in workspace.publisher.events
             if e.topic == "ehcp.audit.v1" and e.record.get("record_kind") == "DOCUMENT"]
    assert len(reads) == 2
    record = reads[0].record
    assert record["user_id"] == workspace.users["officer"].user_id
    assert record["credential_id"] is None
    assert record["channel"] == "WORKSPACE"
    assert record["case_id"] == CASE
    assert record["agency"]["value"] == "886"
    assert len(record["record_id"]) == 64
    default_codec().encode(reads[0].schema_name, record)  # fits the RecordRead schema


def test_refused_case_is_audited(workspace: Workspace) -> None:
    """Asking for another LA's case is refused as not found and audited as a refusal."""
    client = signed_in(workspace, "manager")
    assert client.get(f"/cases/{FOREIGN_CASE}").status_code == 404
    refusals = [e.record for e in workspace.publisher.events if e.topic == "ehcp.audit.v1"
                and e.record.get("path") == f"/cases/{FOREIGN_CASE}"]
    assert len(refusals) == 1
    assert refusals[0]["credential_id"] == f"workspace-user:{workspace.users['manager'].user_id}"


def test_overview_advice_on_time_csv(workspace: Workspace) -> None:
    """The on-time chart's CSV counts LA 886's routed advice by month and agency, on time or not."""
    client = signed_in(workspace, "manager")
    csv = client.get("/overview/advice-on-time.csv")
    assert csv.status_code == 200
    lines = csv.text.splitlines()
    assert lines[0] == "month and agency,% on time,received,on time"
    # One advice routed into CASE (16 Feb 2026 from RVV, due 23 Feb): on time; LA 999's not counted.
    assert lines[1:] == ["2026-02 RVV,100,1,1"]


def test_tray_filters_by_the_referrals_school(workspace: Workspace) -> None:
    """?school=URN lists only the open advice of cases whose referral named that school."""
    from tests.workspace_support import CASE_SCHOOL

    client = workspace.client()
    sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    only = client.get(f"/tray?school={CASE_SCHOOL}").text
    assert f"/cases/{CASE}" in only
    assert f"/cases/{CASE_2}" not in only
    other = client.get("/tray?school=118712").text
    assert f"/cases/{CASE_2}" in other
    assert f"/cases/{CASE}\"" not in other
    assert "Nothing is due soon" in client.get("/tray?school=999999").text


def _child_search(client: Any, typed: str) -> Any:
    """Post the child search form as a browser would; follow the redirect."""
    form = client.get("/tray")
    return client.post("/tray/child-search", data={"csrf_token": csrf_of(form.text),
                                                   "child": typed})


def test_search_by_nhs_number_finds_the_las_case_and_never_keeps_the_number(
        workspace: Workspace) -> None:
    """The typed NHS number (with spaces) finds its case; the URL and page hold a pseudonym."""
    from tests.workspace_support import CASE_NHS_NUMBER

    client = workspace.client()
    sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    spaced = f"{CASE_NHS_NUMBER[:3]} {CASE_NHS_NUMBER[3:6]} {CASE_NHS_NUMBER[6:]}"
    found = _child_search(client, spaced)
    assert found.status_code == 200
    assert f"/cases/{CASE}" in found.text
    assert f"/cases/{CASE_2}" not in found.text
    assert CASE_NHS_NUMBER not in str(found.url)
    assert CASE_NHS_NUMBER not in found.text
    assert "child=" in str(found.url)
    with workspace.engine.connect() as conn:
        from sqlalchemy import text

        stored = [tuple(r) for r in conn.execute(text("SELECT * FROM child_search_keys"))]
    assert stored
    assert CASE_NHS_NUMBER not in repr(stored)


def test_the_same_child_search_by_another_las_user_finds_nothing(workspace: Workspace) -> None:
    """LA 999's manager searching LA 886's child's NHS number gets an empty tray."""
    from tests.workspace_support import CASE_NHS_NUMBER

    client = workspace.client()
    sign_in(client, "mgr.999", workspace.secrets["foreign"], workspace.clock)
    found = _child_search(client, CASE_NHS_NUMBER)
    assert found.status_code == 200
    assert "EHC-886" not in found.text
    assert "0 open items" in found.text


def test_a_child_search_without_csrf_or_with_junk_is_refused(workspace: Workspace) -> None:
    """No token: 403 and nothing searched; empty or megabyte input: a clear 422."""
    client = workspace.client()
    sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    assert client.post("/tray/child-search", data={"child": "9449305552"},
                       follow_redirects=False).status_code == 403
    assert _child_search(client, "   ").status_code == 422
    assert _child_search(client, "9" * 1_000_000).status_code in (400, 413, 422)
    assert client.get("/tray?child=9449305552").status_code == 400  # never a raw identifier


def test_case_page_shows_every_statutory_date_with_its_regulation(workspace: Workspace) -> None:
    """CaseStatus v3's limits appear by name with status, done date and regulation."""
    client = workspace.client()
    sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    html = client.get(f"/cases/{CASE}").text
    assert 'data-limit="decision_to_assess_due"' in html
    assert 'data-limit="final_plan_due"' in html
    assert "reg 5(1) (refusal notice reg 4(1)); exceptions reg 5(4)" in html
    assert "reg 13(2); exceptions reg 13(3) (the reg 10(4) grounds)" in html
    assert "02 Feb 2026" in html  # the decision's done date
    assert "20-week exceptions apply" in html


def test_overview_shows_the_sen2_20_week_chart_table_and_csv(workspace: Workspace) -> None:
    """The SEN2 timeliness series has its chart, table and CSV, counting LA 886's plans only."""
    from datetime import date

    from tests import readmodel_records as rr
    from tests.workspace_support import seed

    seed(workspace.engine, rr.status(CASE, final_issued=date(2026, 5, 20)),
         rr.status(FOREIGN_CASE, final_issued=date(2026, 7, 1)))
    client = signed_in(workspace, "manager")
    html = client.get("/overview").text
    assert 'id="chart-plans-20-weeks-title"' in html
    assert "2026 including exceptions" in html
    lines = client.get("/overview/plans-20-weeks.csv").text.splitlines()
    assert lines[0] == ("year,plans issued,issued within 20 weeks,% within 20 weeks,"
                        "plans issued excluding exceptions,"
                        "issued within 20 weeks excluding exceptions,"
                        "% within 20 weeks excluding exceptions")
    assert lines[1:] == ["2026,1,1,100.0,1,1,100.0"]
