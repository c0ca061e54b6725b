"""Throughput: the health connector's advice intake (POST /fhir/DocumentReference), real broker.

Starts its own Kafka broker (free ports, temporary folder) and applies the topic catalogue. Then,
for each document size (the demo's small text, and a ``--doc-kb`` KiB inline document) and each
client mode (one sequential client, then ``--concurrency`` concurrent clients), it runs N
submissions each way:

- ``ceiling``: ``KafkaPublisher.publish`` of the same AdviceSubmitted events (acks=all), built
  with the connector's own functions: the cost of durability alone. It runs N before and N after
  the other scenarios of its block, pooled, so drift of the shared machine weighs on both sides;
- ``http-floor``: ``GET /healthz`` on the same server with the same clients: the HTTP stack
  alone (uvicorn, FastAPI, httpx), for reference;
- ``fhir-create``: ``POST /fhir/DocumentReference`` over HTTP (httpx) to the production-style
  app (``create_app`` with ``KafkaPublisher``, ``FileDocumentStore``, ``FileSubmissionLedger``,
  one health credential, one Task per child) served by uvicorn on a free port;
- ``fhir-retry``: the same N POSTs again (idempotent repeats answered from the ledger, 200).

Ratios are against the ``ceiling`` of the same block (the machine is shared and noisy):
throughput ratio = scenario/ceiling submissions per second, p50 ratio = scenario/ceiling p50.
``cpu ms`` is this process's CPU time (every thread: connector and client) per submission.
Correctness is part of the run: every create answered 201 and every repeat 200 with the same
resource, and the contributions topic holds every contribution id of the run exactly once.
Each submission's document is unique (a content-addressed store writes identical bytes once).

    .venv/bin/python bench/connector_throughput.py [--submissions 300] [--concurrency 8]
        [--doc-kb 16] [--children 300] [--warmup 50] [--warmup-events 1000]
        [--server loop|thread] [--log-level WARNING]

Prints a table and writes bench/results/connector_throughput.json (about 60 s with defaults;
``make bench-connectors``). Exit status 1 if any correctness check failed. Synthetic data only;
NHS numbers are never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import importlib.util
import json
import logging
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
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
# httpcore (under httpx) tries ``import sniffio`` several times per request; sniffio is not
# installed here, and a failed import scans sys.path every time (~1 ms per request in the
# driver, not the connector). None in sys.modules makes the import fail at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

import httpx  # noqa: E402
import structlog  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from cli import demo  # noqa: E402
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
from ehcp.contract.avro import default_codec  # noqa: E402
from ehcp.contract.topics import CONTRIBUTIONS, catalogue  # noqa: E402
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM  # noqa: E402
from ehcp.kafka_io.broker.local import KAFKA_VERSION, BrokerConfig, LocalBroker  # noqa: E402
from ehcp.kafka_io.kafka_clients import apply_topics  # noqa: E402
from ehcp.kafka_io.readers import read_partitions  # noqa: E402
from ehcp.logs import configure_logging  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.support import free_ports, synthetic_nhs_number  # noqa: E402

ODS = demo.DEMO_HEALTH_ODS  # "ZZ901", the demo health body
SMALL_TEXT = b"Synthetic medical advice for the EHCP Exchange demo."
FHIR_JSON = "application/fhir+json"


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
    """``count`` submissions spread over the children, each with its own uuid and document."""
    made = []
    for i in range(count):
        uid = str(uuid.uuid4())
        body = demo.medical_advice(when, uid)
        body["subject"]["identifier"]["value"] = children[i * len(children) // count]
        content = document(f"{label}-{i}", size)
        body["content"][0]["attachment"]["data"] = base64.b64encode(content).decode()
        made.append(Submission(
            contribution_id=f"urn:uuid:{uid}", body=body,
            payload=json.dumps(body, separators=(",", ":")).encode(),
            sha256=hashlib.sha256(content).hexdigest(),
        ))
    return made


def claims_of(subs: list[Submission]) -> list[tuple[str, str]]:
    """What the topic must hold for these submissions: (contribution id, document sha256)."""
    return [(sub.contribution_id, sub.sha256) for sub in subs]


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
    cpu_s: float
    latencies_s: list[float]
    statuses: Counter[int] = field(default_factory=Counter)
    locations: list[str | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Send = Callable[[int], Awaitable[tuple[int, str | None, str | None]]]
#: What the topic must hold, by group: (contribution id, document sha256) of each submission.
#: Only these are kept, so the driver's memory does not grow with the submission bodies.
Expected = dict[str, list[tuple[str, str]]]


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

    async def client(send: Send) -> None:
        for i in queue:
            t0 = time.perf_counter()
            status, location, error = await send(i)
            latencies[i] = time.perf_counter() - t0
            statuses[status] += 1
            locations[i] = location
            if error is not None and len(errors) < 5:
                errors.append(error)

    gc.collect()  # not during the clock, if it can be helped
    async with contextlib.AsyncExitStack() as stack:
        # Clients are made before the clock starts: an httpx client loads the CA bundle when
        # made (~40 ms of CPU blocking the loop), the driver's cost, not the connector's.
        sends = [await stack.enter_async_context(session()) for _ in range(clients)]
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(client(send) for send in sends))
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return Outcome(seconds, cpu, latencies, statuses, locations, errors)


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (the connector and its client)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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


def http_session(base_url: str, token: str, subs: list[Submission] | None) -> Callable[
        [], contextlib.AbstractAsyncContextManager[Send]]:
    """Sessions that each hold one HTTP client (one keep-alive connection) to the connector.

    They POST the submissions, or with ``subs=None`` GET /healthz (the HTTP stack alone).
    """
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON,
               "Accept": FHIR_JSON}

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[Send]:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
            async def send(i: int) -> tuple[int, str | None, str | None]:
                try:
                    r = await (client.get("/healthz") if subs is None else
                               client.post("/fhir/DocumentReference", content=subs[i].payload))
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
        "cpu_ms_per_submission": round(outcome.cpu_s / len(outcome.latencies_s) * 1000, 2),
        "seconds": round(outcome.seconds, 3),
    }


def pooled(first: Outcome, second: Outcome) -> Outcome:
    """Two runs of one scenario as one (times and CPU added, latencies together)."""
    return Outcome(first.seconds + second.seconds, first.cpu_s + second.cpu_s,
                   first.latencies_s + second.latencies_s, first.statuses + second.statuses,
                   first.locations + second.locations, first.errors + second.errors)


async def drive_open(rate: float, count: int,
                     session: Callable[[], contextlib.AbstractAsyncContextManager[Send]]
                     ) -> Outcome:
    """Send submission ``i`` at ``t0 + i / rate`` whatever the answers so far (an open loop).

    Latency is measured from the scheduled send time, not from when the request went out, as a
    real load generator measures it (a server falling behind is not hidden by the client
    waiting for it: "coordinated omission"). ``seconds`` runs from the first scheduled send to
    the last answer, so the achieved rate is ``count / seconds``.
    """
    latencies = [0.0] * count
    done_at = [0.0] * count
    statuses: Counter[int] = Counter()
    locations: list[str | None] = [None] * count
    errors: list[str] = []
    gc.collect()
    async with session() as send:
        t0 = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status, location, error = await send(i)
            done_at[i] = time.perf_counter()
            latencies[i] = done_at[i] - scheduled
            statuses[status] += 1
            locations[i] = location
            if error is not None and len(errors) < 5:
                errors.append(error)

        await asyncio.gather(*(one(i) for i in range(count)))
    return Outcome(max(done_at) - t0, 0.0, latencies, statuses, locations, errors)


def open_http_session(port: int, token: str, subs: list[Submission],
                      connections: int = 256) -> Callable[
        [], contextlib.AbstractAsyncContextManager[Send]]:
    """A pool of keep-alive HTTP/1.1 connections written to and read from directly.

    httpx costs the load generator about a millisecond of CPU per request, which on a shared
    machine made this process, not the connector, the limit of the open loop. Requests are
    prepared bytes; a response is read up to its Content-Length. A request finding every
    connection busy waits for one (that wait counts in its latency, as it should).
    """
    head = (f"POST /fhir/DocumentReference HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {FHIR_JSON}\r\n"
            f"Accept: {FHIR_JSON}\r\n")

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[Send]:
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        opened: list[asyncio.StreamWriter] = []
        for _ in range(connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            opened.append(writer)
            idle.put_nowait((reader, writer))

        async def send(i: int) -> tuple[int, str | None, str | None]:
            reader, writer = await idle.get()
            body = subs[i].payload
            try:
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                fields = {k.strip().lower(): v.strip() for k, _, v in
                          (line.partition(":") for line in lines[1:] if line)}
                answer = await reader.readexactly(int(fields.get("content-length", "0")))
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                idle.put_nowait((reader, writer))
                opened.append(writer)
                return -1, None, f"http: {type(exc).__name__}"
            idle.put_nowait((reader, writer))
            error = None
            if status != 201:  # diagnostics never echo input values
                issue = (json.loads(answer).get("issue") or [{}])[0] if answer else {}
                error = f"{status} {issue.get('code')}: {issue.get('diagnostics')}"
            return status, fields.get("location"), error

        try:
            yield send
        finally:
            for writer in opened:
                writer.close()

    return session


def _serve(app: FastAPI, port: int, nice: int = 0) -> None:
    """The connector process of the open-loop mode: uvicorn as ``ehcp connectors`` runs it.

    ``nice`` (negative needs root) changes its scheduling priority against the rest of the
    machine: whether its rate follows says if CPU share, not a lock, limits it.
    """
    if nice:
        os.nice(nice)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="on")
    uvicorn.Server(config).run()


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) of another process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_loop(args: argparse.Namespace, settings: Settings, app: FastAPI, port: int,
              token: str, children: list[str], expected: Expected) -> list[dict[str, Any]]:
    """The connector in a process of its own; submissions at fixed rates from this one.

    Forked before this process starts any event loop, so the child serves the app exactly as
    built here. Per rate: ``--open-seconds`` worth of unique submissions, the achieved rate,
    p50/p99 from the scheduled send time, the answers, and how much of a core the connector
    process used. With ``--open-profile``, py-spy records the connector (idle threads too)
    during the highest rate.
    """
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_serve,
                                                        args=(app, port, args.open_nice),
                                                        daemon=True)
    child.start()
    if child.pid is None:
        raise RuntimeError("the connector process did not start")
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not child.is_alive():
            raise RuntimeError("the connector process did not start")
        time.sleep(0.2)
    when = datetime.now(UTC) - timedelta(minutes=1)
    rows = []
    try:
        warm = submissions("open warmup", args.warmup, children, None, when)
        expected["open warmup"] = claims_of(warm)
        asyncio.run(drive(len(warm), 4, http_session(base_url, token, warm)))
        rates = [float(r) for r in args.open_loop.split(",")]
        for rate in rates:
            count = int(rate * args.open_seconds)
            label = f"open {rate:g}/s"
            subs = submissions(label, count, children, None, when)
            expected[label] = claims_of(subs)
            spy = None
            if args.open_profile and rate == max(rates):
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                     str(child.pid), "--idle", "--nonblocking", "--format", "raw", "-o",
                     args.open_profile, "--duration", str(int(args.open_seconds) + 5)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0, own0 = process_cpu_s(child.pid), cpu_seconds()
            outcome = asyncio.run(drive_open(rate, count, open_http_session(port, token, subs)))
            cpu, own = process_cpu_s(child.pid) - cpu0, cpu_seconds() - own0
            if spy is not None:
                spy.wait(120)
            row = summary(outcome)
            row.pop("cpu_ms_per_submission")
            rows.append({
                "target_per_s": rate,
                "achieved_per_s": row.pop("submissions_per_s"),
                **row,
                "connector_cores": round(cpu / outcome.seconds, 2),
                "connector_cpu_ms_per_submission": round(1000 * cpu / count, 2),
                "generator_cores": round(own / outcome.seconds, 2),
                "answers": {str(k): v for k, v in sorted(outcome.statuses.items())},
                "answers_ok": dict(outcome.statuses) == {201: count},
                "errors": outcome.errors,
            })
            print(f"  measured {label}: {rows[-1]}", file=sys.stderr)
    finally:
        child.terminate()
        child.join(30)
    return rows


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


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int, where: str) -> AsyncIterator[None]:
    """uvicorn serving the app on 127.0.0.1, as ``ehcp connectors`` does (h11, asyncio).

    ``where="loop"``: in the benchmark's own event loop (one thread: client and server take
    turns, no GIL hand-offs between them); ``"thread"``: in a thread with its own event loop.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = None
    if where == "thread":
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        task = None
    else:
        task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if (task is not None and task.done()) or (thread is not None and not thread.is_alive()) \
                or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        if task is not None:
            await task
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)


