"""Soak: referrals keep arriving while the stream worker is restarted; is every one processed?

Starts its own Kafka broker (free ports, temporary folder), applies the topic catalogue, runs
``ehcp worker`` (supervised), produces N referrals at a steady rate straight onto the referrals
topic while stopping and starting the worker R times, then counts the distinct cases on the
case-status topic. The ceiling is N, measured in the same run: every referral must yield a case.

    .venv/bin/python bench/restart_soak.py [--referrals 400] [--restarts 3] [--rate 20]

Prints a table and writes bench/results/restart_soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehcp.contract.topics import CASE_STATUS, REFERRALS, catalogue  # noqa: E402
from ehcp.kafka_io.kafka_clients import apply_topics  # noqa: E402
from ehcp.kafka_io.readers import read_partitions  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import referral_message, start_local_broker  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=400)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="referrals per second")
    parser.add_argument("--settle", type=float, default=60.0, help="max seconds to catch up")
    parser.add_argument("--log-level", default="WARNING", help="worker log level")
    args = parser.parse_args()

    from kafka import KafkaProducer

    tmp = Path(tempfile.mkdtemp(prefix="ehcp-soak-"))
    broker = start_local_broker(tmp / "kafka")
    key = secrets.token_hex(32)
    settings = Settings(
        kafka_bootstrap=broker.config.bootstrap,
        pseudonym_key=key,
        app_id="ehcp-soak",
        data_dir=tmp / "data",
        stall_check_s=5.0,
    )
    apply_topics(settings, catalogue(settings.app_id))
    env = {
        **os.environ,
        "EHCP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "EHCP_PSEUDONYM_KEY": key,
        "EHCP_APP_ID": settings.app_id,
        "EHCP_DATA_DIR": str(settings.data_dir),
        "EHCP_STALL_CHECK_S": "5",
        "EHCP_LOG_LEVEL": args.log_level,
    }
    log = open(tmp / "worker.log", "ab")  # noqa: SIM115 - kept open for the children

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    case_ids = [f"EHC-999-SOAK-{i:05d}" for i in range(args.referrals)]

    def produce() -> None:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        received = datetime.now(UTC) - timedelta(weeks=2)
        for case_id in case_ids:
            value, headers = referral_message(case_id, received, source="/bench")
            producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
            time.sleep(1 / args.rate)
        producer.flush()
        producer.close()

    t0 = time.monotonic()
    worker = start()
    time.sleep(8)
    thread = threading.Thread(target=produce)
    thread.start()
    gap = (args.referrals / args.rate) / (args.restarts + 1)
    for _ in range(args.restarts):
        time.sleep(gap)
        worker.terminate()
        worker.wait(60)
        worker = start()
    thread.join()

    def processed() -> set[str]:
        return {r.key.decode() for r in read_partitions(settings, CASE_STATUS.name) if r.key}

    deadline = time.monotonic() + args.settle
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = processed()
        if len(seen) >= args.referrals:
            break
        time.sleep(2)
    worker.terminate()
    worker.wait(60)
    where = {
        r.key.decode(): (r.partition, r.offset)
        for r in read_partitions(settings, REFERRALS.name)
        if r.key
    }
    missing_at = sorted(where[c] for c in set(case_ids) - seen if c in where)
    broker.stop()
    text = (tmp / "worker.log").read_text(errors="replace")
    result = {
        "when": datetime.now(UTC).isoformat(),
        "referrals_produced": args.referrals,
        "cases_with_status": len(seen & set(case_ids)),
        "missing": len(set(case_ids) - seen),
        "worker_restarts_by_bench": args.restarts,
        "guard_skipped_offsets": text.count("kafka_offsets_skipped"),
        "guard_stalled_partition": text.count("kafka_partition_stalled"),
        "supervisor_restarts": text.count("worker_restarting"),
        "missing_at_partition_offset": missing_at[:20],
        "seconds": round(time.monotonic() - t0, 1),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "restart_soak.json").write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    print(f"{'measure':<{width}}  value")
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    print(
        f"ratio processed / ceiling: {result['cases_with_status']}/{args.referrals} "
        f"= {result['cases_with_status'] / args.referrals:.3f}"
    )
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
