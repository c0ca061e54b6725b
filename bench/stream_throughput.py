"""Stream worker speed: input events/s against a raw Kafka pipeline in the same run, and more.

Starts its own Kafka broker (free ports, temporary folder), applies the topic catalogue and puts
``--cases`` synthetic cases on the input topics, each as a referral (received 16 weeks ago), then
a decision to assess and a draft plan (casework events recorded by the case's LA): three inputs a
case, produced case by case in rounds so the cases grow as a live system's do. Then, in order:

1. **raw**: one aiokafka consumer reads the same input topics from the start, decodes every value
   with the project's codec (fastavro) and produces it to a sink topic (acks=all, a batch's sends
   awaited together): the ceiling a Kafka-bound Python process reaches on this machine now;
2. **worker**: one supervised ``ehcp worker`` (INFO logs, as in production) processes the same
   inputs; input events/s (counted as the ``ehcp.case-status.v1`` records it writes: one per
   input), CPU seconds of its Faust process per input event, and its RSS growth per open case;
3. **restart**: the worker is stopped (SIGTERM), ``--restart-cases`` new referrals are put on
   the topic and a worker is started again: seconds from the start to its first new case
   status, and its alert timer's first run (``due_index_rebuilt`` in its log: cases indexed, and
   how long the run held the event loop); the timer runs every 2 s in this phase only;
4. **scale-out**: for each count in ``--scale-workers`` (2,4), that many workers form the group
   (each its own supervisor and worker slot), ``--scale-cases`` more cases arrive, and one
   worker's Faust process is killed with SIGKILL half-way through: input events/s of the group,
   and that nothing was lost.

Every case is then checked against the pure case stage run in this process over the same
inputs: its last case status (stage, advice, open alerts) and its open alerts on
``ehcp.alerts.v1`` must match, and no alert may be raised twice under different ids (a repeat
of the same id is an at-least-once duplicate and only counted). The timer of phases 2 and 4 is
off (an hour), so only phase 3 ticks; a case status as of a later day than its last input is
compared with the stage's answer after a tick on that day.

    .venv/bin/python bench/stream_throughput.py [--cases 1000] [--scale-cases 1000]
        [--restart-cases 100] [--label TEXT]

Prints a table and writes bench/results/stream_throughput.json. The machine is shared: compare
the ratios measured in one run, not timings across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehcp.contract.avro import default_codec  # noqa: E402
from ehcp.contract.cloudevents import CloudEvent, event_type  # noqa: E402
from ehcp.contract.records import ADVICE_REQUESTED, CASE_TICK  # noqa: E402
from ehcp.contract.topics import (  # noqa: E402
    ADVICE_REQUESTS,
    ALERTS,
    CASE_STATUS,
    CASEWORK_EVENTS,
    REFERRALS,
    TopicSpec,
    catalogue,
)
from ehcp.identifiers import LA_CODE_SYSTEM  # noqa: E402
from ehcp.kafka_io.kafka_clients import apply_topics  # noqa: E402
from ehcp.kafka_io.readers import read_partitions  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import referral_message, start_local_broker  # noqa: E402

SINK = "bench.raw-sink.v1"
CODEC = default_codec()
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
INPUT_TOPICS = (REFERRALS.name, CASEWORK_EVENTS.name)


# ---------------------------------------------------------------------------------- inputs
def casework_message(case_id: str, kind: str, on: date, n: int) -> tuple[bytes, list[Any], dict]:
    """A ``CaseworkEventRecorded`` recorded by the case's LA (999), as bytes, headers, record."""
    event_id = f"{case_id}-{kind}-{n}"
    event = {"type": kind, "event_id": event_id, "case_id": case_id, "occurred_on": on.isoformat()}
    record = {
        "event_id": event_id,
        "case_id": case_id,
        "event_type": kind,
        "occurred_on": on,
        "recorded_by": {"system": LA_CODE_SYSTEM, "value": "999"},
        "event_json": json.dumps(event),
    }
    schema = CASEWORK_EVENTS.value_schema or ""
    ce = CloudEvent(id=event_id, source="/bench", type=event_type(schema),
                    time=datetime.now(UTC), subject=case_id)
    return CODEC.encode(schema, record), ce.headers(), record


