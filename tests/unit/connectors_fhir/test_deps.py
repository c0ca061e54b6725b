"""The FHIR service is built once per app from its ports, not again on every request."""

from __future__ import annotations

from .support import Harness


def test_the_service_is_built_once_and_shared_by_requests(harness: Harness) -> None:
    """Two requests use one FhirService over the app's own ports (so its per-key locks are shared)."""
    assert harness.get("/fhir/Task").status_code == 200
    first = harness.app.state.fhir_service
    assert harness.get("/fhir/Task/unknown").status_code == 404
    assert harness.app.state.fhir_service is first
    assert first._ports.tasks is harness.tasks
    assert first._ports.publisher is harness.publisher


def test_two_apps_do_not_share_a_service(harness: Harness) -> None:
    """The router is module level, but each app builds its own service from its own ports."""
    from fastapi.testclient import TestClient

    from .support import build_app

    other = build_app(harness.settings, credentials=harness.app.state.credentials,
                      publisher=harness.publisher, docstore=harness.docstore,
                      submissions=harness.submissions, tasks=harness.tasks,
                      task_events=harness.task_events, clock=harness.app.state.clock)
    with TestClient(other) as client:
        headers = harness.headers()
        assert client.get("/fhir/Task", headers=headers).status_code == 200
    assert harness.get("/fhir/Task").status_code == 200
    assert other.state.fhir_service is not harness.app.state.fhir_service
