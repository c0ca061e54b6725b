"""An independent CRC-64-AVRO (Rabin) fingerprint, written from the Avro specification.

The specification ("Schema Fingerprints") gives this table algorithm; it is re-implemented here so
the tests do not trust fastavro's or the codec's fingerprint code to check itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro.schema

#: The repository's ``schemas/`` folder, found from this file rather than by importing ``schemas``
#: so the tests read the files in this checkout.
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"

EMPTY = 0xC15D213AA4D7A795
_MASK = 0xFFFFFFFFFFFFFFFF


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp & _MASK)
    return table


_TABLE = _table()


def rabin64(data: bytes) -> int:
    """The 64-bit Rabin fingerprint of ``data`` as an unsigned integer."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema_json: Any) -> str:
    """The schema's Parsing Canonical Form, as fastavro computes it."""
    return str(fastavro.schema.to_parsing_canonical_form(schema_json))


def wire_fingerprint(schema_json: Any) -> bytes:
    """The 8 fingerprint bytes of a single-object header: the Rabin value, little-endian."""
    return rabin64(canonical_form(schema_json).encode()).to_bytes(8, "little")


def schema_files() -> list[Path]:
    """Every ``schemas/<record>/vN.avsc`` file."""
    return sorted(SCHEMA_DIR.glob("*/v*.avsc"))


def load_json(path: Path) -> Any:
    """A schema file's JSON."""
    return json.loads(path.read_text())
