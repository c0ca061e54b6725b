"""Worker restart and memory with many open cases, without pushing every input through a worker.

Pushing 100,000 cases' inputs through one worker takes hours on a shared 2-core machine, so this
writes the ``cases`` changelog directly: one case run through the pure case stage (a referral,
its advice requests read back, a decision to assess and a draft plan, as in
``bench/stream_throughput.py``), its stored JSON copied under ``--cases`` case ids, each on the
changelog partition its case id's inputs use. Then, for the ``--store`` given:

1. **baseline**: a worker of another app id (an empty table) starts; one referral is sent and
   its case status awaited; the worker's RSS then;
2. **first start** over the full changelog: seconds from the start until a new referral's case
   status is written (the table recovered and processing), its alert timer's first rebuild
   (``due_index_rebuilt``: cases indexed, seconds), RSS, and RSS growth per open case against
   the baseline;
3. **restart** (SIGTERM, start again): the same seconds again (with ``rocksdb://`` the table is
   read from the local store instead of the changelog).

The copies share one case's content with other ids in its keys, so they measure memory and
recovery, not casework. Workers run unsupervised (``--no-supervise``), so RSS is the one process.

    .venv/bin/python bench/stream_restart_scale.py [--cases 100000] [--store memory://]

Prints the figures and writes ``bench/results/stream_restart_scale[-rocksdb].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from stream_throughput import Progress, case_inputs, cpu_rss, log_events  # noqa: E402

from ehcp.contract.avro import default_codec  # noqa: E402
from ehcp.contract.records import ADVICE_REQUESTED  # noqa: E402
from ehcp.contract.topics import ADVICE_REQUESTS, CASE_STATUS, REFERRALS, catalogue  # noqa: E402
from ehcp.kafka_io.kafka_clients import apply_topics  # noqa: E402
from ehcp.kafka_io.readers import partition_for  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import referral_message, start_local_broker  # noqa: E402

TEMPLATE_ID = "EHC-999-TPL-000000"


def template_state(key: bytes, received: datetime) -> str:
    """One case's stored JSON after its inputs, as the worker stores it."""
    from streams.stages.cases import CaseProcessor

    codec = default_codec()
    processor = CaseProcessor.default(key)
    state = None
    queue = [codec.decode(value) for _spec, value, _h in case_inputs(TEMPLATE_ID, received)]
    while queue:
        name, record = queue.pop(0)
        outcome = processor.on_event(state, TEMPLATE_ID, name, record)
        state = outcome.state
        queue += [(ADVICE_REQUESTED, dict(e.record)) for e in outcome.outputs
                  if e.topic == ADVICE_REQUESTS]
    if state is None:
        raise RuntimeError("the template case has no state")
    if (WORKER_REPO[0] / "streams" / "stages" / "case_store.py").read_text().count("def dump("):
        from streams.stages.case_store import dump  # as this worker writes its cases

        return dump(state).decode()
    return json.dumps(state)  # as Faust's JSON serializer wrote them before


def fill_changelog(settings: Settings, cases: int, template: str) -> float:
    """Write ``cases`` copies of the template to the cases changelog; returns seconds taken."""
    from kafka import KafkaProducer

    t0 = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1, linger_ms=50,
                             batch_size=1 << 20, compression_type=None)
    topic = f"{settings.app_id}-cases-changelog"
    for i in range(cases):
        case_id = f"EHC-999-RS-{i:07d}"
        value = template.replace(TEMPLATE_ID, case_id).encode()
        producer.send(topic, value, key=json.dumps(case_id).encode(),
                      partition=partition_for(case_id.encode(), settings.partitions))
    producer.flush()
    producer.close()
    return time.monotonic() - t0


