"""The durable submission ledger survives a restart of the connector."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.fhir.ports import SubmissionOutcome
from connectors.ledger import FileSubmissionLedger
from connectors.locks import LockTimeoutError


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


def test_a_second_ledger_on_the_same_file_sees_new_outcomes(tmp_path: Path) -> None:
    """Two connector processes share the file: what one records, the other reads at once."""
    path = tmp_path / "ledger.jsonl"
    first, second = FileSubmissionLedger(path), FileSubmissionLedger(path)
    outcome = SubmissionOutcome("doc-1", {"id": "doc-1"}, "c-1", "e-1")
    assert second.get("ZZ901", "sys|v") is None
    first.record("ZZ901", ["sys|v"], outcome)
    assert second.get("ZZ901", "sys|v") == outcome
    assert second.get_resource("ZZ901", "doc-1") == outcome
    assert second.get_resource("ZZ902", "doc-1") is None


def test_a_half_written_line_waits_for_its_end(tmp_path: Path) -> None:
    """A line another process is still appending is not parsed until it is complete."""
    path = tmp_path / "ledger.jsonl"
    reader = FileSubmissionLedger(path)
    outcome = SubmissionOutcome("doc-1", {"id": "doc-1"}, "c-1", "e-1")
    FileSubmissionLedger(tmp_path / "other.jsonl").record("ZZ901", ["sys|v"], outcome)
    line = (tmp_path / "other.jsonl").read_bytes()
    path.write_bytes(line[:20])
    assert reader.get("ZZ901", "sys|v") is None
    path.write_bytes(line)
    assert reader.get("ZZ901", "sys|v") == outcome


def test_a_submission_is_locked_across_ledgers_until_released(tmp_path: Path) -> None:
    """acquire excludes every holder sharing the file; release lets the next one in."""
    path = tmp_path / "ledger.jsonl"
    first, second = FileSubmissionLedger(path), FileSubmissionLedger(path)

    async def scenario() -> None:
        lease = await first.acquire("ZZ901", "sys|v", 1.0)
        with pytest.raises(LockTimeoutError):
            await second.acquire("ZZ901", "sys|v", 0.2)
        other = await second.acquire("ZZ902", "sys|v", 0.2)  # another key: not blocked
        other.release()
        lease.release()
        (await second.acquire("ZZ901", "sys|v", 0.2)).release()

    asyncio.run(scenario())


def test_another_process_holding_a_submission_blocks_this_one(tmp_path: Path) -> None:
    """The lock holds between real processes, and the kernel frees it when the holder exits."""
    path = tmp_path / "ledger.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FOR_A_WHILE, str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        ledger = FileSubmissionLedger(path)

        async def try_now() -> None:
            (await ledger.acquire("ZZ901", "sys|v", 0.3)).release()

        with pytest.raises(LockTimeoutError):
            asyncio.run(try_now())
        holder.kill()  # dies holding the lock
        holder.wait(10)
        asyncio.run(try_now())
    finally:
        holder.kill()
        holder.wait(10)


HOLD_FOR_A_WHILE = """
import asyncio, sys, time
from pathlib import Path
from connectors.ledger import FileSubmissionLedger
from connectors.locks import LockTimeoutError

async def main():
    await FileSubmissionLedger(Path(sys.argv[1])).acquire("ZZ901", "sys|v", 5)
    print("held", flush=True)
    time.sleep(60)

asyncio.run(main())
"""


def test_the_ledger_keeps_at_most_cache_size_outcomes_and_reads_older_ones_back(
        tmp_path: Path) -> None:
    """Memory is bounded: 50 outcomes, a cache of 5; every outcome still answers, from the file."""
    path = tmp_path / "ledger.jsonl"
    writer = FileSubmissionLedger(path, cache_size=5)
    outcomes = [SubmissionOutcome(f"doc-{n}", {"id": f"doc-{n}", "n": n}, f"c-{n}", f"e-{n}")
                for n in range(50)]
    for n, outcome in enumerate(outcomes):
        writer.record("ZZ901", [f"sys|{n}"], outcome)
    reader = FileSubmissionLedger(path, cache_size=5)
    for n, outcome in enumerate(outcomes):
        assert reader.get("ZZ901", f"sys|{n}") == outcome
        assert reader.get_resource("ZZ901", f"doc-{n}") == outcome
        assert len(reader.cache) <= 5
    assert len(reader.cache) == 5
    assert reader.get("ZZ902", "sys|3") is None


def test_a_ledger_without_a_cache_still_answers(tmp_path: Path) -> None:
    """cache_size 0 keeps no outcome in memory and reads each from its line."""
    path = tmp_path / "ledger.jsonl"
    ledger = FileSubmissionLedger(path, cache_size=0)
    outcome = SubmissionOutcome("doc-1", {"id": "doc-1"}, "c-1", "e-1")
    ledger.record("ZZ901", ["sys|v", "sys|w"], outcome)
    assert ledger.get("ZZ901", "sys|w") == outcome
    assert len(ledger.cache) == 0
