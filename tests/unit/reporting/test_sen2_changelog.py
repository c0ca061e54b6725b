"""Stored cases as the report reads them from the changelog, hostile entries included."""

from __future__ import annotations

import json
from datetime import date

from cli.report_cmd import cases_from_changelog
from ehcp.casework.jsonl import event_to_dict
from ehcp.reporting import sen2
from tests.unit.casework.builders import decided, request_received

REF = date(2026, 1, 15)


def _stored(case_id: str, la: str = "999") -> tuple[bytes, bytes]:
    from dataclasses import replace
    events = [replace(request_received(date(2025, 3, 3)), case_id=case_id),
              replace(decided(date(2025, 4, 7)), case_id=case_id)]
    state = {"inputs": [{"id": f"in-{n}", "event": event_to_dict(e)} for n, e in enumerate(events)],
             "seen": [], "alerts": {}, "as_of": "2025-04-07", "la_code": la}
    return json.dumps(case_id).encode(), json.dumps(state).encode()


def test_the_newest_value_per_case_is_read_and_a_deleted_case_is_skipped() -> None:
    old_key, old = _stored("EHC-999-C-0001", la="886")
    key, new = _stored("EHC-999-C-0001")
    gone_key, gone = _stored("EHC-999-C-0002")
    out = list(cases_from_changelog([(old_key, old), (key, new), (gone_key, gone),
                                     (gone_key, None)], REF))
    assert len(out) == 1
    case = out[0]
    assert isinstance(case, sen2.Sen2Case)
    assert case.la_code == "999"
    assert case.assessment is not None
    assert case.assessment.received_on == date(2025, 3, 3)


def test_hostile_entries_are_reported_by_key_and_never_stop_the_others() -> None:
    good_key, good = _stored("EHC-999-C-0003")
    deep = b"[" * 100_000 + b"]" * 100_000
    records = [
        (json.dumps("EHC-999-BAD-1").encode(), b"{not json"),
        (json.dumps("EHC-999-BAD-2").encode(), deep),
        (json.dumps("EHC-999-BAD-3").encode(), json.dumps({"inputs": [{"event": {
            "type": "FinalPlanIssued", "event_id": "x" * 1_000_000}}]}).encode()),
        (json.dumps("EHC-999-BAD-4").encode(), json.dumps(["not", "a", "case"]).encode()),
        (b"\xff" * 1_000_000, b"{}"),
        (good_key, good),
    ]
    out = list(cases_from_changelog(records, REF))
    bad = sorted(o for o in out if isinstance(o, str))
    assert bad[:4] == ["EHC-999-BAD-1", "EHC-999-BAD-2", "EHC-999-BAD-3", "EHC-999-BAD-4"]
    assert all(len(b) <= 80 for b in bad)
    assert [o.case_ref for o in out if isinstance(o, sen2.Sen2Case)] == ["EHC-999-C-0003"]
