"""Full transitive compatibility: every version of a record reads data written by every other.

For each folder of ``schemas/`` and every ordered pair (writer, reader) of its versions, a pair
with itself included, sample records that use every enum symbol and union branch are written with
the writer schema and read with the reader schema through fastavro's schema resolution. Ordered
pairs cover both directions: old readers on new data (forward) and new readers on old data
(backward).
"""

from __future__ import annotations

import copy
import io
import itertools
from pathlib import Path
from typing import Any

import fastavro
import fastavro.read
import fastavro.validation
import pytest

from .avro_spec import SCHEMA_DIR, load_json, schema_files
from .records import samples

_VERSION_FILES = {
    folder: sorted(folder.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    for folder in sorted({p.parent for p in schema_files()})
}
PAIRS = [
    (writer, reader)
    for versions in _VERSION_FILES.values()
    for writer, reader in itertools.product(versions, repeat=2)
]


def _pair_id(pair: tuple[Path, Path]) -> str:
    writer, reader = pair
    return f"{writer.parent.name}:{writer.stem}->{reader.stem}"


def incompatibilities(writer_json: Any, reader_json: Any) -> list[str]:
    """Why data written with ``writer_json`` cannot be read with ``reader_json``."""
    writer = fastavro.parse_schema(copy.deepcopy(writer_json))
    reader = fastavro.parse_schema(copy.deepcopy(reader_json))
    problems = []
    for index, record in enumerate(samples(writer_json)):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, record)
        buf.seek(0)
        try:
            result = fastavro.schemaless_reader(buf, writer, reader)
            fastavro.validation.validate(result, reader, raise_errors=True)
        except (fastavro.read.SchemaResolutionError, fastavro.validation.ValidationError,
                EOFError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"sample {index}: {type(exc).__name__}: {exc}")
    return problems


@pytest.mark.parametrize("pair", PAIRS, ids=[_pair_id(p) for p in PAIRS])
def test_every_version_reads_every_version(pair: tuple[Path, Path]) -> None:
    """Samples written with the writer version read with the reader version of the same record."""
    writer, reader = pair
    assert incompatibilities(load_json(writer), load_json(reader)) == []


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_version_reads_its_own_samples_unchanged(path: Path) -> None:
    """Writing and reading with one version gives back every sample exactly."""
    schema = fastavro.parse_schema(load_json(path))
    for record in samples(load_json(path)):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, record)
        buf.seek(0)
        assert fastavro.schemaless_reader(buf, schema) == record


@pytest.mark.parametrize("folder", list(_VERSION_FILES), ids=lambda p: p.name)
def test_a_folder_holds_one_record_with_versions_from_one_without_gaps(folder: Path) -> None:
    """Each record folder keeps every version v1..vN of one record name."""
    versions = _VERSION_FILES[folder]
    assert [int(p.stem[1:]) for p in versions] == list(range(1, len(versions) + 1))
    names = {(load_json(p).get("namespace"), load_json(p)["name"]) for p in versions}
    assert len(names) == 1


def test_samples_use_every_enum_symbol_and_union_branch() -> None:
    """The generator writes each Alert kind and both branches of each optional field."""
    alert = load_json(SCHEMA_DIR / "alert" / "v1.avsc")
    kinds = next(f["type"]["symbols"] for f in alert["fields"] if f["name"] == "kind")
    records = samples(alert)
    assert {r["kind"] for r in records} == set(kinds)
    assert {r["due_on"] is None for r in records} == {True, False}
    assert {r["agency"] is None for r in records} == {True, False}


def _alert() -> dict[str, Any]:
    result: dict[str, Any] = load_json(SCHEMA_DIR / "alert" / "v1.avsc")
    return result


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    field: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == name)
    return field


def test_checker_rejects_a_new_field_without_default() -> None:
    """A reader that adds a field with no default cannot read old data, and the checker says so."""
    reader = _alert()
    reader["fields"].append({"name": "escalated_to", "type": "string"})
    assert incompatibilities(_alert(), reader) != []


def test_checker_accepts_a_new_field_with_default() -> None:
    """The same new field with a default is compatible in both directions."""
    reader = _alert()
    reader["fields"].append({"name": "escalated_to", "type": ["null", "string"], "default": None})
    assert incompatibilities(_alert(), reader) == []
    assert incompatibilities(reader, _alert()) == []


def test_checker_rejects_an_enum_losing_a_symbol_without_default() -> None:
    """A reader whose AlertStatus enum (no default) drops RESOLVED cannot read resolved alerts."""
    reader = _alert()
    _field(reader, "status")["type"]["symbols"].remove("RESOLVED")
    problems = incompatibilities(_alert(), reader)
    assert problems != []
    assert any("RESOLVED" in p for p in problems)


def test_checker_accepts_an_enum_losing_a_symbol_with_default() -> None:
    """A reader whose AlertKind enum drops a symbol reads it as the enum default, OTHER."""
    reader = _alert()
    _field(reader, "kind")["type"]["symbols"].remove("ADVICE_NOT_REQUESTED")
    assert incompatibilities(_alert(), reader) == []


def test_checker_rejects_a_changed_field_type() -> None:
    """A reader that turns the regulation string into an int cannot read old data."""
    reader = _alert()
    _field(reader, "regulation")["type"] = "int"
    assert incompatibilities(_alert(), reader) != []
