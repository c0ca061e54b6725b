"""The stored case: casework events kept as JSON, and cases stored as Avro bytes by earlier versions still read."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ehcp.casework.jsonl import dumps
from ehcp.contract.avro import default_codec
from ehcp.contract.records import (
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    CASEWORK_EVENT_RECORDED,
    REFERRAL_RECEIVED,
)
from ehcp.contract.topics import ADVICE_REQUESTS
from ehcp.errors import ContractError
from streams.stages.case_store import stored_casework_events
from streams.stages.cases import CaseProcessor

from .test_case_processor import CASE, KEY, medical, referral, tick

CODEC = default_codec()


def inputs() -> list[tuple[str, dict[str, Any]]]:
    """A referral, the advice request it sends read back, medical advice and a tick.

    Three inputs state casework events, the tick does not. The request is folded into the case
    with the referral (the read-back changes nothing); earlier versions stored it on read-back.
    """
    opened = CaseProcessor.default(KEY).on_event(None, CASE, REFERRAL_RECEIVED, referral())
    request = next(dict(e.record) for e in opened.outputs if e.topic == ADVICE_REQUESTS)
    return [
        (REFERRAL_RECEIVED, referral()),
        (ADVICE_REQUESTED, request),
        (ADVICE_SUBMITTED, medical(datetime(2026, 10, 1, 9, tzinfo=UTC), None)),
        (CASE_TICK, tick(date(2026, 10, 20))),
    ]


def fold(processor: CaseProcessor, items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The stored case after feeding ``items`` through the stage."""
    state: dict[str, Any] | None = None
    for name, record in items:
        state = processor.on_event(state, CASE, name, record).state
    assert state is not None
    return state


def as_old_format(state: dict[str, Any], items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The same case as the previous version stored it: every non-tick input as base64 Avro, no la_code."""
    old = {k: v for k, v in state.items() if k not in ("inputs", "la_code")}
    old["inputs"] = [
        {
            "id": record.get("contribution_id") or record["event_id"],
            "avro": base64.b64encode(CODEC.encode(name, record)).decode(),
        }
        for name, record in items
        if name != CASE_TICK
    ]
    return json.loads(json.dumps(old))  # as read back from the changelog


def test_inputs_are_stored_as_casework_events_not_avro() -> None:
    """Each accepted input is kept as its casework event's JSON object; nothing is Avro bytes."""
    state = fold(CaseProcessor.default(KEY), inputs())
    assert [item["event"]["type"] for item in state["inputs"]] == [
        "RequestForAssessmentReceived",
        "AdviceRequested",
        "AdviceSubmitted",
    ]
    assert all("avro" not in item for item in state["inputs"])
    assert state["la_code"] == "999"
    assert json.loads(json.dumps(state)) == state  # plain JSON for the changelog


def test_a_case_stored_in_the_old_format_reads_and_exports_the_same() -> None:
    """A case stored as Avro bytes gives the same casework events and the same `case export` text."""
    items = inputs()
    new = fold(CaseProcessor.default(KEY), items)
    old = as_old_format(new, items)
    assert stored_casework_events(old, CODEC) == stored_casework_events(new, CODEC)
    assert dumps(stored_casework_events(old, CODEC)) == dumps(stored_casework_events(new, CODEC))


def test_a_case_stored_in_the_old_format_carries_on_as_the_new_one() -> None:
    """Applying the next input to an old-format case gives the same outputs as to the new-format case."""
    processor = CaseProcessor.default(KEY)
    items = inputs()
    new = fold(processor, items)
    old = as_old_format(new, items)
    later = tick(date(2026, 11, 30))
    from_new = processor.on_event(new, CASE, CASE_TICK, later)
    from_old = processor.on_event(old, CASE, CASE_TICK, later)
    assert from_old.outputs == from_new.outputs
    assert from_old.next_due == from_new.next_due


def test_an_old_format_case_still_refuses_another_las_casework_event() -> None:
    """Without a stored la_code, the owner is read from the Avro referral: LA 998 is refused."""
    items = inputs()
    old = as_old_format(fold(CaseProcessor.default(KEY), items), items)
    event = {
        "type": "DecisionToAssessMade",
        "event_id": "D-9",
        "case_id": CASE,
        "occurred_on": "2026-10-05",
    }
    record = {
        "event_id": "D-9",
        "case_id": CASE,
        "event_type": "DecisionToAssessMade",
        "occurred_on": date(2026, 10, 5),
        "recorded_by": {"system": "https://ehcp-exchange.org/Id/la-code", "value": "998"},
        "event_json": json.dumps(event),
    }
    with pytest.raises(ContractError, match="belongs to LA 999"):
        CaseProcessor.default(KEY).on_event(old, CASE, CASEWORK_EVENT_RECORDED, record)


def test_the_table_value_is_compact_json_read_back_to_the_same_case() -> None:
    """dump/load round-trip; the bytes are what Faust's JSON serializer stored (any spacing reads)."""
    from streams.stages import case_store

    state = fold(CaseProcessor.default(KEY), inputs())
    raw = case_store.dump(state)
    assert raw.startswith(b'{"next_due":')
    assert case_store.load(raw) == state
    assert case_store.load(json.dumps(state, indent=1).encode()) == state  # written by Faust before
    assert case_store.load(state) == state
    assert case_store.load(None) is None
    assert case_store.stored_next_due(raw) == (True, date.fromisoformat(state["next_due"]))


def test_the_next_due_date_is_read_without_parsing_when_dump_wrote_it() -> None:
    """The timer's rebuild reads the first field; other values are parsed; none stated: unknown."""
    from streams.stages import case_store

    assert case_store.stored_next_due(b'{"next_due":null,"inputs":[]}') == (True, None)
    # the prefix alone decides: the rest is never parsed (this is not even valid JSON)
    assert case_store.stored_next_due(b'{"next_due":"2027-01-04",NOT JSON') == (
        True, date(2027, 1, 4))
    written_by_faust = json.dumps({"inputs": [], "next_due": "2026-11-02"}).encode()
    assert case_store.stored_next_due(written_by_faust) == (True, date(2026, 11, 2))
    assert case_store.stored_next_due(b'{"inputs": [], "as_of": "2026-10-01"}') == (False, None)
    assert case_store.stored_next_due({"next_due": None}) == (True, None)
