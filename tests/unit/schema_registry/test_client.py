"""The registry client's HTTP side, against httpx's mock transport: requests, cache, errors.

The real Apicurio answers the same calls in tests/integration/test_schema_registry.py.
"""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest

from ehcp.contract.avro import SchemaRegistry
from ehcp.contract.records import ALERT
from ehcp.errors import SchemaIncompatibleError, SchemaRegistryError
from ehcp.schema_registry.client import RegistryClient
from tests.unit.contract.avro_spec import SCHEMA_DIR

REGISTRY = SchemaRegistry(SCHEMA_DIR)
URL = "http://registry.test/apis/ccompat/v7"


def _client(handler: httpx.MockTransport, **kwargs: object) -> RegistryClient:
    return RegistryClient(URL, transport=handler, **kwargs)  # type: ignore[arg-type]


def test_ids_and_schemas_are_cached_and_basic_auth_is_sent() -> None:
    """One lookup and one schema read, whatever the number of calls; every call authenticated."""
    seen: list[httpx.Request] = []
    alert = REGISTRY.latest(ALERT)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            assert request.url.path == f"/apis/ccompat/v7/subjects/{ALERT}"
            assert json.loads(json.loads(request.content)["schema"])["name"] == "Alert"
            return httpx.Response(200, json={"subject": ALERT, "version": 1, "id": 7})
        assert request.url.path == "/apis/ccompat/v7/schemas/ids/7"
        return httpx.Response(200, json={"schema": alert.path.read_text()})

    password = secrets.token_hex(8)
    client = _client(httpx.MockTransport(handle), username="ehcp-worker", password=password)
    assert [client.id_of(alert) for _ in range(3)] == [7, 7, 7]
    assert [client.schema_of(7)["name"] for _ in range(3)] == ["Alert"] * 3
    assert len(seen) == 2
    expected = "Basic " + base64.b64encode(f"ehcp-worker:{password}".encode()).decode()
    assert {r.headers["authorization"] for r in seen} == {expected}


def test_an_unregistered_schema_says_to_run_register() -> None:
    """A writer whose schema the registry lacks is told the command that fixes it."""
    client = _client(httpx.MockTransport(lambda _: httpx.Response(
        404, json={"error_code": 40403, "message": "Schema not found"})))
    with pytest.raises(SchemaRegistryError, match="ehcp schemas register"):
        client.id_of(REGISTRY.latest(ALERT))
    assert client.schema_of(12) is None


def test_a_registry_that_is_down_names_the_url_and_the_request() -> None:
    """Connection refused becomes one SchemaRegistryError naming the registry and the call."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(httpx.MockTransport(refuse))
    with pytest.raises(SchemaRegistryError, match=r"registry\.test.*unreachable.*schema id 5"):
        client.schema_of(5)


def test_a_server_error_is_a_registry_error_not_a_missing_schema() -> None:
    """A 500 (or a 404 without a registry error code, e.g. a wrong URL) is not 'no such id'."""
    client = _client(httpx.MockTransport(lambda _: httpx.Response(500, text="boom")))
    with pytest.raises(SchemaRegistryError, match="HTTP 500"):
        client.schema_of(5)
    wrong_path = _client(httpx.MockTransport(lambda _: httpx.Response(404, text="<html>")))
    with pytest.raises(SchemaRegistryError, match="HTTP 404"):
        wrong_path.schema_of(5)


def test_a_refused_version_is_an_incompatible_schema() -> None:
    """409 from the registry is SchemaIncompatibleError carrying the registry's reason."""
    client = _client(httpx.MockTransport(lambda _: httpx.Response(
        409, json={"error_code": 409, "message": "Incompatible artifact: b at /fields/1"})))
    with pytest.raises(SchemaIncompatibleError, match="fields/1"):
        client.register(REGISTRY.latest(ALERT))
