"""The durable submission ledger survives a restart of the connector."""

from __future__ import annotations

from pathlib import Path

from connectors.fhir.ports import SubmissionOutcome
from connectors.ledger import FileSubmissionLedger


def test_outcomes_survive_reopening_the_file(tmp_path: Path) -> None:
    """An outcome recorded before a restart is found after it, under every identifier token."""
    path = tmp_path / "ledger.jsonl"
    outcome = SubmissionOutcome(
        "doc-1", {"resourceType": "DocumentReference", "id": "doc-1"}, "urn:uuid:1", "event-1"
    )
    FileSubmissionLedger(path).record("ZZ901", ["urn:ietf:rfc:3986|urn:uuid:1", "sys|v"], outcome)
    reopened = FileSubmissionLedger(path)
    assert reopened.get("ZZ901", "sys|v") == outcome
    assert reopened.get("ZZ901", "urn:ietf:rfc:3986|urn:uuid:1") == outcome
    assert reopened.get("ZZ902", "sys|v") is None
    assert oct(path.stat().st_mode)[-3:] == "600"


def test_first_outcome_wins(tmp_path: Path) -> None:
    """A second outcome for the same identifier does not replace the first (as in memory)."""
    path = tmp_path / "ledger.jsonl"
    first = SubmissionOutcome("doc-1", {"id": "doc-1"}, "c-1", "e-1")
    second = SubmissionOutcome("doc-2", {"id": "doc-2"}, "c-2", "e-2")
    ledger = FileSubmissionLedger(path)
    ledger.record("ZZ901", ["sys|v"], first)
    ledger.record("ZZ901", ["sys|v"], second)
    assert FileSubmissionLedger(path).get("ZZ901", "sys|v") == first
