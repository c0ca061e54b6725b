"""Avro encoding with fastavro: every message names its writer schema, in one of two wire formats.

Single-object encoding (Avro specification; the default)::

    C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | Avro binary body

Confluent wire format (a schema registry's id; ``EHCP_SCHEMA_WIRE_FORMAT=confluent``)::

    00 | 4-byte big-endian schema id given by the registry | Avro binary body

Schemas are parsed once, when a :class:`SchemaRegistry` is built from ``schemas/``. Decoding
looks the writer schema up (by fingerprint, or by registry id through :class:`SchemaIds`) and
resolves it against the newest version of the same record (the reader schema), so old data stays
readable. Decoding accepts both formats whatever a codec writes, so writers can move from one to
the other topic by topic while readers carry on. fastavro errors are translated into
:class:`~ehcp.errors.ContractError` subclasses here, at the edge.

This module does no I/O: the registry is reached through the :class:`SchemaIds` port
(``ehcp.schema_registry`` holds the HTTP implementation), so the pure stream stages may use a
codec.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import fastavro
import fastavro.schema
import fastavro.validation

from ehcp.errors import (
    ConfigurationError,
    ContractError,
    MalformedMessageError,
    UnknownSchemaError,
)

MAGIC: Final = b"\xc3\x01"
HEADER_LEN: Final = 10
#: The Confluent wire format's first byte, and its header length (magic + 4-byte schema id).
CONFLUENT_MAGIC: Final = b"\x00"
CONFLUENT_HEADER_LEN: Final = 5
SINGLE_OBJECT: Final = "single-object"
CONFLUENT: Final = "confluent"
WireFormat = Literal["single-object", "confluent"]
_VERSION_RE: Final = re.compile(r"^v(\d+)\.avsc$")
#: How many registry ids a codec remembers as unknown (so junk ids do not each cost a request).
_MAX_UNKNOWN_IDS: Final = 1024


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


class SchemaIds(Protocol):
    """A schema registry's ids (the Confluent wire format's 4 bytes), seen by the codec.

    Subjects follow the record name strategy: one subject per record full name. Implementations
    cache (ids never change meaning) and raise :class:`~ehcp.errors.SchemaRegistryError` when the
    registry cannot be reached, which is not a :class:`~ehcp.errors.ContractError`: the message
    is fine, so it must not be dead-lettered.
    """

    def id_of(self, version: SchemaVersion) -> int:
        """The registry's id of ``version`` (registered under its record's subject).

        Raises:
            SchemaRegistryError: unreachable, or the schema is not registered there.
        """
        ...

    def schema_of(self, schema_id: int) -> Any | None:
        """The schema (parsed JSON) the registry holds under ``schema_id``; None if none.

        Raises:
            SchemaRegistryError: unreachable or answering errors.
        """
        ...


@dataclass(frozen=True, slots=True)
class WirePolicy:
    """Which wire format a codec writes to each topic (reading always takes both).

    Attributes:
        default: the format of every topic not named in ``topics``.
        topics: per-topic overrides, so a migration can switch writers one topic at a time.
    """

    default: WireFormat = SINGLE_OBJECT
    topics: Mapping[str, WireFormat] | None = None

    def format_for(self, topic: str | None) -> WireFormat:
        """The format for ``topic``; state kept outside Kafka topics (``None``) is single-object."""
        if topic is None:
            return SINGLE_OBJECT
        return (self.topics or {}).get(topic, self.default)

    @property
    def uses_confluent(self) -> bool:
        """Whether any topic is written in the Confluent format (then a registry is needed)."""
        return self.default == CONFLUENT or CONFLUENT in (self.topics or {}).values()


class AvroCodec:
    """Encodes records with the newest schema; decodes any known version into the newest.

    Args:
        registry: the schema versions this build holds.
        ids: the schema registry, needed to write or read the Confluent wire format.
        policy: which format to write to which topic (default: single-object everywhere).

    Raises:
        ConfigurationError: a policy that writes the Confluent format with no ``ids``.
    """

    def __init__(self, registry: SchemaRegistry, *, ids: SchemaIds | None = None,
                 policy: WirePolicy | None = None) -> None:
        self.registry = registry
        self.ids = ids
        self.policy = policy or WirePolicy()
        if self.policy.uses_confluent and ids is None:
            raise ConfigurationError(
                "the Confluent wire format needs a schema registry: set EHCP_SCHEMA_REGISTRY_URL"
            )
        self._fields: dict[str, frozenset[str]] = {}
        self._headers: dict[str, bytes] = {}  # full name -> Confluent header of its newest schema
        self._by_id: dict[int, SchemaVersion] = {}
        self._unknown_ids: dict[int, None] = {}  # ids the registry does not hold (bounded)

    def encode(self, full_name: str, record: Mapping[str, Any], topic: str | None = None) -> bytes:
        """Encode ``record`` with the newest schema of ``full_name``, in ``topic``'s wire format.

        ``topic`` is the Kafka topic the bytes go to (its format comes from the policy); without
        one (state the worker keeps in its own tables), single-object encoding.

        Every record is validated first. The check that passes is the cheap one: fastavro's
        ``validate`` with ``raise_errors=True`` builds (and catches) an exception for every
        union branch a value does not take, so it runs only to word the error of a record
        that fails.

        Raises:
            ContractError: if the record does not fit the schema (the message names the field).
            SchemaRegistryError: Confluent format, and the registry is down or lacks the schema.
        """
        writer = self.registry.latest(full_name)
        header = (writer.header if self.policy.format_for(topic) == SINGLE_OBJECT
                  else self._confluent_header(writer))
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
            buf.write(header)
            fastavro.schemaless_writer(buf, writer.parsed, record)
        except fastavro.validation.ValidationError as exc:
            raise ContractError(f"{full_name} record does not fit its schema: {exc}") from exc
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ContractError(f"{full_name} record cannot be encoded: {exc}") from exc
        return buf.getvalue()

    def _confluent_header(self, writer: SchemaVersion) -> bytes:
        header = self._headers.get(writer.full_name)
        if header is None:
            if self.ids is None:  # __init__ refuses a Confluent policy without ids
                raise ConfigurationError("the Confluent wire format needs a schema registry")
            schema_id = self.ids.id_of(writer)
            header = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")
            self._headers[writer.full_name] = header
            self._by_id[schema_id] = writer
        return header

    def _writer_of(self, data: bytes) -> tuple[SchemaVersion, int]:
        """The writer schema a message names, and where its body starts (either format)."""
        if len(data) >= HEADER_LEN and data[:2] == MAGIC:
            return self.registry.by_fingerprint(data[2:HEADER_LEN]), HEADER_LEN
        if len(data) < CONFLUENT_HEADER_LEN or data[:1] != CONFLUENT_MAGIC:
            raise MalformedMessageError(
                "neither Avro single-object encoded (C3 01) nor Confluent wire format (00 + id)"
            )
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_LEN], "big")
        known = self._by_id.get(schema_id)
        if known is not None:
            return known, CONFLUENT_HEADER_LEN
        if self.ids is None:
            raise UnknownSchemaError(
                f"Confluent wire format (schema id {schema_id}) but no schema registry is "
                "configured: set EHCP_SCHEMA_REGISTRY_URL"
            )
        if schema_id in self._unknown_ids:
            raise UnknownSchemaError(f"the schema registry holds no schema with id {schema_id}")
        schema = self.ids.schema_of(schema_id)
        if schema is None:
            if len(self._unknown_ids) >= _MAX_UNKNOWN_IDS:
                self._unknown_ids.pop(next(iter(self._unknown_ids)))
            self._unknown_ids[schema_id] = None
            raise UnknownSchemaError(f"the schema registry holds no schema with id {schema_id}")
        try:
            fp = fingerprint(schema)
        except Exception as exc:
            raise UnknownSchemaError(
                f"schema id {schema_id} in the registry is not an Avro schema this build reads"
            ) from exc
        version = self.registry.by_fingerprint(fp)
        self._by_id[schema_id] = version
        return version, CONFLUENT_HEADER_LEN

    def decode(self, data: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Decode a message in either wire format (single-object or Confluent).

        Args:
            data: the message value.
            expected: if given, the record full name the caller requires.

        Returns:
            The record's full name and the record, resolved to the newest schema version.

        Raises:
            MalformedMessageError: bytes without either marker, truncated or corrupt.
            UnknownSchemaError: a fingerprint or registry id of a schema this build does not hold.
            ContractError: a record of another type than ``expected``.
            SchemaRegistryError: a registry id not seen before, and the registry is down.
        """
        writer, start = self._writer_of(data)
        if expected is not None and writer.full_name != expected:
            raise ContractError(f"expected {expected}, message holds {writer.full_name}")
        reader = self.registry.latest(writer.full_name)
        buf = io.BytesIO(data[start:])
        try:
            record = fastavro.schemaless_reader(buf, writer.parsed, reader.parsed)
        except Exception as exc:
            raise MalformedMessageError(
                f"corrupt {writer.full_name} body: {type(exc).__name__}"
            ) from exc
        if buf.tell() != len(data) - start:
            raise MalformedMessageError(f"trailing bytes after the {writer.full_name} body")
        if not isinstance(record, dict):
            raise MalformedMessageError("body is not a record")
        return writer.full_name, record


def default_codec() -> AvroCodec:
    """A codec over the project's ``schemas/`` folder."""
    from schemas import SCHEMA_DIR

    return AvroCodec(SchemaRegistry(SCHEMA_DIR))
