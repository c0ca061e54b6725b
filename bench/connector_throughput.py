"""Throughput: the health connector's advice intake (POST /fhir/DocumentReference), real broker.

Starts its own Kafka broker (free ports, temporary folder) and applies the topic catalogue. Then,
for each document size (the demo's small text, and a ``--doc-kb`` KiB inline document) and each
client mode (one sequential client, then ``--concurrency`` concurrent clients), it runs N
submissions three ways:

- ``ceiling``: ``KafkaPublisher.publish`` of the same AdviceSubmitted events (acks=all), built
  with the connector's own functions: the cost of durability alone, measured in the same run;
- ``fhir-create``: ``POST /fhir/DocumentReference`` over HTTP (httpx) to the production-style
  app (``create_app`` with ``KafkaPublisher``, ``FileDocumentStore``, ``FileSubmissionLedger``,
  one health credential, one Task per child) served by uvicorn on a free port in a thread;
- ``fhir-retry``: the same N POSTs again (idempotent repeats answered from the ledger, 200).

Ratios are against the ``ceiling`` of the same block (the machine is shared and noisy):
throughput ratio = scenario/ceiling submissions per second, p50 ratio = scenario/ceiling p50.
Correctness is part of the run: every create answered 201 and every repeat 200 with the same
resource, and the contributions topic holds every contribution id of the run exactly once.
Each submission's document is unique (a content-addressed store writes identical bytes once).

    .venv/bin/python bench/connector_throughput.py [--submissions 300] [--concurrency 8]
        [--doc-kb 16] [--children 300] [--warmup 10] [--log-level WARNING]

Prints a table and writes bench/results/connector_throughput.json. Exit status 1 if any
correctness check failed. Synthetic data only; NHS numbers are never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import structlog  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from connectors.app import Ports, create_app  # noqa: E402
from connectors.auth import InMemoryCredentialStore, new_credential  # noqa: E402
from connectors.docstore import FileDocumentStore  # noqa: E402
from connectors.fhir import service as fhir_service  # noqa: E402
from connectors.fhir.advice import (  # noqa: E402
    advice_submitted_event,
    advice_submitted_record,
    derived_ids,
    read_advice,
)
from connectors.fhir.ports import InMemoryTaskStore  # noqa: E402
from connectors.kafka_publisher import KafkaPublisher  # noqa: E402
from connectors.ledger import FileSubmissionLedger  # noqa: E402
from connectors.ports import DocumentClaim, PublishedEvent  # noqa: E402
from ehcp import demo  # noqa: E402
from ehcp.broker.local import KAFKA_VERSION, BrokerConfig, LocalBroker  # noqa: E402
from ehcp.contract.avro import default_codec  # noqa: E402
from ehcp.contract.topics import CONTRIBUTIONS, catalogue  # noqa: E402
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM  # noqa: E402
from ehcp.kafka_clients import apply_topics  # noqa: E402
from ehcp.logs import configure_logging  # noqa: E402
from ehcp.readers import read_partitions  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import free_ports, synthetic_nhs_number  # noqa: E402

ODS = demo.DEMO_HEALTH_ODS  # "ZZ901", the demo health body
SMALL_TEXT = b"Synthetic medical advice for the EHCP Exchange demo."
FHIR_JSON = "application/fhir+json"
SCENARIOS = ("ceiling", "fhir-create", "fhir-retry")


# --- test data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One advice DocumentReference, ready to send (JSON prepared outside the timing)."""

    contribution_id: str
    body: dict[str, Any]
    payload: bytes
    sha256: str


def advice_requested(index: int, nhs_number: str) -> dict[str, Any]:
    """An AdviceRequested record asking the demo health body about one child.

    The shape of ``tests/unit/connectors_fhir/support.py::advice_request``; the connector accepts
    advice naming only an NHS number from a body holding a Task for that child.
    """
    request_id = f"REQ-BENCH-{index:05d}"
    return {
        "event_id": f"evt-{request_id}",
        "request_id": request_id,
        "case_id": f"EHC-999-BNCH-{index:05d}",
        "advice_type": "MEDICAL",
        "regulation": "reg 6(1)(c)",
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": ODS},
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}],
        "sent_on": date(2025, 3, 3),
        "due_on": date(2025, 4, 14),
    }


