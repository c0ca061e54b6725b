"""The stored form of a case in the ``cases`` table (and its changelog topic), read and written.

A stored case is a JSON object::

    {"inputs": [{"id": ..., "event": {...}}, ...],  # accepted inputs as casework events
     "seen": [...],                                  # event or contribution ids applied
     "alerts": {alert_id: details},                  # alerts raised and not yet resolved
     "alert_raises": {alert_id: n},                  # times each alert was raised (episodes)
     "as_of": "YYYY-MM-DD",                          # latest event date seen
     "la_code": "999",                               # the LA that owns the case (referral)
     "id_linked": true}                              # its case-id routing entry was sent

Each input is kept as its casework event in the JSON-lines form of ``ehcp case explain``
(:func:`ehcp.casework.jsonl.event_to_dict`), so evaluating the case parses small JSON objects
instead of decoding and re-mapping Avro records. Inputs that state no casework event (a Task
accepted, a timer tick) are only remembered in ``seen``.

Cases stored before this format kept each input as base64 Avro bytes (``{"id", "avro"}``) and
had no ``la_code``; those entries are still read (decoded and mapped as before), so a worker
upgraded over an existing changelog keeps its cases, and new inputs are appended in the new
form.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from ehcp.casework import events as ev
from ehcp.casework.jsonl import event_to_dict, parse_event
from ehcp.contract.avro import AvroCodec
from ehcp.contract.records import REFERRAL_RECEIVED
from streams.stages.case_mapping import to_casework_event

#: How :func:`dump` starts a case whose next due date is stored: what :func:`stored_next_due`
#: reads without parsing the rest.
_NEXT_DUE_PREFIX = b'{"next_due":'


def dump(state: Mapping[str, Any]) -> bytes:
    """The table value of a case: compact JSON, ``next_due`` first (see :func:`stored_next_due`).

    The worker keeps these bytes in its table instead of the parsed object (about a quarter of the
    memory per open case) and parses a case when an input for it arrives.
    """
    ordered = {"next_due": state["next_due"], **state} if "next_due" in state else state
    return json.dumps(ordered, separators=(",", ":")).encode()


def load(value: bytes | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A case from its table value: JSON bytes (any spacing or key order), or already parsed."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        loaded: dict[str, Any] = json.loads(bytes(value))
        return loaded
    return dict(value)


def stored_next_due(value: bytes | Mapping[str, Any]) -> tuple[bool, date | None]:
    """``(True, date or None)`` if the value states its next due date, else ``(False, None)``.

    Bytes written by :func:`dump` are read from their first field only (a timer rebuild over
    every local case parses none of them); anything else is parsed.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value[:40])
        if raw.startswith(_NEXT_DUE_PREFIX):
            rest = raw[len(_NEXT_DUE_PREFIX):]
            if rest.startswith(b"null"):
                return True, None
            if rest[:1] == b'"' and rest[11:12] == b'"':
                return True, date.fromisoformat(rest[1:11].decode())
        parsed = load(value)
    else:
        parsed = dict(value)
    if parsed is None or "next_due" not in parsed:
        return False, None
    due = parsed["next_due"]
    return True, date.fromisoformat(due) if due else None


def new_case() -> dict[str, Any]:
    """The stored form of a case before its first input."""
    return {"inputs": [], "seen": [], "alerts": {}, "as_of": None}


def with_input(
    state: Mapping[str, Any], input_id: str, event: ev.CaseEvent | None
) -> dict[str, Any]:
    """The state with one accepted input's casework event appended (None: nothing to keep)."""
    current = dict(state)
    if event is not None:
        current["inputs"] = [*current["inputs"], {"id": input_id, "event": event_to_dict(event)}]
    return current


def stored_casework_events(state: Mapping[str, Any], codec: AvroCodec) -> list[ev.CaseEvent]:
    """The casework events of a stored case, in the order they were accepted.

    Args:
        state: the stored case (either format, see the module docstring).
        codec: decodes inputs stored as Avro bytes by earlier versions.
    """
    out = []
    for item in state.get("inputs", []):
        if "event" in item:
            out.append(parse_event(item["event"]))
            continue
        name, record = codec.decode(base64.b64decode(item["avro"]))
        event = to_casework_event(name, record)
        if event is not None:
            out.append(event)
    return out


def case_la_code(state: Mapping[str, Any], codec: AvroCodec) -> str | None:
    """The LA code of the case's referral, if it has arrived."""
    if state.get("la_code"):
        return str(state["la_code"])
    for item in state.get("inputs", []):
        if "avro" in item:
            name, record = codec.decode(base64.b64decode(item["avro"]))
            if name == REFERRAL_RECEIVED:
                return str(record["la_code"])
    return None
