"""Metrics and readiness: the token, route templates as labels, /readyz, the read-model gauges,
counts that outlive a process, and the worker's metrics server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from cli.supervisor import supervise
from connectors import observability
from ehcp.clock import FixedClock
from ehcp.metrics import (
    MULTIPROC_ENV,
    UNMATCHED,
    MetricsServer,
    authorised,
    exposition,
    fresh_multiprocess_dir,
    scrape_registry,
)
from ehcp.readmodel.gauges import ReadModelGauges
from ehcp.readmodel.store import open_engine
from ehcp.settings import Settings
from tests import readmodel_records as rr
from tests.workspace_support import seed

TOKEN = "m" * 40


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_only_the_configured_token_is_authorised() -> None:
    """Bearer with the token passes; another token, another scheme or no token set do not."""
    token = SecretStr(TOKEN)
    assert authorised(f"Bearer {TOKEN}", token)
    assert authorised(f"bearer {TOKEN}", token)
    assert not authorised(f"Bearer {TOKEN}x", token)
    assert not authorised(f"Basic {TOKEN}", token)
    assert not authorised(None, token)
    assert not authorised(f"Bearer {TOKEN}", None)


def test_a_short_metrics_token_is_refused() -> None:
    """The token guards operational data: fewer than 32 characters fails at start-up."""
    with pytest.raises(ValueError, match="EHCP_METRICS_TOKEN"):
        Settings(metrics_token="short")  # type: ignore[arg-type]  # noqa: S106 - a test value


def app_with(settings: Settings, **checks: observability.ReadinessCheck) -> FastAPI:
    """A small app with the observability routes, a templated route and the given checks."""
    app = FastAPI()

    @app.get("/cases/{case_id}")
    async def case(case_id: str) -> dict[str, str]:
        return {"case": case_id}

    fhir = APIRouter()

    @fhir.get("/Task/{task_id}")
    async def task(task_id: str) -> dict[str, str]:
        return {"task": task_id}

    app.include_router(fhir, prefix="/fhir")
    observability.install(app, "unit-test", settings, checks=checks)
    return app


def test_requests_are_counted_by_route_template_never_by_path() -> None:
    """A case id in the path is not a label: the template is; unknown paths are one label."""
    client = TestClient(app_with(Settings(metrics_token=TOKEN)))  # type: ignore[arg-type]
    labels = {"component": "unit-test", "method": "GET", "route": "/cases/{case_id}",
              "status": "200"}
    before = REGISTRY.get_sample_value("ehcp_http_requests_total", labels) or 0
    assert client.get("/cases/EHC-886-2026-0042").status_code == 200
    assert client.get("/cases/EHC-886-2026-0043").status_code == 200
    client.get("/no/such/EHC-886-2026-0044")
    client.request("BREW", "/cases/x")
    assert REGISTRY.get_sample_value("ehcp_http_requests_total", labels) == before + 2
    task_labels = {**labels, "route": "/fhir/Task/{task_id}"}
    before_task = REGISTRY.get_sample_value("ehcp_http_requests_total", task_labels) or 0
    assert client.get("/fhir/Task/REQ-EHC-886-2026-0042").status_code == 200
    assert REGISTRY.get_sample_value("ehcp_http_requests_total", task_labels) == before_task + 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "EHC-886" not in text
    assert "BREW" not in text
    found = samples(text)
    assert found[("ehcp_http_requests_total", tuple(sorted({
        **labels, "route": UNMATCHED, "status": "404"}.items())))] >= 1
    assert found[("ehcp_http_request_duration_seconds_count", tuple(sorted({
        "component": "unit-test", "method": "GET", "route": "/cases/{case_id}"}.items())))] >= 2


def test_metrics_need_the_token_and_are_off_without_one() -> None:
    """No token configured: 404. Configured: 401 without it or with another, 200 with it."""
    off = TestClient(app_with(Settings()))
    assert off.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    on = TestClient(app_with(Settings(metrics_token=TOKEN)))  # type: ignore[arg-type]
    assert on.get("/metrics").status_code == 401
    assert on.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    answer = on.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "ehcp_http_requests_total" in answer.text


def test_readiness_names_the_failing_checks() -> None:
    """200 when every check passes; 503 naming one that is false, raises or hangs."""

    async def ok() -> bool:
        return True

    async def down() -> bool:
        return False

    async def broken() -> bool:
        raise OSError("connection refused")

    ready = TestClient(app_with(Settings(), kafka=ok, read_model=ok))
    answer = ready.get("/readyz")
    assert (answer.status_code, answer.json()) == (
        200, {"status": "ready", "checks": {"kafka": "ok", "read_model": "ok"}})
    not_ready = TestClient(app_with(Settings(), kafka=ok, feeds=down, read_model=broken))
    answer = not_ready.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "checks": {
        "kafka": "ok", "feeds": "failing", "read_model": "failing"}}


def test_the_read_model_gauges_count_open_alerts_and_overdue_advice(tmp_path: Path) -> None:
    """Two cases with 2 and 1 open alerts, medical advice due 23 Feb: on 2 Mar, 3 open alerts
    and 2 overdue items; on 1 Feb nothing is overdue yet."""
    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    seed(engine, rr.referral("EHC-886-2026-0042", "886"), rr.referral("EHC-886-2026-0043", "886"),
         rr.status("EHC-886-2026-0042", open_alerts=2),
         rr.status("EHC-886-2026-0043", open_alerts=1))
    registry = CollectorRegistry()
    registry.register(ReadModelGauges(engine, FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))))
    assert registry.get_sample_value("ehcp_alerts_open") == 3
    assert registry.get_sample_value("ehcp_advice_overdue") == 2
    assert registry.get_sample_value("ehcp_read_model_up") == 1
    early = CollectorRegistry()
    early.register(ReadModelGauges(engine, FixedClock(datetime(2026, 2, 1, 9, tzinfo=UTC))))
    assert early.get_sample_value("ehcp_advice_overdue") == 0
    engine.dispose()


def test_an_unreadable_read_model_is_reported_not_raised(tmp_path: Path) -> None:
    """No tables: the scrape still answers, with ehcp_read_model_up 0 and no alert gauges."""
    engine = open_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    registry = CollectorRegistry()
    registry.register(ReadModelGauges(engine, FixedClock(datetime(2026, 3, 2, tzinfo=UTC))))
    assert registry.get_sample_value("ehcp_read_model_up") == 0
    assert registry.get_sample_value("ehcp_alerts_open") is None
    engine.dispose()


COUNT_ONE = """
from ehcp.metrics import metrics
metrics().dead_letters.labels("process_cases", "MalformedMessageError").inc()
"""


def test_counts_of_processes_that_have_exited_are_still_scraped(tmp_path: Path) -> None:
    """Two worker processes (a crash and its restart) each count one dead letter: the scrape
    from the multiprocess folder shows 2 after both have exited."""
    folder = fresh_multiprocess_dir(tmp_path / "metrics")
    env = {"PATH": "/usr/bin:/bin", MULTIPROC_ENV: str(folder),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT_ONE], env=env, check=True, timeout=60)
    registry = scrape_registry(multiprocess_dir=folder)
    assert registry.get_sample_value("ehcp_dead_letters_total", {
        "stage": "process_cases", "reason": "MalformedMessageError"}) == 2


def test_the_supervisor_reports_each_exit_and_whether_it_restarts() -> None:
    """Two restarts, then the last exit (max_restarts reached) is not a restart."""
    exits: list[tuple[int, bool]] = []
    supervise([sys.executable, "-c", "raise SystemExit(3)"], sleep=lambda _: None,
              max_restarts=2, on_exit=lambda pid, again: exits.append((pid, again)))
    assert [again for _, again in exits] == [True, True, False]
    assert len({pid for pid, _ in exits}) == 3


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    """A worker metrics server on a free port with one counter."""
    registry = CollectorRegistry()
    Counter("ehcp_unit_probe", "A counter of this test.", registry=registry).inc(5)
    running = MetricsServer("127.0.0.1", 0, registry, SecretStr(TOKEN)).start()
    try:
        yield running
    finally:
        running.stop()


def test_the_worker_metrics_server_needs_the_token(server: MetricsServer) -> None:
    """/healthz is open, /metrics answers 401 without the token and the metrics with it."""
    base = f"http://127.0.0.1:{server.port}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    refused = httpx.get(f"{base}/metrics")
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert samples(answer.text)[("ehcp_unit_probe_total", ())] == 5
    assert httpx.get(f"{base}/other").status_code == 404


def test_exposition_is_the_text_format() -> None:
    """What a scrape returns parses as the Prometheus text format."""
    registry = CollectorRegistry()
    Counter("ehcp_unit_format", "Format check.", ["topic"], registry=registry).labels(
        "ehcp.referrals.v1").inc()
    assert samples(exposition(registry).decode())[
        ("ehcp_unit_format_total", (("topic", "ehcp.referrals.v1"),))] == 1


COUNT_AND_EXIT = """
import time
from ehcp.metrics import metrics
metrics().dead_letters.labels("process_cases", "MalformedMessageError").inc()
time.sleep(1.0)
raise SystemExit(7)
"""


def test_the_supervisor_serves_its_childrens_counts_and_its_restarts(tmp_path: Path) -> None:
    """Three worker children each count a dead letter and exit: the supervisor's /metrics shows
    the restarts and the dead letters of children that have already exited."""
    import threading
    import time

    from cli.supervisor import supervise_worker
    from tests.support import free_ports

    (port,) = free_ports(1)
    settings = Settings(worker_metrics_port=port, metrics_token=TOKEN,  # type: ignore[arg-type]
                        data_dir=tmp_path / "data", static_membership=False)
    seen: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2,
                                   headers={"Authorization": f"Bearer {TOKEN}"})
                seen.append(samples(answer.text))
            except httpx.TransportError:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        supervise_worker(settings, [sys.executable, "-c", COUNT_AND_EXIT], sleep=time.sleep,
                         max_restarts=2)
    finally:
        done.set()
        watcher.join()
    restarts = max(s.get(("ehcp_worker_restarts_total", ()), 0) for s in seen)
    dead = max(s.get(("ehcp_dead_letters_total", (("reason", "MalformedMessageError"),
                                                  ("stage", "process_cases"))), 0)
               for s in seen)
    assert restarts == 2
    assert dead >= 2  # the first two children had exited when the third was scraped
    assert not (tmp_path / "data" / "metrics").exists() or not any(
        (tmp_path / "data" / "metrics").iterdir())  # the files go with the supervisor
