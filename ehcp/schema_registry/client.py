"""A client of the Confluent schema registry API (``/apis/ccompat/v7`` on Apicurio Registry).

It is the codec's :class:`~ehcp.contract.avro.SchemaIds`: the id of each schema version this
build writes (looked up, never registered on the write path: ``ehcp schemas register`` does
that, so a writer cannot slip a schema past review), and the schema behind an id a message
names. Both are cached for the life of the process (a registry never reuses an id for another
schema), so the registry is asked once per schema, not once per message.

Subjects follow the record name strategy: the subject of a record is its Avro full name (for
example ``org.ehcpexchange.events.Alert``), because the audit topic carries three record types
and the topic name strategy allows one per topic.

Every failure to reach the registry is a :class:`~ehcp.errors.SchemaRegistryError` naming the URL
and what was asked; a schema the registry refuses under its compatibility rule is a
:class:`~ehcp.errors.SchemaIncompatibleError`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from ehcp.contract.avro import SchemaVersion
from ehcp.errors import SchemaIncompatibleError, SchemaRegistryError

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"
#: Confluent's error codes for "subject not found", "version not found" and "schema not found".
_NOT_FOUND_CODES: Final = frozenset({40401, 40402, 40403})


def subject_of(full_name: str) -> str:
    """The subject a record's schemas are registered under (record name strategy)."""
    return full_name


def schema_text(version: SchemaVersion) -> str:
    """The schema as registered: the ``.avsc`` file's JSON, compact."""
    return json.dumps(json.loads(version.path.read_text()), separators=(",", ":"))