def case_inputs(case_id: str, received: datetime) -> list[tuple[TopicSpec, bytes, list[Any]]]:
    """The three inputs of one case, in order."""
    value, headers = referral_message(case_id, received, source="/bench")
    day = received.date()
    decision = casework_message(case_id, "DecisionToAssessMade", day + timedelta(weeks=4), 1)
    draft = casework_message(case_id, "DraftPlanIssued", day + timedelta(weeks=14), 2)
    return [(REFERRALS, value, headers), (CASEWORK_EVENTS, *decision[:2]),
            (CASEWORK_EVENTS, *draft[:2])]


def produce(bootstrap: str, case_ids: list[str], received: datetime,
            inputs: dict[str, list[tuple[str, bytes]]]) -> int:
    """Put every case's inputs on their topics, round by round (referrals first); returns count."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                             max_in_flight_requests_per_connection=1)
    per_case = {c: case_inputs(c, received) for c in case_ids}
    count = 0
    for round_ in range(3):
        for case_id in case_ids:
            spec, value, headers = per_case[case_id][round_]
            producer.send(spec.name, value, key=case_id.encode(), headers=headers)
            inputs[case_id].append((spec.name, value))
            count += 1
    producer.flush()
    producer.close()
    return count


# ------------------------------------------------------------------------------------- raw
async def raw_pipeline(bootstrap: str, total: int) -> dict[str, float]:
    """Consume the input topics, decode each value, produce it to the sink; events/s and CPU."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    codec = default_codec()
    consumer = AIOKafkaConsumer(*INPUT_TOPICS, bootstrap_servers=bootstrap,
                                group_id=f"bench-raw-{secrets.token_hex(4)}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    done = 0
    t0 = c0 = None
    try:
        while done < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            if t0 is None and batch:
                t0, c0 = time.monotonic(), time.process_time()
            futures = []
            for records in batch.values():
                for r in records:
                    codec.decode(r.value)
                    futures.append(await producer.send(SINK, r.value, key=r.key,
                                                       headers=list(r.headers)))
                    done += 1
            await asyncio.gather(*futures)
            if batch:
                await consumer.commit()
        t1, c1 = time.monotonic(), time.process_time()
    finally:
        await consumer.stop()
        await producer.stop()
    if t0 is None or c0 is None:
        raise RuntimeError("the raw pipeline read nothing")
    return {"events": done, "seconds": round(t1 - t0, 2), "events_per_s": done / (t1 - t0),
            "cpu_ms_per_event": 1000 * (c1 - c0) / done}


# ---------------------------------------------------------------------------------- worker
def children(pid: int) -> list[int]:
    """Child pids of ``pid`` (from /proc)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def cpu_rss(pid: int) -> tuple[float, int, float]:
    """CPU seconds (user+system), resident bytes and system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return cpu, rss, int(fields[12]) / CLK_TCK


class Progress:
    """Counts records on a topic by polling its end offsets (cheap, no fetching)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        parts = self.consumer.partitions_for_topic(topic) or set()
        self.tps = [TopicPartition(topic, p) for p in parts]

    def count(self) -> int:
        """Records on the topic now."""
        return sum(self.consumer.end_offsets(self.tps).values())

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()


class Workers:
    """Supervised ``ehcp worker`` processes sharing one log."""

    def __init__(self, env: dict[str, str], log: Path, repo: Path = REPO) -> None:
        self.env, self.log, self.repo = env, log, repo
        self.procs: list[subprocess.Popen[bytes]] = []
        self.profiled: list[subprocess.Popen[bytes]] = []
        self.unsupervised: list[int] = []  # indexes in procs of workers run without supervisor

    def start(self, profile: str = "", **extra: str) -> subprocess.Popen[bytes]:
        """Start a supervised worker (or, to ``profile``, py-spy over an unsupervised one)."""
        command = [sys.executable, "-m", "cli.main", "worker"]
        if profile.endswith(".pstats"):  # cProfile on CPU time, the main thread only
            code = ("import atexit, cProfile, runpy, sys, time\n"
                    "p = cProfile.Profile(time.process_time)\n"
                    f"atexit.register(lambda: p.dump_stats({profile!r}))\n"
                    "sys.argv = ['cli.main', 'worker', '--no-supervise']\n"
                    "p.enable()\n"
                    "runpy.run_module('cli.main', run_name='__main__')\n")
            command = [sys.executable, "-c", code]
            profile = ""
            self.unsupervised.append(len(self.procs))
        if profile:
            spy = str(Path(sys.executable).with_name("py-spy"))
            command = [spy, "record", "--nonblocking", "--format", "raw", "-o", profile, "--",
                       *command, "--no-supervise"]
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(command,
                                    env={**self.env, **extra}, cwd=self.repo, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        if profile:
            self.profiled.append(proc)
        return proc

    def faust_pid(self, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
        """The Faust child of a supervisor (waits for it to exist)."""
        if self.procs.index(proc) in self.unsupervised:
            return proc.pid
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            kids = children(proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.1)
        raise RuntimeError("the supervisor started no worker")

    def stop_all(self) -> None:
        """SIGTERM every supervisor (a profiled worker itself, so py-spy writes) and wait."""
        for proc in self.procs:
            if proc.poll() is None:
                if proc in self.profiled:
                    for child in children(proc.pid):
                        os.kill(child, signal.SIGTERM)
                else:
                    proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs, self.profiled, self.unsupervised = [], [], []


def wait_for(progress: Progress, target: int, give_up_s: float,
             sample: Any = None) -> list[tuple[float, int, Any]]:
    """Poll until the topic holds ``target`` records; samples of (time, count, sample())."""
    samples = []
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline:
        n = progress.count()
        samples.append((time.monotonic(), n, sample() if sample else None))
        if n >= target:
            break
        time.sleep(0.25)
    return samples


def rate(samples: list[tuple[float, int, Any]], base: int, target: int, inputs: int
         ) -> dict[str, Any]:
    """Input events/s (and CPU, RSS if sampled) from the first progress to ``target`` statuses.

    ``inputs`` is how many input events the bench put on the topics for this span; the stage's
    own advice requests (it reads them back) are work it does for those inputs, not inputs.
    """
    first = next((s for s in samples if s[1] > base), None)
    last = samples[-1]
    if first is None or last[1] < target:
        return {"complete": False, "processed": last[1] - base}
    start = max((s for s in samples if s[1] == base), key=lambda s: s[0], default=first)
    events = round(inputs * (last[1] - start[1]) / (target - base))
    seconds = last[0] - start[0]
    out: dict[str, Any] = {"complete": True, "events": events, "seconds": round(seconds, 2),
                           "events_per_s": events / seconds if seconds > 0 else None}
    if seconds <= 0:
        out["events_per_s"] = None
        return out
    if start[2] is not None:
        (cpu0, rss0, sys0), (cpu1, rss1, sys1) = start[2], last[2]
        out["cpu_ms_per_event"] = 1000 * (cpu1 - cpu0) / events
        out["system_cpu_share"] = (sys1 - sys0) / (cpu1 - cpu0) if cpu1 > cpu0 else None
        out["cpu_share_of_a_core"] = (cpu1 - cpu0) / seconds if seconds else None
        out["rss_start_mib"] = rss0 / 2**20
        out["rss_end_mib"] = rss1 / 2**20
    return out


# ---------------------------------------------------------------------------------- checks
def statuses_due(inputs: dict[str, list[tuple[str, bytes]]], key: bytes, repo: Path) -> int:
    """How many case statuses the workers of ``repo`` write for these inputs.

    Counted with that checkout's own case stage (in a subprocess importing from it): another
    version may write a different number of statuses per input (before the referral's own
    advice requests were folded in, each request read back wrote one), and the rates are
    measured up to the last of them.
    """
    if repo.resolve() == REPO.resolve():
        return expected_states(inputs, key)[1]
    import pickle

    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump((dict(inputs), key), f)
    code = ("import pickle, sys\n"
            f"sys.path[:0] = [{str(repo)!r}, {str(REPO / 'bench')!r}]\n"
            "import streams.stages.cases, tests.support\n"  # from repo, before st adds REPO
            "import stream_throughput as st\n"
            f"inputs, key = pickle.load(open({f.name!r}, 'rb'))\n"
            "print(st.expected_states(inputs, key)[1])\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True,
                             capture_output=True, text=True, env={**os.environ,
                                                                   "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        os.unlink(f.name)
    return int(out.stdout.strip().splitlines()[-1])


def expected_states(inputs: dict[str, list[tuple[str, bytes]]], key: bytes
                    ) -> tuple[dict[str, dict[str, Any]], int]:
    """Each case as the pure case stage leaves it after its inputs, in this process.

    The case stage reads the advice requests it sends, so those are folded in too, as the
    worker does; also returns how many case statuses the stage sends for all of it.
    """
    from streams.stages.cases import CaseProcessor

    codec = default_codec()
    processor = CaseProcessor.default(key)
    out = {}
    statuses = 0
    for case_id, items in inputs.items():
        state = None
        queue: list[tuple[str, dict[str, Any]]] = [codec.decode(v) for _t, v in items]
        while queue:
            name, record = queue.pop(0)
            outcome = processor.on_event(state, case_id, name, record)
            state = outcome.state
            for emit in outcome.outputs:
                if emit.topic == ADVICE_REQUESTS:
                    queue.append((ADVICE_REQUESTED, dict(emit.record)))
                statuses += emit.topic == CASE_STATUS
        out[case_id] = state  # type: ignore[assignment]
    return out, statuses


def check(settings: Settings, inputs: dict[str, list[tuple[str, bytes]]],
          key: bytes) -> dict[str, Any]:
    """Compare every case's last status and open alerts on Kafka with the pure stage's."""
    from streams.stages.case_outputs import status_record
    from streams.stages.cases import CaseProcessor

    codec = default_codec()
    processor = CaseProcessor.default(key)
    expected, _ = expected_states(inputs, key)
    last_status: dict[str, dict[str, Any]] = {}
    status_records = 0
    for r in read_partitions(settings, CASE_STATUS.name):
        if r.key and r.value:
            last_status[r.key.decode()] = codec.decode(r.value)[1]
            status_records += 1
    open_alerts: dict[str, dict[str, str]] = defaultdict(dict)  # case -> alert id -> event id
    repeated, duplicates = [], 0
    for r in read_partitions(settings, ALERTS.name):
        if not (r.key and r.value):
            continue
        alert = codec.decode(r.value)[1]
        opened = open_alerts[alert["case_id"]]
        if alert["status"] == "RAISED":
            held = opened.get(alert["alert_id"])
            if held == alert["event_id"]:
                duplicates += 1  # the same transition delivered again (at least once)
            elif held is not None:
                repeated.append(alert["alert_id"])  # raised again while open, under a new id
            opened[alert["alert_id"]] = alert["event_id"]
        else:
            opened.pop(alert["alert_id"], None)
    wrong: list[str] = []
    for case_id, state in expected.items():
        status = last_status.get(case_id)
        if status is None:
            wrong.append(f"{case_id}: no case status")
            continue
        if status["as_of"].isoformat() != state["as_of"]:  # ticked: the stage after that tick
            tick = {"event_id": f"bench-tick-{status['as_of']}", "case_id": case_id,
                    "as_of": status["as_of"]}
            state = processor.on_event(state, case_id, CASE_TICK, tick).state
        assessment = processor.assess(state)
        if assessment is None:
            raise RuntimeError(f"{case_id} has no casework events")
        want = status_record(state, assessment).record
        if status != want:
            wrong.append(f"{case_id}: status differs")
        elif set(open_alerts.get(case_id, {})) != set(state["alerts"]):
            wrong.append(f"{case_id}: open alerts differ")
    return {"cases_checked": len(expected), "cases_wrong": len(wrong), "wrong": wrong[:10],
            "alerts_repeated": len(repeated), "alert_duplicates": duplicates,
            "case_status_records": status_records}


# ------------------------------------------------------------------------------------ main
def log_events(path: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of one event name."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if f'"{event}"' in line:
            try:
                out.append(json.loads(line[line.index("{"):]))
            except ValueError:
                continue
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--scale-cases", type=int, default=1000)
    parser.add_argument("--restart-cases", type=int, default=100)
    parser.add_argument("--scale-workers", default="2,4",
                        help="worker counts of the scale-out phase, each run in turn with "
                             "--scale-cases new cases (one worker of each is killed)")
    parser.add_argument("--give-up", type=float, default=900.0, help="max seconds per phase")
    parser.add_argument("--label", default="", help="free text stored with the results")
    parser.add_argument("--out", default="stream_throughput.json",
                        help="file name under bench/results")
    parser.add_argument("--worker-repo", type=Path, default=REPO,
                        help="run the workers from another checkout (e.g. the commit before a "
                             "change), with this one's bench and checks")
    parser.add_argument("--store", default="memory://",
                        help="the workers' table store (EHCP_STORE), e.g. rocksdb:// with the "
                             "rocksdb extra installed")
    parser.add_argument("--stall-check-s", default="15",
                        help="EHCP_STALL_CHECK_S for the workers (before commit 'Stall watchdog' "
                             "its false alarm under this backlog hung the worker: use 600 there)")
    parser.add_argument("--profile", default="",
                        help="py-spy (pip install py-spy) profile of the one-worker phase to this "
                             "file, collapsed stacks; a name ending .pstats: cProfile on CPU time "
                             "(main thread) instead")
    args = parser.parse_args()

    t_begin = time.monotonic()
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the raw group's joining chatter
    tmp = Path(tempfile.mkdtemp(prefix="ehcp-stream-bench-"))
    broker = start_local_broker(tmp / "kafka")
    key = secrets.token_hex(32)
    settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key=key,
                        app_id=f"ehcp-bench-{secrets.token_hex(3)}", data_dir=tmp / "data")
    apply_topics(settings, catalogue(settings.app_id))
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(SINK, settings.partitions, 1)])
    admin.close()
    env = {**os.environ, "EHCP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "EHCP_PSEUDONYM_KEY": key, "EHCP_APP_ID": settings.app_id,
           "EHCP_DATA_DIR": str(settings.data_dir), "EHCP_LOG_LEVEL": "INFO",
           "EHCP_ALERT_TICK_S": "3600", "EHCP_STORE": args.store,
           "EHCP_STALL_CHECK_S": args.stall_check_s}
    log_path = tmp / "worker.log"
    if args.worker_repo != REPO:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the other checkout as it is
    workers = Workers(env, log_path, args.worker_repo.resolve())
    received = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(
        weeks=16)
    inputs: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "label": args.label,
                              "worker_repo": str(args.worker_repo), "store": args.store,
                              "load_average_start": os.getloadavg(),
                              "cores": os.cpu_count(), "partitions": settings.partitions}
    progress = Progress(settings.kafka_bootstrap, CASE_STATUS.name)
    try:
        ids = [f"EHC-999-TP-{i:06d}" for i in range(args.cases)]
        total = produce(settings.kafka_bootstrap, ids, received, inputs)
        statuses = statuses_due(inputs, bytes.fromhex(key), args.worker_repo)
        result["inputs"] = total
        print(f"{total} inputs for {args.cases} cases produced ({statuses} statuses due)",
              flush=True)

        raw = asyncio.run(raw_pipeline(settings.kafka_bootstrap, total))
        result["raw"] = raw
        print(f"raw: {raw['events_per_s']:.0f} events/s", flush=True)

        # 2. one worker over the same inputs
        sup = workers.start(profile=args.profile)
        pid = workers.faust_pid(sup)
        samples = wait_for(progress, statuses, args.give_up, lambda: cpu_rss(pid))
        one = rate(samples, 0, statuses, total)
        if one.get("complete"):
            one["ratio_to_raw"] = one["events_per_s"] / raw["events_per_s"]
            one["rss_per_open_case_kib"] = (
                (one["rss_end_mib"] - one["rss_start_mib"]) * 1024 / args.cases)
        result["worker"] = one
        print(f"worker: {one}", flush=True)

        # 3. restart with the cases in the table
        workers.stop_all()
        base = progress.count()
        more = [f"EHC-999-TR-{i:06d}" for i in range(args.restart_cases)]
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        for case_id in more:
            value, headers = referral_message(case_id, received, source="/bench")
            producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers)
            inputs[case_id].append((REFERRALS.name, value))
        producer.flush()
        producer.close()
        restart_statuses = statuses_due({c: inputs[c] for c in more}, bytes.fromhex(key),
                                        args.worker_repo)
        rebuilt_before = len(log_events(log_path, "due_index_rebuilt"))
        t_start = time.monotonic()
        workers.start(EHCP_ALERT_TICK_S="2")
        samples = wait_for(progress, base + 1, args.give_up)
        restart: dict[str, Any] = {"open_cases": args.cases}
        if samples[-1][1] > base:
            restart["seconds_until_processing"] = round(samples[-1][0] - t_start, 2)
        wait_for(progress, base + restart_statuses, args.give_up)
        deadline = time.monotonic() + 60
        while len(log_events(log_path, "due_index_rebuilt")) <= rebuilt_before:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        runs = log_events(log_path, "due_index_rebuilt")[rebuilt_before:]
        if runs:
            restart["first_timer_run_cases"] = runs[0].get("cases")
            restart["first_timer_run_seconds"] = runs[0].get("seconds")
        time.sleep(5)  # let the ticks of the first run land
        result["restart"] = restart
        print(f"restart: {restart}", flush=True)
        workers.stop_all()

        # 4. N workers in one group (each count in turn); one killed with SIGKILL half-way
        result["scale_out"] = []
        for n_workers in (int(n) for n in str(args.scale_workers).split(",")):
            restarts_before = log_path.read_text(errors="replace").count("worker_restarting")
            base = progress.count()
            sups = [workers.start() for _ in range(n_workers)]
            pid_b = workers.faust_pid(sups[-1])
            wait_for(progress, base + 1, 5)  # nothing to do yet; all joining
            scale_ids = [f"EHC-999-TS{n_workers}-{i:06d}" for i in range(args.scale_cases)]
            time.sleep(10 + 5 * n_workers)  # let them join before the load arrives
            base = progress.count()
            thread_inputs: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
            scale_inputs = produce(settings.kafka_bootstrap, scale_ids, received, thread_inputs)
            scale_statuses = statuses_due(thread_inputs, bytes.fromhex(key), args.worker_repo)
            for case_id, items in thread_inputs.items():
                inputs[case_id].extend(items)
            half = base + scale_statuses // 2
            before_kill = wait_for(progress, half, args.give_up)
            killed_at = time.monotonic()
            os.kill(pid_b, signal.SIGKILL)
            after = wait_for(progress, base + scale_statuses, args.give_up)
            while True:  # then until quiet: a replay after the kill repeats some statuses
                time.sleep(5)
                if progress.count() == after[-1][1]:
                    break
                after = wait_for(progress, base + scale_statuses, args.give_up)
            scale = rate(before_kill, base, half, scale_inputs // 2)
            scale["workers"] = n_workers
            scale["killed_after_statuses"] = before_kill[-1][1] - base
            scale["seconds_from_kill_to_all_processed"] = round(after[-1][0] - killed_at, 2)
            scale["supervisor_restarts"] = log_path.read_text(errors="replace").count(
                "worker_restarting") - restarts_before
            if scale.get("events_per_s"):  # None: the half was reached within one sample
                scale["ratio_to_raw"] = scale["events_per_s"] / raw["events_per_s"]
            result["scale_out"].append(scale)
            print(f"scale-out: {scale}", flush=True)
            time.sleep(3)
            workers.stop_all()

        result["check"] = check(settings, inputs, bytes.fromhex(key))
    finally:
        progress.close()
        workers.stop_all()
        broker.stop()
    result["load_average_end"] = os.getloadavg()
    result["seconds"] = round(time.monotonic() - t_begin, 1)
    result["worker_log"] = str(log_path)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result)
    chk = result["check"]
    ok = chk["cases_wrong"] == 0 and chk["alerts_repeated"] == 0
    return 0 if ok and result["worker"].get("complete") else 1


def print_table(result: dict[str, Any]) -> None:
    """The issue's table: each row against its ceiling from the same run."""
    raw, one = result["raw"], result["worker"]
    rows = [("raw consume -> decode -> produce, events/s", f"{raw['events_per_s']:.0f}", ""),
            ("worker input events/s", f"{one.get('events_per_s', 0):.0f}",
             f"ratio_to_raw {one.get('ratio_to_raw', 0):.3f}"),
            ("worker CPU ms per input event", f"{one.get('cpu_ms_per_event', 0):.2f}",
             f"raw {raw['cpu_ms_per_event']:.2f}"),
            ("worker RSS growth per open case, KiB",
             f"{one.get('rss_per_open_case_kib', 0):.1f}",
             f"RSS {one.get('rss_end_mib', 0):.0f} MiB"),
            ("restart until processing, s",
             str(result["restart"].get("seconds_until_processing")),
             f"{result['restart']['open_cases']} open cases"),
            ("first alert-timer run after restart, s",
             str(result["restart"].get("first_timer_run_seconds")),
             f"{result['restart'].get('first_timer_run_cases')} cases indexed")]
    for scale in result["scale_out"]:
        rows.append((f"{scale['workers']} workers, input events/s (before the kill)",
                     f"{scale.get('events_per_s') or 0:.0f}",
                     f"ratio_to_raw {scale.get('ratio_to_raw', 0):.3f}"))
        rows.append((f"kill -9 of one of {scale['workers']}: seconds to all processed",
                     str(scale.get("seconds_from_kill_to_all_processed")),
                     f"supervisor restarts {scale.get('supervisor_restarts')}"))
    chk = result["check"]
    rows.append(("cases in the wrong state / checked",
                 f"{chk['cases_wrong']}/{chk['cases_checked']}",
                 f"alerts repeated {chk['alerts_repeated']}, "
                 f"duplicate deliveries {chk['alert_duplicates']}"))
    width = max(len(r[0]) for r in rows)
    for what, value, note in rows:
        print(f"{what:<{width}}  {value:>10}  {note}")
    print(f"load average {result['load_average_start']} -> {result['load_average_end']}, "
          f"{result['seconds']} s")


if __name__ == "__main__":
    raise SystemExit(main())