def document(label: str, size: int | None) -> bytes:
    """A unique synthetic document: the demo's text, or ``size`` bytes of filler text."""
    head = SMALL_TEXT + f" [{label}]".encode()
    if size is None:
        return head
    line = b"Synthetic advice text for the connector benchmark; no personal data here.\n"
    filler = line * (size // len(line) + 1)
    return (head + b"\n" + filler)[:size]


def submissions(label: str, count: int, children: list[str], size: int | None,
                when: datetime) -> list[Submission]:
    """``count`` submissions for the children in turn, each with its own uuid and document."""
    made = []
    for i in range(count):
        uid = str(uuid.uuid4())
        body = demo.medical_advice(when, uid)
        body["subject"]["identifier"]["value"] = children[i % len(children)]
        content = document(f"{label}-{i}", size)
        body["content"][0]["attachment"]["data"] = base64.b64encode(content).decode()
        made.append(Submission(
            contribution_id=f"urn:uuid:{uid}", body=body,
            payload=json.dumps(body, separators=(",", ":")).encode(),
            sha256=hashlib.sha256(content).hexdigest(),
        ))
    return made


def ceiling_event(sub: Submission, settings: Settings, when: datetime) -> PublishedEvent:
    """The AdviceSubmitted event the connector publishes for ``sub`` (no case, no request)."""
    advice = read_advice(sub.body, max_document_bytes=settings.max_document_bytes,
                         document_url_hosts=(), now=when)
    content = base64.b64decode(sub.body["content"][0]["attachment"]["data"])
    claim = DocumentClaim(sha256=sub.sha256, size_bytes=len(content),
                          content_type=advice.content_type)
    _, event_id = derived_ids(ODS, advice.contribution_token)
    record = advice_submitted_record(advice, claim, agency_ods=ODS, event_id=event_id,
                                     submitted_at=advice.date or when, request_id=None,
                                     case_id=None)
    return advice_submitted_event(record, settings.pseudonym_key_bytes())


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one scenario run gave: wall time, per-submission latency and HTTP answers."""

    seconds: float
    latencies_s: list[float]
    statuses: Counter[int] = field(default_factory=Counter)
    locations: list[str | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Send = Callable[[int], Awaitable[tuple[int, str | None, str | None]]]


async def drive(count: int, clients: int,
                session: Callable[[], contextlib.AbstractAsyncContextManager[Send]]) -> Outcome:
    """Run submissions 0..count-1 through ``clients`` concurrent sessions pulling from one queue.

    A send returns (status, location, error text); the ceiling answers 0 for success.
    """
    latencies = [0.0] * count
    statuses: Counter[int] = Counter()
    locations: list[str | None] = [None] * count
    errors: list[str] = []
    queue = iter(range(count))

    async def client() -> None:
        async with session() as send:
            for i in queue:
                t0 = time.perf_counter()
                status, location, error = await send(i)
                latencies[i] = time.perf_counter() - t0
                statuses[status] += 1
                locations[i] = location
                if error is not None and len(errors) < 5:
                    errors.append(error)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Outcome(time.perf_counter() - t0, latencies, statuses, locations, errors)


def publisher_session(publisher: KafkaPublisher, events: list[PublishedEvent]) -> Callable[
        [], contextlib.AbstractAsyncContextManager[Send]]:
    """Sessions that publish the prepared events directly (the ceiling)."""

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[Send]:
        async def send(i: int) -> tuple[int, str | None, str | None]:
            try:
                await publisher.publish(events[i])
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                return -1, None, f"publish: {type(exc).__name__}"
            return 0, None, None

        yield send

    return session


def http_session(base_url: str, token: str, subs: list[Submission]) -> Callable[
        [], contextlib.AbstractAsyncContextManager[Send]]:
    """Sessions that each hold one HTTP client (one keep-alive connection) to the connector."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON,
               "Accept": FHIR_JSON}

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[Send]:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
            async def send(i: int) -> tuple[int, str | None, str | None]:
                try:
                    r = await client.post("/fhir/DocumentReference", content=subs[i].payload)
                except httpx.HTTPError as exc:
                    return -1, None, f"http: {type(exc).__name__}"
                error = None
                if r.status_code not in (200, 201):  # diagnostics never echo input values
                    issue = (r.json().get("issue") or [{}])[0] if r.content else {}
                    error = f"{r.status_code} {issue.get('code')}: {issue.get('diagnostics')}"
                return r.status_code, r.headers.get("location"), error

            yield send

    return session


