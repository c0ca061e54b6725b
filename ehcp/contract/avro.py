"""Avro single-object encoding with fastavro: every message names its writer schema.

Wire format (Avro specification, "Single object encoding")::

    C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | Avro binary body

Schemas are parsed once, when a :class:`SchemaRegistry` is built from ``schemas/``. Decoding
looks the writer schema up by fingerprint and resolves it against the newest version of the same
record (the reader schema), so old data stays readable. fastavro errors are translated into
:class:`~ehcp.errors.ContractError` subclasses here, at the edge.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import fastavro
import fastavro.schema
import fastavro.validation

from ehcp.errors import ContractError, MalformedMessageError, UnknownSchemaError

MAGIC: Final = b"\xc3\x01"
HEADER_LEN: Final = 10
_VERSION_RE: Final = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of one record schema, parsed once."""

    full_name: str
    version: int
    path: Path
    fingerprint: bytes
    parsed: Any  # fastavro's parsed schema (a dict); opaque outside this module

    @property
    def header(self) -> bytes:
        """The 10-byte single-object header for data written with this schema."""
        return MAGIC + self.fingerprint


def fingerprint(schema_json: Any) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, as on the wire."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema_json)
    # fastavro returns the fingerprint's bytes little-endian first, as the spec's wire form wants.
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def load_version(path: Path) -> SchemaVersion:
    """Parse one ``.avsc`` file."""
    match = _VERSION_RE.match(path.name)
    if match is None:
        raise ContractError(f"schema file {path} is not named vN.avsc")
    raw = json.loads(path.read_text())
    try:
        parsed = fastavro.parse_schema(raw, _write_hint=False)
    except Exception as exc:
        raise ContractError(f"schema {path} does not parse: {exc}") from exc
    full_name = f"{raw['namespace']}.{raw['name']}" if "namespace" in raw else raw["name"]
    return SchemaVersion(full_name, int(match.group(1)), path, fingerprint(raw), parsed)


class SchemaRegistry:
    """Every schema version in a folder, indexed by record full name and by fingerprint."""

    def __init__(self, schema_dir: Path) -> None:
        versions = [load_version(p) for p in sorted(schema_dir.glob("*/v*.avsc"))]
        if not versions:
            raise ContractError(f"no schemas found in {schema_dir}")
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._history: dict[str, list[SchemaVersion]] = {}
        for v in versions:
            if v.fingerprint in self._by_fingerprint:
                raise ContractError(
                    f"{v.path} repeats the schema of {self._by_fingerprint[v.fingerprint].path}"
                )
            self._by_fingerprint[v.fingerprint] = v
            self._history.setdefault(v.full_name, []).append(v)
        for history in self._history.values():
            history.sort(key=lambda s: s.version)

    @property
    def names(self) -> list[str]:
        """Full names of all records."""
        return sorted(self._history)

    def history(self, full_name: str) -> list[SchemaVersion]:
        """All versions of a record, oldest first."""
        try:
            return list(self._history[full_name])
        except KeyError as exc:
            raise UnknownSchemaError(f"no schema named {full_name}") from exc

    def latest(self, full_name: str) -> SchemaVersion:
        """The newest version of a record: what this build writes and reads into."""
        try:
            return self._history[full_name][-1]
        except KeyError as exc:
            raise UnknownSchemaError(f"no schema named {full_name}") from exc

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        """The writer schema a message names."""
        try:
            return self._by_fingerprint[fp]
        except KeyError as exc:
            raise UnknownSchemaError(f"unknown writer schema fingerprint {fp.hex()}") from exc


class AvroCodec:
    """Encodes records with the newest schema; decodes any known version into the newest."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._fields: dict[str, frozenset[str]] = {}

    def encode(self, full_name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object-encode ``record`` with the newest schema of ``full_name``.

        Every record is validated first. The check that passes is the cheap one: fastavro's
        ``validate`` with ``raise_errors=True`` builds (and catches) an exception for every
        union branch a value does not take, so it runs only to word the error of a record
        that fails.

        Raises:
            ContractError: if the record does not fit the schema (the message names the field).
        """
        writer = self.registry.latest(full_name)
        names = self._fields.get(full_name)
        if names is None:
            names = self._fields[full_name] = frozenset(f["name"] for f in writer.parsed["fields"])
        if not names.issuperset(record):
            unknown = set(record) - names
            raise ContractError(f"{full_name} has no field(s) {', '.join(sorted(unknown))}")
        try:
            if not fastavro.validation.validate(record, writer.parsed, raise_errors=False):
                fastavro.validation.validate(record, writer.parsed, raise_errors=True)
            buf = io.BytesIO()
            buf.write(writer.header)
            fastavro.schemaless_writer(buf, writer.parsed, record)
        except fastavro.validation.ValidationError as exc:
            raise ContractError(f"{full_name} record does not fit its schema: {exc}") from exc
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ContractError(f"{full_name} record cannot be encoded: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Decode a single-object-encoded message.

        Args:
            data: the message value.
            expected: if given, the record full name the caller requires.

        Returns:
            The record's full name and the record, resolved to the newest schema version.

        Raises:
            MalformedMessageError: bytes without the marker, truncated or corrupt.
            UnknownSchemaError: a fingerprint this build does not hold.
            ContractError: a record of another type than ``expected``.
        """
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise MalformedMessageError("not Avro single-object encoded (missing C3 01 marker)")
        writer = self.registry.by_fingerprint(data[2:HEADER_LEN])
        if expected is not None and writer.full_name != expected:
            raise ContractError(f"expected {expected}, message holds {writer.full_name}")
        reader = self.registry.latest(writer.full_name)
        buf = io.BytesIO(data[HEADER_LEN:])
        try:
            record = fastavro.schemaless_reader(buf, writer.parsed, reader.parsed)
        except Exception as exc:
            raise MalformedMessageError(
                f"corrupt {writer.full_name} body: {type(exc).__name__}"
            ) from exc
        if buf.tell() != len(data) - HEADER_LEN:
            raise MalformedMessageError(f"trailing bytes after the {writer.full_name} body")
        if not isinstance(record, dict):
            raise MalformedMessageError("body is not a record")
        return writer.full_name, record


def default_codec() -> AvroCodec:
    """A codec over the project's ``schemas/`` folder."""
    from schemas import SCHEMA_DIR

    return AvroCodec(SchemaRegistry(SCHEMA_DIR))
