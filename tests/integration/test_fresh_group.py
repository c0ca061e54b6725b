"""A worker whose group has no committed offsets reads every input record from offset 0 (#13 item 20).

Reproduced before the fix: with a non-empty ``cases`` changelog (so the tables restore at start)
and a consumer group with no committed offset (a fresh group, offsets expired while the worker
was down, or a partition added), Faust fetched the first records of a partition between resuming
the stream partitions and clearing its queues after recovery, dropped them, and "seeked to
committed offsets", which does nothing for a partition that has none. Processing went on from
the next record and the group committed past the dropped ones: referrals lost, with no dead
letter and no guard firing.

The check is exact: every offset of every referrals partition must appear in the worker's
structured log as processed (or dead-lettered), and the committed offsets must reach the end.
Each round uses a new app id (so a new group with a restored changelog) on this test's own
broker, whose input topics start empty, so offset 0 of each partition is a record of the test.
The race is timing-dependent: it needs Faust's fetcher to wake inside the window between resuming
the stream partitions and clearing the agents' queues, which grows with the number of partitions
Faust seeks (1.3 s at 48 partitions here, 0.2-0.4 s at 4-16). With 48 partitions the code before
the fix lost ``ehcp.referrals.v1[25]`` offsets 0-2 for good (the group committed past them), and
the watchdog had to restart the worker for another partition; at 4, 16 and 32 partitions four
runs of the old code passed. The test also fails when the watchdog had to restart the worker to
recover a dropped record, since that too means a record was dropped.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ehcp.contract.topics import REFERRALS, catalogue
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.settings import Settings
from tests.support import referral_message, spawn, stop, wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 48
ROUNDS = 1
CHANGELOG_ENTRIES = 3000


def _referral(case_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    return referral_message(case_id, datetime.now(UTC) - timedelta(weeks=2))


def _processed_offsets(log: Path) -> dict[int, set[int]]:
    """Referral offsets the worker processed or dead-lettered, by partition, from its JSON log."""
    seen: dict[int, set[int]] = defaultdict(set)
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("topic") == REFERRALS.name and entry.get("event") in (
            "case_event_processed", "message_dead_lettered"
        ):
            seen[int(entry["partition"])].add(int(entry["offset"]))
    return seen


def _one_round(bootstrap: str, producer: Any, round_no: int, sent: int, tmp_path: Path) -> int:
    """Start a worker in a new group with a restored changelog; check it processed every referral.

    Returns how many referrals are on the topic after the round.
    """
    from kafka import KafkaConsumer, TopicPartition

    app_id = f"ehcp-fresh-{round_no}"
    settings = Settings(kafka_bootstrap=bootstrap, pseudonym_key="f" * 64, partitions=PARTITIONS,
                        app_id=app_id, data_dir=tmp_path / app_id, stall_check_s=5.0)
    apply_topics(settings, catalogue(app_id))
    changelog = f"{app_id}-cases-changelog"
    for i in range(CHANGELOG_ENTRIES):  # cases restored at start (their content is not read)
        producer.send(changelog, b'{"inputs": [], "alerts": {}}',
                      key=json.dumps(f"EHC-999-OLD{round_no}-{i:05d}").encode(),
                      partition=i % PARTITIONS)
    for i in range(8):  # waiting before the worker starts
        case_id = f"EHC-999-R{round_no}A-{i:04d}"
        value, headers = _referral(case_id)
        producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
        sent += 1
    producer.flush()
    env = {**os.environ, "EHCP_KAFKA_BOOTSTRAP": bootstrap, "EHCP_PSEUDONYM_KEY": "f" * 64,
           "EHCP_PARTITIONS": str(PARTITIONS), "EHCP_APP_ID": app_id,
           "EHCP_DATA_DIR": str(settings.data_dir), "EHCP_STALL_CHECK_S": "5",
           "EHCP_LOG_JSON": "true", "EHCP_LOG_LEVEL": "INFO"}
    log = tmp_path / f"worker-{round_no}.log"
    worker = spawn(["worker"], env, log)
    tps = [TopicPartition(REFERRALS.name, p) for p in range(PARTITIONS)]
    try:
        for i in range(24):  # arriving while it starts and restores its tables
            case_id = f"EHC-999-R{round_no}B-{i:04d}"
            value, headers = _referral(case_id)
            producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
            producer.flush()
            sent += 1
            time.sleep(0.25)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=app_id,
                                 enable_auto_commit=False)
        ends = consumer.end_offsets(tps)
        assert sum(ends.values()) == sent

        def caught_up() -> bool:
            assert worker.poll() is None, log.read_text()[-3000:]
            return all((consumer.committed(tp) or 0) >= ends[tp] for tp in tps)

        wait_until(caught_up, 120, 1.0, f"round {round_no}: the group to commit every referral")
        consumer.close()
    finally:
        stop(worker)
    seen = _processed_offsets(log)
    missing = {tp.partition: sorted(set(range(ends[tp])) - seen[tp.partition])
               for tp in tps if set(range(ends[tp])) - seen[tp.partition]}
    assert missing == {}, f"round {round_no}: referral offsets never processed: {missing}"
    # Nothing fetched may be dropped on the way: a drop that the watchdog repairs with a restart
    # (the guard for partitions that have a committed offset) still counts as a failure here.
    text = log.read_text(errors="replace")
    assert "kafka_partition_stalled" not in text, f"round {round_no}: a dropped record stalled a partition"
    assert "kafka_offsets_skipped" not in text
    return sent


def test_a_group_without_committed_offsets_processes_every_record_from_offset_0(
    own_broker: LocalBroker, tmp_path: Path
) -> None:
    """Fresh group + restored changelog + referrals arriving from launch: offsets 0..end-1 of every partition are processed, in every round."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=own_broker.config.bootstrap, acks="all")
    try:
        sent = 0
        for round_no in range(ROUNDS):
            sent = _one_round(own_broker.config.bootstrap, producer, round_no, sent, tmp_path)
    finally:
        producer.close()