def summary(outcome: Outcome) -> dict[str, Any]:
    """Submissions per second and latency percentiles in ms."""
    q = statistics.quantiles(outcome.latencies_s, n=100, method="inclusive")
    return {
        "submissions_per_s": round(len(outcome.latencies_s) / outcome.seconds, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(outcome.latencies_s) * 1000, 2),
        "seconds": round(outcome.seconds, 3),
    }


# --- the process ------------------------------------------------------------------------------


class LogCounter:
    """A structlog processor counting events at WARNING and above (what went wrong, by name)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, _logger: Any, method: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if method in ("warning", "error", "critical", "exception"):
            self.counts[f"{method}:{event_dict.get('event')}"] += 1
        return event_dict


def process_state() -> dict[str, Any]:
    """RSS now and at peak (MiB), open file descriptors and threads of this process."""
    rss_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    fds = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").exists() else -1
    return {
        "rss_mib": round(rss_kib / 1024, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "open_fds": fds,
        "threads": threading.active_count(),
        "late_send_watchers": len(fhir_service._BACKGROUND),
    }


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (fsync costs differ: ext4, xfs, tmpfs ...)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path.resolve()).startswith(parts[1]) and \
                    len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


class ServerThread:
    """uvicorn serving the app on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


# --- the benchmark ---------------------------------------------------------------------------


async def measure(args: argparse.Namespace, settings: Settings, base_url: str, token: str,
                  children: list[str], expected: dict[str, list[Submission]]) -> list[
        dict[str, Any]]:
    """Every block: warm-up, then per document size and client mode the three scenarios."""
    publisher = KafkaPublisher(settings, default_codec(), source="/bench/ceiling")
    when = datetime.now(UTC) - timedelta(minutes=1)
    modes = [1] if args.concurrency == 1 else [1, args.concurrency]
    sizes: list[tuple[str, int | None]] = [("demo text", None)]
    if args.doc_kb > 0:
        sizes.append((f"{args.doc_kb} KiB", args.doc_kb * 1024))
    blocks = []
    try:
        if args.warmup:  # producers connected, code paths and caches warm
            warm = submissions("warmup-ceiling", args.warmup, children, None, when)
            expected["warmup ceiling"] = warm
            events = [ceiling_event(s, settings, when) for s in warm]
            await drive(len(warm), 1, publisher_session(publisher, events))
            warm = submissions("warmup-fhir", args.warmup, children, None, when)
            expected["warmup fhir"] = warm
            for _ in range(2):  # create, then repeat
                await drive(len(warm), 1, http_session(base_url, token, warm))
        for size_name, size in sizes:
            for clients in modes:
                label = f"{size_name} x{clients}"
                ceiling_subs = submissions(f"{label}-ceiling", args.submissions, children, size,
                                           when)
                fhir_subs = submissions(f"{label}-fhir", args.submissions, children, size, when)
                expected[f"{label} ceiling"] = ceiling_subs
                expected[f"{label} fhir"] = fhir_subs
                events = [ceiling_event(s, settings, when) for s in ceiling_subs]
                n = args.submissions
                runs = {
                    "ceiling": await drive(n, clients, publisher_session(publisher, events)),
                    "fhir-create": await drive(n, clients, http_session(base_url, token,
                                                                         fhir_subs)),
                    "fhir-retry": await drive(n, clients, http_session(base_url, token,
                                                                        fhir_subs)),
                }
                create, retry = runs["fhir-create"], runs["fhir-retry"]
                same = sum(1 for a, b in zip(create.locations, retry.locations, strict=True)
                           if a is not None and a == b)
                ceiling = summary(runs["ceiling"])
                rows = {}
                for name, outcome in runs.items():
                    row = summary(outcome)
                    row["throughput_ratio"] = round(row["submissions_per_s"]
                                                    / ceiling["submissions_per_s"], 3)
                    row["p50_ratio"] = round(row["p50_ms"] / ceiling["p50_ms"], 2)
                    row["answers"] = {str(k): v for k, v in sorted(outcome.statuses.items())}
                    row["errors"] = outcome.errors
                    rows[name] = row
                wanted = {"ceiling": 0, "fhir-create": 201, "fhir-retry": 200}
                for name, row in rows.items():
                    row["answers_ok"] = row["answers"] == {str(wanted[name]): n}
                rows["fhir-retry"]["same_resource_as_create"] = same
                rows["fhir-retry"]["answers_ok"] &= same == n
                blocks.append({"document": size_name, "document_bytes": len(
                    base64.b64decode(fhir_subs[0].body["content"][0]["attachment"]["data"])),
                    "clients": clients, "scenarios": rows, "process": process_state()})
                print(f"  measured {label}", file=sys.stderr)
    finally:
        await publisher.close()
    return blocks