WORKER_REPO = [REPO]  # set from --worker-repo


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """An unsupervised worker logging to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--no-supervise"],
                                env=env, cwd=WORKER_REPO[0], stdout=out,
                                stderr=subprocess.STDOUT)


def until_processing(settings: Settings, env: dict[str, str], log: Path, label: str,
                     give_up_s: float) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start a worker, send a new referral at once, wait for its case status."""
    progress = Progress(settings.kafka_bootstrap, CASE_STATUS.name)
    base = progress.count()
    log.touch()
    rebuilt_before = len(log_events(log, "due_index_rebuilt"))
    t0 = time.monotonic()
    proc = start_worker(env, log)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    case_id = f"EHC-999-NEW-{label}"
    value, headers = referral_message(case_id, datetime.now(UTC) - timedelta(days=1),
                                      source="/bench")
    producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
    producer.flush()
    producer.close()
    out: dict[str, Any] = {}
    deadline = t0 + give_up_s
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.count() > base:
            out["seconds_until_processing"] = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.25)
    progress.close()
    timer_deadline = time.monotonic() + 60
    while time.monotonic() < timer_deadline:
        runs = log_events(log, "due_index_rebuilt")[rebuilt_before:]
        if runs:
            out["first_timer_run_cases"] = runs[0].get("cases")
            out["first_timer_run_seconds"] = runs[0].get("seconds")
            break
        time.sleep(0.5)
    time.sleep(2)
    if proc.poll() is None:
        out["rss_mib"] = round(cpu_rss(proc.pid)[1] / 2**20, 1)
    return proc, out


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait (kill after 90 s)."""
    proc.terminate()
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--store", default="memory://")
    parser.add_argument("--give-up", type=float, default=1800.0)
    parser.add_argument("--worker-repo", type=Path, default=REPO,
                        help="run the workers from another checkout (before/after)")
    parser.add_argument("--out", default="", help="file name under bench/results")
    args = parser.parse_args()
    WORKER_REPO[0] = args.worker_repo.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="ehcp-restart-scale-"))
    broker = start_local_broker(tmp / "kafka")
    key = secrets.token_hex(32)
    settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key=key,
                        app_id=f"ehcp-rs-{secrets.token_hex(3)}", data_dir=tmp / "data")
    empty = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key=key,
                     app_id=f"ehcp-rs-empty-{secrets.token_hex(3)}", data_dir=tmp / "data-empty")
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "cases": args.cases,
                              "store": args.store, "cores": os.cpu_count(),
                              "worker_repo": str(args.worker_repo),
                              "partitions": settings.partitions,
                              "load_average_start": os.getloadavg()}
    try:
        apply_topics(settings, catalogue(settings.app_id))
        apply_topics(empty, catalogue(empty.app_id))
        received = datetime.now(UTC).replace(hour=10, minute=0, second=0,
                                             microsecond=0) - timedelta(weeks=16)
        template = template_state(bytes.fromhex(key), received)
        result["stored_case_bytes"] = len(template)
        result["changelog_fill_seconds"] = round(
            fill_changelog(settings, args.cases, template), 1)
        print(f"changelog: {args.cases} cases of {len(template)} bytes", flush=True)

        def env_of(s: Settings) -> dict[str, str]:
            return {**os.environ, "EHCP_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
                    "EHCP_PSEUDONYM_KEY": key, "EHCP_APP_ID": s.app_id,
                    "EHCP_DATA_DIR": str(s.data_dir), "EHCP_LOG_LEVEL": "INFO",
                    "EHCP_ALERT_TICK_S": "2", "EHCP_STORE": args.store,
                    "EHCP_STALL_CHECK_S": "600"}

        proc, base = until_processing(empty, env_of(empty), tmp / "empty.log", "empty",
                                      args.give_up)
        stop(proc)
        result["baseline"] = base
        print(f"baseline: {base}", flush=True)
        proc, first = until_processing(settings, env_of(settings), tmp / "worker.log", "first",
                                       args.give_up)
        stop(proc)
        if "rss_mib" in first and "rss_mib" in base:
            first["rss_per_open_case_kib"] = round(
                (first["rss_mib"] - base["rss_mib"]) * 1024 / args.cases, 2)
        result["first_start"] = first
        print(f"first start: {first}", flush=True)
        proc, again = until_processing(settings, env_of(settings), tmp / "worker.log", "again",
                                       args.give_up)
        stop(proc)
        result["restart"] = again
        print(f"restart: {again}", flush=True)
    finally:
        broker.stop()
    result["load_average_end"] = os.getloadavg()
    result["worker_log"] = str(tmp / "worker.log")
    name = "stream_restart_scale" + ("-rocksdb" if args.store.startswith("rocksdb") else "")
    (REPO / "bench" / "results" / (args.out or f"{name}.json")).write_text(
        json.dumps(result, indent=2, default=str) + "\n")
    return 0 if "seconds_until_processing" in result["restart"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