class RegistryClient:
    """The registry's Confluent API, with an id cache.

    Args:
        url: base URL of the Confluent API, e.g. ``http://127.0.0.1:8081/apis/ccompat/v7``.
        username: HTTP basic user, if the registry asks for one.
        password: its password.
        ca_file: PEM CA bundle to verify an https registry (default: the system CAs).
        timeout_s: give up one request after this long.
        transport: an httpx transport (tests).
    """

    def __init__(self, url: str, *, username: str | None = None, password: str | None = None,
                 ca_file: Path | None = None, timeout_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(
            base_url=self.url, auth=auth, timeout=timeout_s, transport=transport,
            verify=str(ca_file) if ca_file is not None else True,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
        )
        self._lock = threading.Lock()
        self._ids: dict[bytes, int] = {}  # fingerprint -> id
        self._schemas: dict[int, Any] = {}  # id -> parsed schema JSON

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def _call(self, method: str, path: str, what: str, body: Any = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise SchemaRegistryError(
                f"schema registry at {self.url} unreachable while {what}: {type(exc).__name__}"
            ) from exc

    def _fail(self, response: httpx.Response, what: str) -> SchemaRegistryError:
        try:
            detail = str(response.json().get("message", ""))[:300]
        except (ValueError, AttributeError):
            detail = response.text[:300]
        cls = SchemaIncompatibleError if response.status_code == 409 else SchemaRegistryError
        return cls(f"schema registry at {self.url} refused {what} "
                   f"(HTTP {response.status_code}): {detail}")

    @staticmethod
    def _not_found(response: httpx.Response) -> bool:
        if response.status_code != 404:
            return False
        try:
            return int(response.json().get("error_code", 0)) in _NOT_FOUND_CODES
        except (ValueError, AttributeError, TypeError):
            return False

    # -- the codec's SchemaIds ------------------------------------------------------------------

    def id_of(self, version: SchemaVersion) -> int:
        """The id the registry gave ``version`` under its subject (cached).

        Raises:
            SchemaRegistryError: unreachable, or not registered (run ``ehcp schemas register``).
        """
        with self._lock:
            cached = self._ids.get(version.fingerprint)
        if cached is not None:
            return cached
        schema_id = self.lookup(version)
        if schema_id is None:
            raise SchemaRegistryError(
                f"{version.full_name} v{version.version} is not registered in the schema "
                f"registry at {self.url}: run `ehcp schemas register`"
            )
        return schema_id

    def schema_of(self, schema_id: int) -> Any | None:
        """The schema the registry holds under ``schema_id`` (parsed JSON), or None (cached).

        Raises:
            SchemaRegistryError: unreachable or answering errors.
        """
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        what = f"reading schema id {schema_id}"
        response = self._call("GET", f"/schemas/ids/{schema_id}", what)
        if self._not_found(response):
            return None
        if response.status_code != 200:
            raise self._fail(response, what)
        try:
            body = response.json()
            if body.get("schemaType", "AVRO") != "AVRO":
                return None
            schema = json.loads(body["schema"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SchemaRegistryError(
                f"schema registry at {self.url} answered schema id {schema_id} with no Avro "
                "schema"
            ) from exc
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    # -- administration (`ehcp schemas`) ---------------------------------------------------------

    def lookup(self, version: SchemaVersion) -> int | None:
        """The id of ``version`` if it is registered under its subject, else None."""
        subject = subject_of(version.full_name)
        what = f"looking up {subject} v{version.version}"
        response = self._call("POST", f"/subjects/{quote(subject, safe='')}", what,
                              {"schema": schema_text(version)})
        if self._not_found(response):
            return None
        if response.status_code != 200:
            raise self._fail(response, what)
        return self._remember(version, response, what)

    def register(self, version: SchemaVersion) -> int:
        """Register ``version`` under its subject (idempotent: an existing version keeps its id).

        Raises:
            SchemaIncompatibleError: the subject's compatibility rule refuses it.
            SchemaRegistryError: unreachable or another refusal.
        """
        subject = subject_of(version.full_name)
        what = f"registering {subject} v{version.version}"
        response = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", what,
                              {"schema": schema_text(version)})
        if response.status_code != 200:
            raise self._fail(response, what)
        return self._remember(version, response, what)

    def _remember(self, version: SchemaVersion, response: httpx.Response, what: str) -> int:
        try:
            schema_id = int(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaRegistryError(
                f"schema registry at {self.url} answered {what} without an id"
            ) from exc
        with self._lock:
            self._ids[version.fingerprint] = schema_id
        return schema_id

    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level, or None if it has none."""
        what = f"reading the compatibility of {subject}"
        response = self._call("GET", f"/config/{quote(subject, safe='')}", what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, what)
        body = response.json()
        level = body.get("compatibilityLevel") or body.get("compatibility")
        return str(level) if level else None

    def set_compatibility(self, subject: str, level: str) -> None:
        """Set the subject's compatibility level (e.g. ``FULL_TRANSITIVE``)."""
        what = f"setting the compatibility of {subject}"
        response = self._call("PUT", f"/config/{quote(subject, safe='')}", what,
                              {"compatibility": level})
        if response.status_code != 200:
            raise self._fail(response, what)

    def is_compatible(self, full_name: str, schema: Any) -> bool:
        """Whether the registry would accept ``schema`` (parsed JSON) as a new version."""
        subject = subject_of(full_name)
        what = f"testing a schema against {subject}"
        response = self._call(
            "POST", f"/compatibility/subjects/{quote(subject, safe='')}/versions/latest", what,
            {"schema": json.dumps(schema, separators=(",", ":"))},
        )
        if self._not_found(response):
            return True  # a new subject accepts any first version
        if response.status_code != 200:
            raise self._fail(response, what)
        return bool(response.json().get("is_compatible"))

    def register_schema(self, full_name: str, schema: Any) -> int:
        """Register any schema (parsed JSON) under ``full_name``'s subject; for operators' checks.

        Raises:
            SchemaIncompatibleError: the subject's compatibility rule refuses it.
        """
        subject = subject_of(full_name)
        what = f"registering a schema under {subject}"
        response = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", what,
                              {"schema": json.dumps(schema, separators=(",", ":"))})
        if response.status_code != 200:
            raise self._fail(response, what)
        return int(response.json()["id"])