def check_topic(settings: Settings, expected: dict[str, list[Submission]],
                children: set[str]) -> dict[str, Any]:
    """Read the contributions topic back: each contribution id of the run exactly once."""
    codec = default_codec()
    counts: Counter[str] = Counter()
    claims: dict[str, str] = {}
    keys_with_nhs_number = 0
    for r in read_partitions(settings, CONTRIBUTIONS.name):
        _, record = codec.decode(r.value or b"")
        counts[str(record["contribution_id"])] += 1
        claims[str(record["contribution_id"])] = str(record["document"]["sha256"])
        if r.key is not None and r.key.decode(errors="replace") in children:
            keys_with_nhs_number += 1
    groups = {}
    known: set[str] = set()
    for group, subs in expected.items():
        ids = [s.contribution_id for s in subs]
        known.update(ids)
        groups[group] = {
            "expected": len(ids),
            "events": sum(counts[i] for i in ids),
            "missing": sum(1 for i in ids if counts[i] == 0),
            "duplicates": sum(counts[i] - 1 for i in ids if counts[i] > 1),
            "claim_mismatches": sum(1 for s in subs
                                    if s.contribution_id in claims
                                    and claims[s.contribution_id] != s.sha256),
        }
        groups[group]["ok"] = (groups[group]["events"] == len(ids)
                               and groups[group]["missing"] == 0
                               and groups[group]["claim_mismatches"] == 0)
    return {
        "events_on_topic": sum(counts.values()),
        "unexpected_events": sum(v for k, v in counts.items() if k not in known),
        "keys_holding_an_nhs_number": keys_with_nhs_number,
        "groups": groups,
    }