# --- the benchmark ---------------------------------------------------------------------------


async def measure(args: argparse.Namespace, settings: Settings, app: FastAPI, port: int,
                  token: str, children: list[str],
                  expected: Expected) -> list[dict[str, Any]]:
    """Serve the app, warm up, then per document size and client mode every scenario."""
    async with serving(app, port, args.server):
        return await _measure(args, settings, f"http://127.0.0.1:{port}", token, children,
                              expected)


async def _measure(args: argparse.Namespace, settings: Settings, base_url: str, token: str,
                   children: list[str], expected: Expected) -> list[dict[str, Any]]:
    publisher = KafkaPublisher(settings, default_codec(), source="/bench/ceiling")
    when = datetime.now(UTC) - timedelta(minutes=1)
    modes = [1] if args.concurrency == 1 else [1, args.concurrency]
    sizes: list[tuple[str, int | None]] = [("demo text", None)]
    if args.doc_kb > 0:
        sizes.append((f"{args.doc_kb} KiB", args.doc_kb * 1024))
    blocks = []
    try:
        # Warm-up, unmeasured: producers connected, partition leaders settled, the broker's
        # JVM compiled (without enough direct publishes the first block measures it warming),
        # the connector's code paths run once.
        for clients in modes:
            warm = submissions(f"warmup x{clients} ceiling", args.warmup_events, children, None,
                               when)
            expected[f"warmup x{clients} ceiling"] = claims_of(warm)
            events = [ceiling_event(s, settings, when) for s in warm]
            await drive(len(warm), clients, publisher_session(publisher, events))
            warm = submissions(f"warmup x{clients} fhir", args.warmup, children, None, when)
            expected[f"warmup x{clients} fhir"] = claims_of(warm)
            for _ in range(2):  # create, then repeat
                await drive(len(warm), clients, http_session(base_url, token, warm))
        n = args.submissions
        for size_name, size in sizes:
            for clients in modes:
                label = f"{size_name} x{clients}"
                # The ceiling runs before and after the FHIR scenarios (N each) and is pooled,
                # so a drift of the shared machine during the block weighs on both sides.
                ceiling_subs = submissions(f"{label}-ceiling", 2 * n, children, size, when)
                fhir_subs = submissions(f"{label}-fhir", n, children, size, when)
                expected[f"{label} ceiling"] = claims_of(ceiling_subs)
                expected[f"{label} fhir"] = claims_of(fhir_subs)
                events = [ceiling_event(s, settings, when) for s in ceiling_subs]
                before = await drive(n, clients, publisher_session(publisher, events[:n]))
                runs = {
                    "http-floor": await drive(n, clients, http_session(base_url, token, None)),
                    "fhir-create": await drive(n, clients, http_session(base_url, token,
                                                                         fhir_subs)),
                    "fhir-retry": await drive(n, clients, http_session(base_url, token,
                                                                        fhir_subs)),
                }
                after = await drive(n, clients, publisher_session(publisher, events[n:]))
                runs = {"ceiling": pooled(before, after), **runs}
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
                wanted = {"ceiling": (0, 2 * n), "http-floor": (200, n),
                          "fhir-create": (201, n), "fhir-retry": (200, n)}
                for name, row in rows.items():
                    status, count = wanted[name]
                    row["answers_ok"] = row["answers"] == {str(status): count}
                rows["ceiling"]["before_per_s"] = summary(before)["submissions_per_s"]
                rows["ceiling"]["after_per_s"] = summary(after)["submissions_per_s"]
                rows["fhir-retry"]["same_resource_as_create"] = same
                rows["fhir-retry"]["answers_ok"] &= same == n
                document_bytes = len(base64.b64decode(
                    fhir_subs[0].body["content"][0]["attachment"]["data"]))
                del ceiling_subs, fhir_subs, events, before, after, runs, create, retry
                gc.collect()
                blocks.append({"document": size_name, "document_bytes": document_bytes,
                               "clients": clients, "scenarios": rows,
                               "process": process_state()})
                print(f"  measured {label}", file=sys.stderr)
    finally:
        await publisher.close()
    return blocks


