"""The workspace as an LA's staff use it, in Debian's Chromium (Playwright) against the real
broker, stream worker, projector and web app; axe-core checks each page.

The e2e pipeline fixture (tests/e2e/conftest.py) is shared, so one stream worker serves every
e2e test. Playwright drives ``/usr/bin/chromium`` (installed by ``.ci/run`` with apt) and never
downloads a browser; axe-core comes from the ``axe-playwright-python`` wheel, which vendors
``axe.min.js``, so the checks run offline. Screenshots of each page go to
``artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehcp.readmodel import people
from ehcp.readmodel.store import create_tables, open_engine
from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import new_case, referral
from tests.support import REPO, free_ports, spawn, stop, wait_until
from tests.workspace_support import PASSWORD
from workspace.signin import hash_password, new_totp_secret, totp_code

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts" / "browser"


@dataclass
class WorkspaceStack:
    """The pipeline plus the projector and the workspace app; users and their TOTP secrets."""

    pipeline: Pipeline
    url: str
    readmodel_url: str
    secrets: dict[str, str]
    logs: Path


@pytest.fixture(scope="session")
def workspace_stack(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceStack]:
    """Projector and workspace processes over a SQLite read model; a manager for LA 999 and 886."""
    (port,) = free_ports(1)
    state = tmp_path_factory.mktemp("workspace")
    readmodel_url = f"sqlite:///{state / 'readmodel.sqlite3'}"
    engine = open_engine(readmodel_url)
    create_tables(engine)
    people.create_people_tables(engine)
    secrets = {}
    # One account per test: a TOTP code is accepted once, so two sign-ins of one account in
    # the same 30 seconds would be refused as a replay.
    for username, la_code in (("signin.999", "999"), ("live.999", "999"),
                              ("overview.999", "999"), ("owner.999", "999"), ("mgr.886", "886"),
                              ("search.999", "999"), ("search.886", "886")):
        secrets[username] = new_totp_secret()
        people.add_user(engine, username=username, la_code=la_code, role=people.Role.MANAGER,
                        password_hash=hash_password(PASSWORD), totp_secret=secrets[username],
                        now=datetime.now(UTC))
    engine.dispose()
    env = {**pipeline.env, "EHCP_READMODEL_URL": readmodel_url,
           "EHCP_WORKSPACE_PORT": str(port), "EHCP_WORKSPACE_PLAIN_HTTP": "true",
           "EHCP_AUDIT_SPOOL_FILE": str(state / "audit-spool.jsonl")}
    logs = tmp_path_factory.mktemp("workspace-logs")
    projector = spawn(["workspace", "project", "--follow"], env, logs / "projector.log")
    web = spawn(["workspace", "serve"], env, logs / "workspace.log")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        for proc, name in ((projector, "projector"), (web, "workspace")):
            assert proc.poll() is None, (logs / f"{name}.log").read_text()[-3000:]
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 60, what="the workspace to answer")
        yield WorkspaceStack(pipeline, url, readmodel_url, secrets, logs)
    finally:
        stop(web)
        stop(projector)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright.

    Module-scoped: Playwright's sync API keeps an event loop running while it is open, and the
    tests after this module call ``asyncio.run``.
    """
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies) and page; downloads allowed."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """Keep a full-page screenshot under artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)



pytestmark = [pytest.mark.browser, pytest.mark.e2e]

AXE = Path(__import__("axe_playwright_python").__file__).parent / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2 A and AA rules (axe-core tags).
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def check_accessible(page: Any, name: str) -> None:
    """Run axe-core's WCAG 2.2 AA rules on the page; fail on any violation; keep a screenshot."""
    screenshot(page, name)
    # Evaluated through the DevTools protocol: the workspace's CSP rightly refuses a <script>
    # tag it did not serve, and the test must not weaken it.
    page.evaluate(AXE.read_text() + "\n;true")
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_AA)
    violations = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                   "nodes": [n["target"] for n in v["nodes"]][:5]}
                  for v in result["violations"]]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(violations, indent=2))
    assert violations == [], f"axe-core found WCAG AA violations on {name}: {violations}"


def sign_in(page: Any, stack: WorkspaceStack, username: str) -> None:
    """Sign in through the form with password and the current TOTP code."""
    page.goto(f"{stack.url}/tray")
    assert page.url.endswith("/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(
        totp_code(stack.secrets[username], _Clock()))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.url}/tray")


def _refer(stack: WorkspaceStack, tag: str, weeks_ago: float) -> str:
    return _refer_with_number(stack, tag, weeks_ago)[0]


def test_sign_in_needs_the_second_factor(page: Any, workspace_stack: WorkspaceStack) -> None:
    """The right password with a wrong code is refused; with the code the tray opens (accessible)."""
    page.goto(f"{workspace_stack.url}/signin")
    check_accessible(page, "01-signin")
    page.get_by_label("User name").fill("signin.999")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    assert "is not right" in page.get_by_role("alert").inner_text()
    screenshot(page, "02-signin-refused")
    sign_in(page, workspace_stack, "signin.999")
    assert page.get_by_role("heading", level=1).inner_text() == "Work tray"
    check_accessible(page, "03-tray")


