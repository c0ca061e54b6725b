"""Where one child's identifiers still appear: the matching behind ``ehcp child traces``.

An erasure or a subject access request starts with the question "where is this child?". The
scanners (Kafka topics in :mod:`ehcp.kafka_io.traces`, database tables in
:mod:`ehcp.readmodel.traces`, document files here) ask :func:`found_in` of every key, value,
header, cell and file. It looks for each needle as bytes, and inside JSON it also decodes base64
strings (the workers' changelogs keep their inputs as base64 Avro in JSON), because a byte search
alone would miss those.

A report names *where* (a topic, partition and offset; a table and column; a file) and *which
kind* of identifier (the needle's label), never the identifier itself or the data around it.
Avro writes strings as UTF-8 bytes, so identifiers, case ids and child keys are found in any
wire format; dates (Avro ints) are not searchable this way.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ehcp.contract.keys import child_key
from ehcp.identifiers import Identifier

#: Bounds for hostile or huge inputs: how deep JSON is walked, and the shortest base64 decoded.
_MAX_DEPTH: Final = 32
_MIN_BASE64: Final = 16
#: Document files are read in chunks of this size, overlapping by the longest needle.
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Needles:
    """What to look for: label -> bytes (labels such as ``nhs-number`` or ``child key``)."""

    by_label: Mapping[str, bytes]

    @classmethod
    def for_child(cls, identifiers: Sequence[Identifier], case_ids: Sequence[str],
                  pseudonym_key: bytes | None) -> Needles:
        """The child's identifiers, its child keys (if the pseudonym key is known), its cases."""
        found: dict[str, bytes] = {}
        for ident in identifiers:
            label = ident.system.rsplit("/", 1)[-1]
            found[label] = ident.value.encode()
            if pseudonym_key is not None:
                found[f"child key ({label})"] = child_key(pseudonym_key, ident).encode()
        for n, case_id in enumerate(case_ids, 1):
            found[f"case id {n}" if len(case_ids) > 1 else "case id"] = case_id.encode()
        return cls(found)

    @property
    def longest(self) -> int:
        """Length of the longest needle."""
        return max((len(v) for v in self.by_label.values()), default=0)


def found_in(data: bytes | None, needles: Needles) -> set[str]:
    """The labels of the needles in ``data``, looking inside base64 strings of JSON too."""
    if not data:
        return set()
    labels = {label for label, needle in needles.by_label.items() if needle in data}
    if len(labels) < len(needles.by_label) and data[:1] in (b"{", b"["):
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return labels
        for text in _strings(parsed, 0):
            if len(text) < _MIN_BASE64:
                continue
            try:
                decoded = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                continue
            labels |= {label for label, needle in needles.by_label.items() if needle in decoded}
    return labels


def _strings(value: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, depth + 1)


@dataclass(frozen=True, slots=True)
class FileTrace:
    """A file holding one or more needles."""

    path: Path
    labels: frozenset[str]


def file_traces(folder: Path, needles: Needles) -> list[FileTrace]:
    """Every file under ``folder`` (e.g. the document store) holding a needle, read in chunks."""
    out: list[FileTrace] = []
    if not folder.exists():
        return out
    overlap = max(needles.longest - 1, 0)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        labels: set[str] = set()
        tail = b""
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                window = tail + chunk
                labels |= {label for label, n in needles.by_label.items() if n in window}
                tail = window[-overlap:] if overlap else b""
        if labels:
            out.append(FileTrace(path, frozenset(labels)))
    return out
