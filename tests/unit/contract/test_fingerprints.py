"""The codec's schema fingerprints agree with CRC-64-AVRO computed from the specification."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehcp.contract.avro import AvroCodec, fingerprint, load_version

from .avro_spec import EMPTY, canonical_form, load_json, rabin64, schema_files, wire_fingerprint

#: The Avro specification's test vector: the fingerprint of the schema "null" as a signed long.
NULL_FINGERPRINT = 7195948357588979594


def test_empty_input_fingerprint_is_the_empty_constant() -> None:
    """Fingerprinting no bytes gives the spec's EMPTY value, so the loop starts where it should."""
    assert rabin64(b"") == EMPTY


def test_independent_fingerprint_of_null_matches_the_spec_value() -> None:
    """The in-test Rabin implementation reproduces the specification's value for "null"."""
    assert canonical_form("null") == '"null"'
    assert rabin64(b'"null"') == NULL_FINGERPRINT


def test_codec_writes_the_null_fingerprint_little_endian() -> None:
    """The codec's fingerprint of "null" is the spec value as 8 little-endian bytes."""
    assert fingerprint("null") == NULL_FINGERPRINT.to_bytes(8, "little")
    assert fingerprint("null").hex() == "8a8f25cce724dd63"  # 0x63dd24e7cc258f8a, low byte first


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_codec_fingerprint_matches_independent_crc64(path: Path) -> None:
    """Every schema file's codec fingerprint equals CRC-64-AVRO of its canonical form."""
    assert load_version(path).fingerprint == wire_fingerprint(load_json(path))


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_header_is_marker_then_fingerprint(codec: AvroCodec, path: Path) -> None:
    """The registry's header for every version is C3 01 followed by its independent fingerprint."""
    version = load_version(path)
    registered = codec.registry.by_fingerprint(version.fingerprint)
    assert registered.header == b"\xc3\x01" + wire_fingerprint(load_json(path))


def test_fingerprints_differ_between_schema_files() -> None:
    """No two schema files share a fingerprint, so a header names exactly one writer schema."""
    prints = [wire_fingerprint(load_json(p)) for p in schema_files()]
    assert len(set(prints)) == len(prints)
