"""The CaseworkEventType enum: v2 adds the plan's later events after v1's, OTHER stays last."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro

from connectors.education.models import CASEWORK_EVENT_TYPES
from ehcp.contract.avro import AvroCodec

from .avro_spec import SCHEMA_DIR, load_json
from .records import CASEWORK_EVENT_RECORDED, NS

FOLDER = SCHEMA_DIR / "casework_event_recorded"


def _symbols(path: Path) -> list[str]:
    field = next(f for f in load_json(path)["fields"] if f["name"] == "event_type")
    symbols: list[str] = field["type"]["symbols"]
    return symbols


def test_v2_keeps_v1_symbols_in_order_and_other_last() -> None:
    """v2 starts with v1's symbols (OTHER aside) in v1's order and ends with OTHER."""
    v1, v2 = _symbols(FOLDER / "v1.avsc"), _symbols(FOLDER / "v2.avsc")
    assert v2[: len(v1) - 1] == v1[:-1]
    assert v2[-1] == "OTHER" == v1[-1]
    assert len(set(v2)) == len(v2)


def test_every_event_type_an_agency_may_record_is_a_symbol_of_the_newest_schema() -> None:
    """No event a connector accepts is written as OTHER by this build."""
    allowed = set().union(*CASEWORK_EVENT_TYPES.values())
    assert allowed <= set(_symbols(FOLDER / "v2.avsc"))


def test_a_v1_reader_reads_a_new_event_type_as_other(codec: AvroCodec) -> None:
    """A consumer still on v1 reads a v2 ReviewDecisionMade as OTHER and keeps its event_json."""
    data = codec.encode(f"{NS}.CaseworkEventRecorded", CASEWORK_EVENT_RECORDED)
    writer = fastavro.parse_schema(load_json(FOLDER / "v2.avsc"))
    reader = fastavro.parse_schema(load_json(FOLDER / "v1.avsc"))
    record: Any = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, reader)
    assert record["event_type"] == "OTHER"
    assert record["event_json"] == CASEWORK_EVENT_RECORDED["event_json"]


def test_v1_data_reads_into_v2_unchanged(codec: AvroCodec) -> None:
    """A message written with v1 decodes through the codec with its v1 symbol intact."""
    v1 = load_json(FOLDER / "v1.avsc")
    record = {**CASEWORK_EVENT_RECORDED, "event_type": "AnnualReviewMeetingHeld"}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(v1), record)
    header = codec.registry.history(f"{NS}.CaseworkEventRecorded")[0].header
    name, decoded = codec.decode(header + buf.getvalue())
    assert name == f"{NS}.CaseworkEventRecorded"
    assert decoded == record
