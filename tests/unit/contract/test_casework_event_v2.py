"""CaseworkEventRecorded v2: v1's symbols in order, the new event types, then OTHER last.

A v1 reader (a consumer not yet upgraded) reads a v2 event type as OTHER, the enum's default; a
v2 reader reads v1 data unchanged; and the worker takes every casework event type the API and
the engine know.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import fastavro

from ehcp.casework.events import EVENT_TYPES
from ehcp.contract.avro import AvroCodec

from .avro_spec import SCHEMA_DIR

FOLDER = Path(SCHEMA_DIR) / "casework_event_recorded"
NEW_SYMBOLS = [
    "GraduatedApproachCycleRecorded",
    "NotionalSenBudgetSpendRecorded",
    "TopUpFundingRequested",
    "TopUpFundingDecided",
    "CareStatusRecorded",
    "VirtualSchoolHeadNamed",
    "PupilPremiumPlusEligibilityRecorded",
    "PlanTransferred",
    "TransferNoticeGiven",
    "CommissioningBodyChanged",
    "HealthProvisionReviewRequested",
]


def _symbols(version: int) -> list[str]:
    schema = json.loads((FOLDER / f"v{version}.avsc").read_text())
    event_type = next(f for f in schema["fields"] if f["name"] == "event_type")
    return list(event_type["type"]["symbols"])


def _record(event_type: str) -> dict[str, object]:
    return {
        "event_id": "E-1",
        "case_id": "EHC-886-2026-0042",
        "event_type": event_type,
        "occurred_on": date(2026, 3, 2),
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "886"},
        "event_json": "{}",
    }


def test_v2_keeps_v1_symbols_in_order_then_new_then_other() -> None:
    """v1's symbols keep their positions; OTHER stays last (the lead merges other helpers' lists)."""
    v1, v2 = _symbols(1), _symbols(2)
    assert v2[: len(v1) - 1] == v1[:-1]
    assert v2[-1 - len(NEW_SYMBOLS) : -1] == NEW_SYMBOLS  # after process-a's review symbols
    assert v2[-1] == "OTHER"


def test_every_engine_event_type_but_the_request_and_advice_has_a_symbol() -> None:
    """Each casework event the API can record is a v2 symbol, not OTHER."""
    carried_elsewhere = {"RequestForAssessmentReceived", "AdviceRequested", "AdviceSubmitted",
                         "AdviceDelegated"}
    assert set(EVENT_TYPES) - carried_elsewhere <= set(_symbols(2))


def test_a_v1_reader_reads_a_new_symbol_as_other() -> None:
    """Data written with v2 naming a new event type reads as OTHER with the v1 schema."""
    v1 = fastavro.parse_schema(json.loads((FOLDER / "v1.avsc").read_text()))
    v2 = fastavro.parse_schema(json.loads((FOLDER / "v2.avsc").read_text()))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v2, _record("TopUpFundingDecided"))
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, v2, v1)["event_type"] == "OTHER"


def test_the_codec_reads_v1_bytes_into_v2(codec: AvroCodec) -> None:
    """A message written by an old producer (v1 header) decodes with the v2 reader, same record."""
    writer = codec.registry.history("org.ehcpexchange.events.CaseworkEventRecorded")[0]
    assert writer.version == 1
    buf = io.BytesIO()
    buf.write(writer.header)
    fastavro.schemaless_writer(buf, writer.parsed, _record("PlanCeased"))
    _, record = codec.decode(buf.getvalue())
    assert record == _record("PlanCeased")
