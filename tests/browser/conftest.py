"""The workspace in Debian's Chromium: the real pipeline, the projector and the web app as processes.

Playwright drives ``/usr/bin/chromium`` (installed by ``.ci/run`` with apt); it never downloads
a browser. axe-core comes from the ``axe-playwright-python`` wheel, which vendors ``axe.min.js``,
so the accessibility checks run offline. Screenshots of each page go to
``artifacts/browser/`` (gitignored), kept whether the test passed or failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ehcp.readmodel import people
from ehcp.readmodel.store import create_tables, open_engine
from tests.e2e.conftest import Pipeline, pipeline  # noqa: F401 -- the session fixture, reused
from tests.support import REPO, free_ports, spawn, stop, wait_until
from tests.workspace_support import PASSWORD
from workspace.signin import hash_password, new_totp_secret

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
def workspace_stack(pipeline: Pipeline,  # noqa: F811 -- the imported fixture
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceStack]:
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
                              ("overview.999", "999"), ("owner.999", "999"), ("mgr.886", "886")):
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
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

