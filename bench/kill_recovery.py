"""Recovery: how long does processing stop after the stream worker is killed with SIGKILL?

Starts its own Kafka broker (free ports, temporary folder), applies the topic catalogue, runs
``ehcp worker`` (supervised), produces referrals at a steady rate straight onto the referrals
topic, and N times kills the supervisor's Faust child with SIGKILL (as the OOM killer or a node
failure would). For each kill it measures the gap from the kill to the next processed event: the
first ``ehcp.case-status.v1`` record whose timestamp (set by the worker's producer when it sends)
is later than the kill. Only a new worker can write such a record. Between kills the worker runs
for ``--interval`` seconds. At the end it waits for every referral to reach a case status.

    .venv/bin/python bench/kill_recovery.py [--kills 5] [--rate 10] [--interval 20]

Prints a table and writes bench/results/kill_recovery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehcp.contract.topics import CASE_STATUS, REFERRALS, catalogue  # noqa: E402
from ehcp.kafka_io.kafka_clients import apply_topics  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import referral_message, start_local_broker  # noqa: E402


def faust_child(supervisor_pid: int) -> int | None:
    """The pid of the supervisor's (only) child process, from /proc."""
    path = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children")
    try:
        pids = [int(p) for p in path.read_text().split()]
    except (FileNotFoundError, ValueError):
        return None
    return pids[0] if pids else None


class StatusWatcher(threading.Thread):
    """Reads ehcp.case-status.v1 from the start; keeps each record's timestamp and key."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.stamps: list[int] = []  # record timestamps, ms since the epoch
        self.keys: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        """Poll until stopped."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        parts = consumer.partitions_for_topic(CASE_STATUS.name) or set()
        consumer.assign([TopicPartition(CASE_STATUS.name, p) for p in parts])
        consumer.seek_to_beginning()
        while not self.stopping.is_set():
            batch = consumer.poll(timeout_ms=200)
            with self.lock:
                for records in batch.values():
                    for r in records:
                        self.stamps.append(r.timestamp)
                        if r.key:
                            self.keys.add(r.key.decode())
        consumer.close()

    def first_after(self, ms: int) -> int | None:
        """The earliest record timestamp later than ``ms``, or None."""
        with self.lock:
            later = [t for t in self.stamps if t > ms]
        return min(later) if later else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--rate", type=float, default=10.0, help="referrals per second")
    parser.add_argument("--interval", type=float, default=20.0, help="seconds between kills")
    parser.add_argument("--give-up", type=float, default=240.0, help="max seconds per recovery")
    parser.add_argument("--settle", type=float, default=90.0, help="max seconds to catch up")
    parser.add_argument("--log-level", default="INFO", help="worker log level")
    parser.add_argument("--label", default="", help="free text stored with the results")
    args = parser.parse_args()

    from kafka import KafkaProducer

    tmp = Path(tempfile.mkdtemp(prefix="ehcp-kill-"))
    broker = start_local_broker(tmp / "kafka")
    key = secrets.token_hex(32)
    settings = Settings(
        kafka_bootstrap=broker.config.bootstrap,
        pseudonym_key=key,
        app_id="ehcp-kill",
        data_dir=tmp / "data",
    )
    apply_topics(settings, catalogue(settings.app_id))
    env = {
        **os.environ,
        "EHCP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "EHCP_PSEUDONYM_KEY": key,
        "EHCP_APP_ID": settings.app_id,
        "EHCP_DATA_DIR": str(settings.data_dir),
        "EHCP_LOG_LEVEL": args.log_level,
    }
    log_path = tmp / "worker.log"
    with open(log_path, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    watcher = StatusWatcher(settings.kafka_bootstrap)
    watcher.start()

    produced: list[str] = []
    stop_producing = threading.Event()

    def produce() -> None:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        received = datetime.now(UTC) - timedelta(weeks=2)
        i = 0
        while not stop_producing.is_set():
            case_id = f"EHC-999-KILL-{i:05d}"
            i += 1
            value, headers = referral_message(case_id, received, source="/bench")
            producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
            produced.append(case_id)
            time.sleep(1 / args.rate)
        producer.flush()
        producer.close()

    t0 = time.monotonic()
    thread = threading.Thread(target=produce)
    thread.start()
    # Warm up: the first worker must be processing before the first kill.
    start_ms = int(time.time() * 1000)
    deadline = time.monotonic() + args.give_up
    while watcher.first_after(start_ms) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    gaps: list[float | None] = []
    try:
        for _ in range(args.kills):
            time.sleep(args.interval)
            child = faust_child(supervisor.pid)
            if child is None:
                print("no Faust child to kill (supervisor restarting it?)", file=sys.stderr)
                gaps.append(None)
                continue
            kill_ms = int(time.time() * 1000)
            os.kill(child, signal.SIGKILL)
            deadline = time.monotonic() + args.give_up
            first = None
            while first is None and time.monotonic() < deadline:
                time.sleep(0.1)
                first = watcher.first_after(kill_ms)
            gaps.append(None if first is None else (first - kill_ms) / 1000)
            print(f"kill {len(gaps)}: {gaps[-1]} s", flush=True)
    finally:
        stop_producing.set()
        thread.join()
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            with watcher.lock:
                missing = set(produced) - watcher.keys
            if not missing:
                break
            time.sleep(1)
        supervisor.terminate()
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
        watcher.stopping.set()
        watcher.join(10)
        broker.stop()

    text = log_path.read_text(errors="replace")
    measured = [g for g in gaps if g is not None]
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "label": args.label,
        "kills": args.kills,
        "rate_per_s": args.rate,
        "interval_s": args.interval,
        "gaps_s": gaps,
        "gap_min_s": min(measured) if measured else None,
        "gap_median_s": statistics.median(measured) if measured else None,
        "gap_max_s": max(measured) if measured else None,
        "not_recovered": sum(1 for g in gaps if g is None),
        "referrals_produced": len(produced),
        "referrals_without_status": len(missing),
        "supervisor_restarts": text.count("worker_restarting"),
        "guard_stalled_partition": text.count("kafka_partition_stalled"),
        "seconds": round(time.monotonic() - t0, 1),
        "worker_log": str(log_path),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kill_recovery.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'kill':>4}  {'gap from SIGKILL to next case status (s)':>40}")
    for i, gap in enumerate(gaps, 1):
        print(f"{i:>4}  {'not recovered' if gap is None else f'{gap:.1f}':>40}")
    width = max(len(k) for k in result)
    for k, v in result.items():
        if k != "gaps_s":
            print(f"{k:<{width}}  {v}")
    return 0 if measured and not result["not_recovered"] and not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