def check_topic(settings: Settings, expected: Expected,
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
        ids = [contribution_id for contribution_id, _ in subs]
        known.update(ids)
        groups[group] = {
            "expected": len(ids),
            "events": sum(counts[i] for i in ids),
            "missing": sum(1 for i in ids if counts[i] == 0),
            "duplicates": sum(counts[i] - 1 for i in ids if counts[i] > 1),
            "claim_mismatches": sum(1 for contribution_id, sha256 in subs
                                    if claims.get(contribution_id, sha256) != sha256),
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
    """The figures as a table, then the checks and the process's resources."""
    topic = result["topic"]["groups"]
    head = (f"{'document':<10} {'clients':>7}  {'scenario':<11} {'subs/s':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'p99 ms':>7} {'thr/ceil':>8} {'p50/ceil':>8} {'cpu ms':>6}  "
            f"{'answers':<9} topic")
    print(head)
    print("-" * len(head))
    for block in result["blocks"]:
        label = f"{block['document']} x{block['clients']}"
        for name, row in block["scenarios"].items():
            answers = ",".join(f"{k}:{v}" for k, v in row["answers"].items())
            if name == "ceiling":
                answers = f"ok:{row['answers'].get('0', 0)}"
            group = {"ceiling": "ceiling", "fhir-create": "fhir"}.get(name)
            shown = ""
            if group is not None:
                found = topic[f"{label} {group}"]
                shown = f"{found['events']}/{found['expected']}"
            flag = "" if row["answers_ok"] else "  <-- FAILED"
            print(f"{block['document']:<10} {block['clients']:>7}  {name:<11} "
                  f"{row['submissions_per_s']:>7.1f} {row['p50_ms']:>7.2f} {row['p95_ms']:>7.2f} "
                  f"{row['p99_ms']:>7.2f} {row['throughput_ratio']:>8.3f} "
                  f"{row['p50_ratio']:>8.2f} {row['cpu_ms_per_submission']:>6.2f}  "
                  f"{answers:<9} {shown}{flag}")
    spread = ", ".join(f"{b['document']} x{b['clients']} "
                       f"{b['scenarios']['ceiling']['before_per_s']:.0f}/"
                       f"{b['scenarios']['ceiling']['after_per_s']:.0f}"
                       for b in result["blocks"])
    print(f"ceiling before/after (subs/s, a measure of the noise): {spread}")
    during = [b["process"] for b in result["blocks"]]
    end = result["process"]
    print(f"process: peak RSS {end['peak_rss_mib']} MiB; RSS after each block "
          f"{[p['rss_mib'] for p in during]} MiB; open fds {[p['open_fds'] for p in during]}; "
          f"threads {[p['threads'] for p in during]}; after shutdown: fds "
          f"{result['process_before']['open_fds']} -> {end['open_fds']}, late-send watchers "
          f"{end['late_send_watchers']}")
    print(f"topic: {result['topic']['events_on_topic']} events, "
          f"{result['topic']['unexpected_events']} unexpected, duplicates "
          f"{sum(g['duplicates'] for g in topic.values())}, missing "
          f"{sum(g['missing'] for g in topic.values())}, claim mismatches "
          f"{sum(g['claim_mismatches'] for g in topic.values())}, keys holding an NHS number "
          f"{result['topic']['keys_holding_an_nhs_number']}; ledger {result['ledger_bytes']} "
          f"bytes, {result['documents_stored']} documents stored")
    if result["log_warnings"]:
        print(f"connector warnings logged: {result['log_warnings']}")
    print(f"correct: {result['correct']}  ({result['seconds']} s; load average "
          f"{result['machine']['load_before'][0]} -> {result['machine']['load_after'][0]}; "
          f"{result['machine']['cpu_count']} CPUs)")


def report_open_loop(args: argparse.Namespace, rows: list[dict[str, Any]],
                     topic: dict[str, Any], load_before: list[float], t0: float) -> int:
    """Write bench/results/connector_open_loop.json and print the rates."""
    correct = (all(r["answers_ok"] for r in rows)
               and all(g["ok"] for g in topic["groups"].values())
               and topic["unexpected_events"] == 0 and topic["keys_holding_an_nhs_number"] == 0)
    result = {
        "when": datetime.now(UTC).isoformat(),
        "settings": {k: v for k, v in vars(args).items() if k != "keep"},
        "machine": {"cpu_count": os.cpu_count(), "load_before": load_before,
                    "load_after": [round(x, 2) for x in os.getloadavg()]},
        "rates": rows,
        "topic": {"events_on_topic": topic["events_on_topic"],
                  "duplicates": sum(g["duplicates"] for g in topic["groups"].values()),
                  "missing": sum(g["missing"] for g in topic["groups"].values())},
        "correct": correct,
        "seconds": round(time.monotonic() - t0, 1),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "connector_open_loop.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'target/s':>8} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'cores':>6} {'cpu ms':>7}  answers")
    for r in rows:
        print(f"{r['target_per_s']:>8g} {r['achieved_per_s']:>10.1f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['connector_cores']:>6.2f} "
              f"{r['connector_cpu_ms_per_submission']:>7.2f}  {r['answers']}")
    print(f"topic: {result['topic']}; correct: {correct}; load average "
          f"{load_before[0]} -> {result['machine']['load_after'][0]}")
    return 0 if correct else 1


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
    parser.add_argument("--warmup", type=int, default=50,
                        help="unmeasured POSTs (and repeats) first, per client mode")
    parser.add_argument("--warmup-events", type=int, default=1000,
                        help="unmeasured direct publishes first, per client mode")
    parser.add_argument("--server", choices=("loop", "thread"), default="loop",
                        help="serve in the benchmark's event loop, or in a thread of its own")
    parser.add_argument("--log-level", default="WARNING", help="connector log level (stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--open-loop", default="",
                        help="open-loop mode instead of the blocks: comma-separated request "
                             "rates (e.g. 100,200), the connector in a process of its own")
    parser.add_argument("--open-seconds", type=float, default=10.0,
                        help="seconds of requests per open-loop rate")
    parser.add_argument("--open-nice", type=int, default=0,
                        help="niceness added to the connector process (negative: more CPU "
                             "share on a busy machine; needs root)")
    parser.add_argument("--open-profile", default="",
                        help="py-spy (idle threads too) of the connector at the highest rate "
                             "to this file, collapsed stacks")
    args = parser.parse_args()
    if args.submissions < 2 or args.concurrency < 1 or args.children < 1:
        parser.error("need --submissions >= 2, --concurrency >= 1 and --children >= 1")

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
    kafka_log = logging.getLogger("kafka")
    kafka_log.setLevel(logging.CRITICAL)  # the readiness probe logs refusals while Kafka boots
    broker.start(timeout_s=180)
    kafka_log.setLevel(logging.NOTSET)
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
        expected: Expected = {}
        if args.open_loop:
            rows = open_loop(args, settings, app, http_port, token, children, expected)
            topic = check_topic(settings, expected, set(children))
            return report_open_loop(args, rows, topic, load_before, t0)
        blocks = asyncio.run(measure(args, settings, app, http_port, token, children, expected))
        topic = check_topic(settings, expected, set(children))
        ledger_bytes = settings.submissions_file.stat().st_size
        documents = sum(1 for p in settings.documents_dir.rglob("*") if p.is_file())
    finally:
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
