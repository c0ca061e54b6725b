"""Finding one child's identifiers in bytes, JSON with base64 Avro inside, and files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ehcp.contract.keys import child_key
from ehcp.identifiers import NHS_NUMBER_SYSTEM, UPN_SYSTEM, Identifier
from ehcp.traces import _CHUNK, Needles, file_traces, found_in
from tests.support import synthetic_nhs_number

NHS = synthetic_nhs_number(4242)
OTHER = synthetic_nhs_number(4343)
KEY = b"k" * 32
CHILD = Needles.for_child([Identifier(NHS_NUMBER_SYSTEM, NHS), Identifier(UPN_SYSTEM,
                                                                          "B801200005001")],
                          ["EHC-999-TR-001"], KEY)


def test_needles_hold_identifiers_child_keys_and_cases_under_labels() -> None:
    """Labels name the kind of identifier; child keys come from the pseudonym key."""
    assert CHILD.by_label["nhs-number"] == NHS.encode()
    assert CHILD.by_label["child key (nhs-number)"] == child_key(
        KEY, Identifier(NHS_NUMBER_SYSTEM, NHS)).encode()
    assert CHILD.by_label["case id"] == b"EHC-999-TR-001"
    assert "child key (upn)" in CHILD.by_label
    no_key = Needles.for_child([Identifier(NHS_NUMBER_SYSTEM, NHS)], [], None)
    assert set(no_key.by_label) == {"nhs-number"}


def test_raw_bytes_are_searched_and_another_child_is_not_found() -> None:
    """An Avro-like body with the NHS number is found; another child's is not."""
    body = b"\x00\x00\x00\x00\x07\x14" + NHS.encode() + b"\x02"
    assert found_in(body, CHILD) == {"nhs-number"}
    assert found_in(b"\x14" + OTHER.encode(), CHILD) == set()
    assert found_in(None, CHILD) == set()


def test_base64_avro_inside_changelog_json_is_decoded() -> None:
    """A worker changelog keeps inputs as base64 in JSON: the NHS number is found inside."""
    avro = b"\xc3\x01" + b"\x00" * 8 + b"\x14" + NHS.encode()
    value = json.dumps({"inputs": [{"name": "ReferralReceived",
                                    "avro": base64.b64encode(avro).decode()}]}).encode()
    assert NHS.encode() not in value
    assert found_in(value, CHILD) == {"nhs-number"}


def test_hostile_json_does_not_stop_the_search() -> None:
    """Deep nesting, broken JSON and a megabyte string give an answer, not an exception."""
    deep = b"[" * 100_000 + b"]" * 100_000
    assert found_in(deep, CHILD) == set()
    assert found_in(b"{not json " + NHS.encode(), CHILD) == {"nhs-number"}
    big = json.dumps({"a": "x" * 1_000_000 + NHS}).encode()
    assert found_in(big, CHILD) == {"nhs-number"}


def test_files_are_searched_across_chunk_boundaries(tmp_path: Path) -> None:
    """A needle split over two read chunks is found; a file without one is not listed."""
    split = tmp_path / "ab" / "split.bin"
    split.parent.mkdir()
    split.write_bytes(b"\x00" * (_CHUNK - 4) + NHS.encode() + b"\x00" * 10)
    (tmp_path / "clean.bin").write_bytes(OTHER.encode() * 1000)
    traces = file_traces(tmp_path, CHILD)
    assert [(t.path, t.labels) for t in traces] == [(split, frozenset({"nhs-number"}))]
    assert file_traces(tmp_path / "missing", CHILD) == []
