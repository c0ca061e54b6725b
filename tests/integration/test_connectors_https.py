"""`ehcp connectors` serves HTTPS when EHCP_TLS_CERTFILE and EHCP_TLS_KEYFILE are set."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from ehcp.settings import Settings
from tests.support import free_ports, settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def test_connectors_serve_https_with_the_configured_certificate(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """A client trusting the CA reads /fhir/metadata over TLS; plain HTTP gets no answer."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    (port,) = free_ports(1)
    env = {**settings_env(kafka_settings), "EHCP_HTTP_PORT": str(port),
           "EHCP_TLS_CERTFILE": str(certfile), "EHCP_TLS_KEYFILE": str(keyfile),
           "EHCP_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
           "EHCP_SUBMISSIONS_FILE": str(tmp_path / "submissions.jsonl")}
    proc = spawn(["connectors"], env, tmp_path / "connectors.log")
    trusted = ssl.create_default_context(cafile=str(cafile))
    base = f"https://localhost:{port}"
    try:
        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "connectors.log").read_text()[-2000:]
            try:
                return httpx.get(f"{base}/healthz", verify=trusted, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, what="the connectors over https")
        metadata = httpx.get(f"{base}/fhir/metadata", verify=trusted, timeout=10)
        assert metadata.status_code == 200
        assert metadata.json()["resourceType"] == "CapabilityStatement"
        with pytest.raises(httpx.ConnectError):  # the default CAs do not know the test CA
            httpx.get(f"{base}/healthz", timeout=5)
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
            httpx.get(f"http://localhost:{port}/healthz", timeout=5)
    finally:
        stop(proc)