def print_table(result: dict[str, Any]) -> None:
    topic = result["topic"]["groups"]
    head = (f"{'document':<10} {'clients':>7}  {'scenario':<11} {'subs/s':>8} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8} {'thr/ceil':>8} {'p50/ceil':>8}  {'answers':<12} "
            f"topic")
    print(head)
    print("-" * len(head))
    for block in result["blocks"]:
        label = f"{block['document']} x{block['clients']}"
        for name, row in block["scenarios"].items():
            group = topic.get(f"{label} {'ceiling' if name == 'ceiling' else 'fhir'}", {})
            answers = ",".join(f"{k}:{v}" for k, v in row["answers"].items())
            if name == "ceiling":
                answers = f"ok:{row['answers'].get('0', 0)}"
            shown = "" if name == "fhir-retry" else f"{group.get('events')}/{group.get('expected')}"
            flag = "" if row["answers_ok"] else "  <-- FAILED"
            print(f"{block['document']:<10} {block['clients']:>7}  {name:<11} "
                  f"{row['submissions_per_s']:>8.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
                  f"{row['p99_ms']:>8.2f} {row['throughput_ratio']:>8.3f} "
                  f"{row['p50_ratio']:>8.2f}  {answers:<12} {shown}{flag}")
    proc = result["process"]
    print(f"peak RSS {proc['peak_rss_mib']} MiB; RSS at end {proc['rss_mib']} MiB; open fds "
          f"{result['process_before']['open_fds']} -> {proc['open_fds']}; threads "
          f"{proc['threads']}; late-send watchers {proc['late_send_watchers']}")
    print(f"topic: {result['topic']['events_on_topic']} events, "
          f"{result['topic']['unexpected_events']} unexpected, duplicates "
          f"{sum(g['duplicates'] for g in topic.values())}, missing "
          f"{sum(g['missing'] for g in topic.values())}, keys holding an NHS number "
          f"{result['topic']['keys_holding_an_nhs_number']}")
    if result["log_warnings"]:
        print(f"warnings logged: {result['log_warnings']}")
    print(f"correct: {result['correct']}  ({result['seconds']} s, load average "
          f"{result['machine']['load_before']} -> {result['machine']['load_after']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", "-n", type=int, default=300,
                        help="submissions per scenario and block")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="concurrent clients of the concurrent blocks (1: sequential only)")
    parser.add_argument("--doc-kb", type=int, default=16,
                        help="size of the larger inline document in KiB (0: demo text only)")
    parser.add_argument("--children", type=int, default=300,
                        help="children, each with one open Task of the health body")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured submissions first")
    parser.add_argument("--log-level", default="WARNING", help="connector log level (stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    counter = LogCounter()
    configure_logging(args.log_level, json=True)
    config = structlog.get_config()
    structlog.configure(processors=[counter, *config["processors"]])

    t0 = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="ehcp-throughput-"))
    port, controller, http_port = free_ports(3)
    broker = LocalBroker(
        BrokerConfig(home=tmp / "kafka", port=port, controller_port=controller),
        REPO / ".ehcp" / "kafka",
    )
    broker.start(timeout_s=180)
    server: ServerThread | None = None
    try:
        settings = Settings.model_validate({  # EHCP_* variables still apply to the rest
            "kafka_bootstrap": broker.config.bootstrap,
            "pseudonym_key": secrets.token_hex(32),
            "app_id": "ehcp-throughput",
            "data_dir": tmp / "data",
            "documents_dir": tmp / "documents",
            "submissions_file": tmp / "fhir-submissions.jsonl",
            "credentials_file": tmp / "credentials.json",
        })
        apply_topics(settings, catalogue(settings.app_id))

        children = [synthetic_nhs_number(seed) for seed in range(1, args.children + 1)]
        if len(set(children)) != len(children):
            raise SystemExit("synthetic NHS numbers collided; choose fewer --children")
        tasks = InMemoryTaskStore()
        for i, nhs_number in enumerate(children):
            tasks.add(advice_requested(i, nhs_number))
        credentials = InMemoryCredentialStore()
        credential, token = new_credential(ODS_ORGANISATION_SYSTEM, ODS, "health")
        credentials.add(credential)
        publisher = KafkaPublisher(settings, default_codec(), source="/ehcp-exchange/connectors")

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await publisher.close()

        app = create_app(settings, Ports(
            publisher=publisher,
            docstore=FileDocumentStore(settings.documents_dir),
            credentials=credentials,
            tasks=tasks,
            submissions=FileSubmissionLedger(settings.submissions_file),
        ), lifespan=lifespan)
        before = process_state()
        server = ServerThread(app, http_port)
        server.start()
        expected: dict[str, list[Submission]] = {}
        blocks = asyncio.run(measure(args, settings, f"http://127.0.0.1:{http_port}", token,
                                     children, expected))
        server.stop()
        server = None
        topic = check_topic(settings, expected, set(children))
        ledger_bytes = settings.submissions_file.stat().st_size
        documents = sum(1 for p in settings.documents_dir.rglob("*") if p.is_file())
    finally:
        if server is not None:
            server.stop()
        broker.stop()

    correct = (all(row["answers_ok"] for b in blocks for row in b["scenarios"].values())
               and all(g["ok"] for g in topic["groups"].values())
               and topic["unexpected_events"] == 0
               and topic["keys_holding_an_nhs_number"] == 0)
    result = {
        "when": datetime.now(UTC).isoformat(),
        "settings": {k: v for k, v in vars(args).items() if k != "keep"},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "kafka": KAFKA_VERSION,
            "tmp_filesystem": filesystem_of(tmp),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "blocks": blocks,
        "topic": topic,
        "process_before": before,
        "process": process_state(),
        "ledger_bytes": ledger_bytes,
        "documents_stored": documents,
        "log_warnings": dict(counter.counts),
        "correct": correct,
        "seconds": round(time.monotonic() - t0, 1),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "connector_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if correct else 1


if __name__ == "__main__":
    raise SystemExit(main())
