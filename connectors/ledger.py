"""A durable :class:`~connectors.fhir.ports.SubmissionLedger`: an append-only JSON-lines file.

The health connector records each published submission here (after Kafka acknowledged it), so a
client retrying after the connector restarted gets the original answer instead of a second event.
Each record is one line, written and fsynced before ``record`` returns; the file is read once at
start. One connector process per file: several processes need a shared store (not built yet).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from connectors.fhir.ports import SubmissionOutcome


class FileSubmissionLedger:
    """Submission outcomes by (agency, identifier), kept in a JSON-lines file (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._outcomes: dict[tuple[str, str], SubmissionOutcome] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    outcome = SubmissionOutcome(**entry["outcome"])
                    for identifier in entry["identifiers"]:
                        self._outcomes.setdefault((entry["agency"], identifier), outcome)

    def get(self, agency: str, identifier: str) -> SubmissionOutcome | None:
        """The outcome recorded for this agency and identifier token, or None."""
        return self._outcomes.get((agency, identifier))

    def record(self, agency: str, identifiers: Iterable[str], outcome: SubmissionOutcome) -> None:
        """Append the outcome durably, then remember it under every identifier (first wins)."""
        identifiers = list(identifiers)
        line = json.dumps(
            {
                "agency": agency,
                "identifiers": identifiers,
                "outcome": {
                    "resource_id": outcome.resource_id,
                    "resource": dict(outcome.resource),
                    "contribution_id": outcome.contribution_id,
                    "event_id": outcome.event_id,
                },
            }
        )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        for identifier in identifiers:
            self._outcomes.setdefault((agency, identifier), outcome)
