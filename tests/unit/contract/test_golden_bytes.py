"""Golden bytes pin the wire format: a fixed record always encodes to the same bytes.

The ``golden/*.hex`` files were generated once with the codec and checked by eye (C3 01, then the
writer schema's fingerprint, then the Avro body). If one of these tests fails, the wire format
changed: that breaks every consumer, so fix the code rather than regenerating the file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from ehcp.contract.avro import AvroCodec

from .avro_spec import load_json, schema_files, wire_fingerprint
from .records import GOLDEN, NHS_NUMBER, UPN

GOLDEN_DIR = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN)


def golden_bytes(stem: str) -> bytes:
    """The bytes stored in ``golden/<stem>.hex``."""
    return bytes.fromhex((GOLDEN_DIR / f"{stem}.hex").read_text().strip())


@pytest.mark.parametrize("stem", CASES)
def test_record_encodes_to_golden_bytes(codec: AvroCodec, stem: str) -> None:
    """The fixed record encodes byte for byte to the stored golden message."""
    full_name, record = GOLDEN[stem]
    assert codec.encode(full_name, record).hex() == golden_bytes(stem).hex()


@pytest.mark.parametrize("stem", CASES)
def test_golden_bytes_decode_to_the_record(codec: AvroCodec, stem: str) -> None:
    """The stored golden message decodes back to the same record and record name."""
    full_name, record = GOLDEN[stem]
    assert codec.decode(golden_bytes(stem), expected=full_name) == (full_name, record)


@pytest.mark.parametrize("stem", CASES)
def test_golden_header_names_the_writer_schema(codec: AvroCodec, stem: str) -> None:
    """A golden message starts with C3 01 and the fingerprint of its record's newest schema."""
    full_name, _ = GOLDEN[stem]
    data = golden_bytes(stem)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.registry.latest(full_name).fingerprint


def test_golden_records_carry_the_synthetic_child() -> None:
    """The golden records use the synthetic NHS number and UPN, which pass their check digits."""
    from ehcp.identifiers import is_valid_nhs_number, is_valid_upn

    assert is_valid_nhs_number(NHS_NUMBER)
    assert is_valid_upn(UPN)
    assert NHS_NUMBER.encode() in golden_bytes("referral_received")
    assert UPN.encode() in golden_bytes("advice_submitted")


def _schema_file_for(fp: bytes) -> Path:
    matches = [p for p in schema_files() if wire_fingerprint(load_json(p)) == fp]
    assert len(matches) == 1, f"{len(matches)} schema files have fingerprint {fp.hex()}"
    return matches[0]


def read_with_plain_fastavro(data: bytes) -> tuple[Path, Any]:
    """Decode a message as an outside IT team would: header, schema file, fastavro."""
    assert data[:2] == b"\xc3\x01"
    path = _schema_file_for(data[2:10])
    schema = fastavro.parse_schema(json.loads(path.read_text()))
    body = io.BytesIO(data[10:])
    record = fastavro.schemaless_reader(body, schema)
    assert body.tell() == len(data) - 10
    return path, record


@pytest.mark.parametrize("stem", CASES)
def test_plain_fastavro_reads_a_codec_message(codec: AvroCodec, stem: str) -> None:
    """Stripping the 10-byte header and reading with the matching .avsc gives the same record."""
    full_name, record = GOLDEN[stem]
    path, decoded = read_with_plain_fastavro(codec.encode(full_name, record))
    assert path.parent.name == stem
    assert decoded == record
