"""The whole pipeline as a user runs it: a stream worker and the connectors as processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev_cmd import wait_for_task
from connectors.auth import FileCredentialStore, new_credential
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.settings import Settings
from tests.support import free_ports, settings_env, spawn, stop, wait_until

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Pipeline:
    """A running pipeline: where to reach it, the agencies' tokens and the worker process."""

    base_url: str
    settings: Settings
    env: dict[str, str]
    tokens: dict[str, str]
    logs: Path
    worker: subprocess.Popen[bytes]

    def restart_worker(self) -> None:
        """Stop the stream worker and start a new one in the same consumer group."""
        stop(self.worker)
        self.worker = spawn(["worker"], self.env, self.logs / "worker.log")

    def wait_for_task(self, case_id: str, who: str = "health") -> dict[str, Any]:
        """Wait until the health body ``who`` sees its Task for the case (it was asked)."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            return wait_for_task(client, self.headers(who), case_id)

    def headers(self, who: str, fhir: bool = False) -> dict[str, str]:
        """Authorization (and content type) headers for one agency."""
        out = {"Authorization": f"Bearer {self.tokens[who]}"}
        if fhir:
            out["Content-Type"] = "application/fhir+json"
        return out


@pytest.fixture(scope="session")
def pipeline(
    kafka_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """Worker and connectors running against the session broker, with agency credentials."""
    (port,) = free_ports(1)
    settings = kafka_settings.model_copy(update={"http_port": port})
    store = FileCredentialStore(settings.credentials_file)
    tokens = {}
    made = []
    for who, kind, system, value in (
        ("la", "education", LA_CODE_SYSTEM, "999"),
        ("health", "health", ODS_ORGANISATION_SYSTEM, "ZZ901"),
        ("other_health", "health", ODS_ORGANISATION_SYSTEM, "ZZ902"),
        ("social_care", "social_care", LA_CODE_SYSTEM, "999"),
        ("other_la_social_care", "social_care", LA_CODE_SYSTEM, "886"),
    ):
        credential, token = new_credential(system, value, kind)
        made.append(credential)
        tokens[who] = token
    store.save(made)
    env = settings_env(settings)
    logs = tmp_path_factory.mktemp("logs")
    worker = spawn(["worker"], env, logs / "worker.log")
    connectors = spawn(["connectors"], env, logs / "connectors.log")
    base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert worker.poll() is None, (logs / "worker.log").read_text()[-3000:]
        assert connectors.poll() is None, (logs / "connectors.log").read_text()[-3000:]
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 90, what="the connectors to answer")
        running = Pipeline(base_url, settings, env, tokens, logs, worker)
        yield running
    finally:
        stop(connectors)
        stop(running.worker if "running" in locals() else worker)


@pytest.fixture(scope="session")
def la_tokens(pipeline: Pipeline) -> dict[str, tuple[str, str]]:
    """local_authority credentials for LA 999 (the case's) and LA 886: name -> (id, token)."""
    store = FileCredentialStore(pipeline.settings.credentials_file)
    made, out = [], {}
    for who, la in (("la_read", "999"), ("other_la_read", "886")):
        credential, token = new_credential(LA_CODE_SYSTEM, la, "local_authority")
        made.append(credential)
        out[who] = (credential.credential_id, token)
    store.save([*store.all(), *made])
    return out


@pytest.fixture(scope="session")
def projector(pipeline: Pipeline) -> Iterator[subprocess.Popen[bytes]]:
    """`ehcp workspace project --follow` into the read model the connectors read."""
    proc = spawn(["workspace", "project", "--follow", "--supervise"], pipeline.env,
                 pipeline.logs / "projector.log")
    try:
        yield proc
    finally:
        stop(proc)