def test_overdue_item_appears_live_then_filter_open_upload_download(
        page: Any, workspace_stack: WorkspaceStack) -> None:
    """Alert arrives live in the open tray; filter by agency; open the case; upload advice by email; its alert resolves; download it."""
    stack = workspace_stack
    sign_in(page, stack, "live.999")
    page.evaluate("window.__notReloaded = true")
    case_id = _refer(stack, "LIVE", weeks_ago=7)
    # The worker raises ADVICE_OVERDUE alerts, the projector stores them, the page's live
    # stream announces them and refreshes the tray in place (no reload).
    page.get_by_role("status").get_by_text(case_id).first.wait_for(timeout=120_000)
    page.locator("#tray-results").get_by_role("link", name=case_id).first.wait_for(
        timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "04-tray-live-alert")

    page.get_by_label("Agency").select_option("ZZ901")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**agency=ZZ901**")
    rows = page.locator("table.tray tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        assert rows.nth(i).locator("td").nth(2).inner_text() == "ZZ901"
    screenshot(page, "05-tray-filtered-by-agency")

    page.locator("table.tray").get_by_role("link", name=case_id).first.click()
    page.wait_for_url(f"**/cases/{case_id}")
    check_accessible(page, "06-case")
    medical_alert = page.locator("table", has_text="Alerts raised").locator(
        "tr", has_text="MEDICAL")
    assert medical_alert.count() >= 1

    page.get_by_role("link", name="Record advice received by email or post").click()
    check_accessible(page, "07-record-advice-form")
    page.get_by_label("Advice").select_option("MEDICAL")
    page.get_by_label("Date received").fill(datetime.now(UTC).date().isoformat())
    page.get_by_label("By email").check()
    pdf = b"%PDF-1.4\n% synthetic medical advice received by email\n"
    page.get_by_label("Document").set_input_files(
        files=[{"name": "medical-advice.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    page.get_by_role("button", name="Record advice").click()
    page.get_by_role("heading", name="Advice recorded").wait_for()
    screenshot(page, "08-advice-recorded")

    def resolved() -> bool:
        page.goto(f"{stack.url}/cases/{case_id}")
        return page.locator("table", has_text="Alerts raised").locator(
            "tr", has_text="MEDICAL").filter(has_text="Resolved").count() > 0

    wait_until(resolved, 120, interval_s=2, what="the medical alert to resolve")
    screenshot(page, "09-case-alert-resolved")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Medical advice").first.click()
    assert Path(download.value.path()).read_bytes() == pdf


def test_overview_exports_csv(page: Any, workspace_stack: WorkspaceStack) -> None:
    """The manager overview renders its charts and tables (accessible) and exports CSV."""
    _refer(workspace_stack, "CSV", weeks_ago=3)
    sign_in(page, workspace_stack, "overview.999")
    page.get_by_role("link", name="Overview").click()
    assert page.locator("svg.chart").count() == 4  # with the SEN2 20-week timeliness
    check_accessible(page, "10-overview")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download open cases by stage as CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "stage,cases"
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) >= 1


def test_search_by_child_identifier_finds_the_case_only_for_its_la(
        page: Any, workspace_stack: WorkspaceStack) -> None:
    """Typing the child's NHS number (spaced as people write it) finds the LA's case; the URL
    holds a pseudonym, never the number; another LA's manager searching it finds nothing."""
    stack = workspace_stack
    case_id, nhs = _refer_with_number(stack, "SEARCH", weeks_ago=7)
    sign_in(page, stack, "search.999")

    def in_tray() -> bool:
        page.goto(f"{stack.url}/tray")
        return page.locator("#tray-results").get_by_role("link", name=case_id).count() > 0

    wait_until(in_tray, 120, interval_s=2, what="the case in LA 999's tray")
    page.get_by_label("Child identifier (NHS number, UPN)").fill(
        f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    page.get_by_role("button", name="Find child").click()
    page.wait_for_url("**/tray?child=**")
    assert nhs not in page.url
    links = page.locator("#tray-results table.tray tbody").get_by_role("link")
    assert {links.nth(i).inner_text() for i in range(links.count())} == {case_id}
    check_accessible(page, "12-tray-child-search")

    other = page.context.browser.new_context()
    try:
        foreign = other.new_page()
        sign_in(foreign, stack, "search.886")
        foreign.get_by_label("Child identifier (NHS number, UPN)").fill(nhs)
        foreign.get_by_role("button", name="Find child").click()
        foreign.wait_for_url("**/tray?child=**")
        assert foreign.get_by_role("heading", name="0 open items, 0 overdue").count() == 1
        assert case_id not in foreign.content()
        screenshot(foreign, "13-other-la-child-search-empty")
    finally:
        other.close()


def _refer_with_number(stack: WorkspaceStack, tag: str, weeks_ago: float) -> tuple[str, str]:
    case_id, nhs = new_case(tag)
    with httpx.Client(base_url=stack.pipeline.base_url, timeout=30) as client:
        response = client.post("/api/education/referrals", headers=stack.pipeline.headers("la"),
                               json=referral(case_id, nhs, datetime.now(UTC)
                                             - timedelta(weeks=weeks_ago)))
    assert response.status_code == 202, response.text
    return case_id, nhs


def test_another_las_case_is_not_reachable_by_url(page: Any,
                                                  workspace_stack: WorkspaceStack) -> None:
    """LA 886's manager typing LA 999's case URL sees "Not found", never the case."""
    case_id = _refer(workspace_stack, "FOREIGN", weeks_ago=1)
    sign_in(page, workspace_stack, "owner.999")

    def projected() -> bool:
        return page.goto(f"{workspace_stack.url}/cases/{case_id}").status == 200

    wait_until(projected, 120, interval_s=2, what="the case in LA 999's workspace")
    other = page.context.browser.new_context()
    try:
        foreign = other.new_page()
        sign_in(foreign, workspace_stack, "mgr.886")
        response = foreign.goto(f"{workspace_stack.url}/cases/{case_id}")
        assert response.status == 404
        assert foreign.get_by_role("heading", level=1).inner_text() == "Not found"
        assert case_id not in foreign.content()
        screenshot(foreign, "11-other-la-case-not-found")
        assert case_id not in foreign.goto(f"{workspace_stack.url}/tray").text()
    finally:
        other.close()
