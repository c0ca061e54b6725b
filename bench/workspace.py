"""Workspace benchmark: the work tray's p95 at 10,000 and 100,000 open cases, and the projector's
events per second against a plain consume of the same topics, in one run.

    .venv/bin/python bench/workspace.py [--cases 10000 100000] [--requests 60] [--events 20000]

Part 1 fills a SQLite read model (the embedded default) with N open cases of one LA (5 advice
items each, 3 still owed, due dates spread from 40 days overdue to 30 days ahead) plus as many
of another LA, signs a manager in, and times ``GET /tray`` through the real app (in-process
ASGI, FastAPI's TestClient) for a mix of requests: the default tray, a filter by agency, a filter
by advice type, a case-reference search, a later page. The rows are written with bulk inserts
(the projector would take minutes to build 100,000 cases; its own speed is part 2).

Part 2 starts a broker of its own (the cached jars, free ports), produces E records (case
statuses and alerts, half each) onto the projected topics, then times (a) a plain
``KafkaConsumer`` reading those topics to their end and (b) ``ehcp.kafka_io.projector.project``
reading the same records into a fresh SQLite read model. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, insert  # noqa: E402

from connectors.ports import InMemoryDocumentStore, InMemoryPublisher  # noqa: E402
from ehcp.clock import SystemClock  # noqa: E402
from ehcp.readmodel import people  # noqa: E402
from ehcp.readmodel import tables as t  # noqa: E402
from ehcp.readmodel.store import create_tables, open_engine, recount_tray  # noqa: E402
from ehcp.settings import Settings  # noqa: E402
from tests.workspace_support import add_user, sign_in  # noqa: E402
from workspace.app import Ports, create_app  # noqa: E402

LA = "886"
OTHER = "999"
ADVICE = ("PARENT_OR_YOUNG_PERSON", "EDUCATIONAL", "MEDICAL", "PSYCHOLOGICAL", "SOCIAL_CARE")
AGENCIES = ("RVV", "RYJ", "100001", "100002", "886")
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


def fill(engine: Engine, cases: int, today: date) -> None:
    """Bulk-insert ``cases`` open cases for LA 886 and as many for LA 999."""
    now = datetime.now(UTC)
    seq = 0
    batch = 5_000
    for la in (LA, OTHER):
        for start in range(0, cases, batch):
            owners, rows, items = [], [], []
            for n in range(start, min(cases, start + batch)):
                case_id = f"EHC-{la}-2026-{n:06d}"
                seq += 1
                owners.append({"case_id": case_id, "la_code": la, "referral_la_code": la})
                rows.append({
                    "case_id": case_id, "la_code": la, "stage": ("ASSESSMENT", "REQUEST_RECEIVED",
                                                                 "DRAFT_PLAN")[n % 3],
                    "received_on": today - timedelta(days=60), "final_plan_due_on": today
                    + timedelta(days=80), "as_of": today, "open_alerts": 1,
                    "kafka_partition": n % 4, "kafka_offset": n, "change_seq": seq,
                    "updated_at": now})
                for k, advice_type in enumerate(ADVICE):
                    owed = k >= 2
                    items.append({
                        "case_id": case_id, "advice_type": advice_type, "la_code": la,
                        "regulation": f"reg 6(1)({'abcde'[k]})",
                        "status": "REQUESTED" if owed else "RECEIVED",
                        "request_id": f"req-{case_id}-{k}", "agency_system": ODS,
                        "agency_value": AGENCIES[(n + k) % len(AGENCIES)],
                        "due_on": today + timedelta(days=(n % 70) - 40),
                        "decline_reason": None, "contribution_ids": "[]"})
            with engine.begin() as conn:
                conn.execute(insert(t.case_owners), owners)
                conn.execute(insert(t.cases), rows)
                conn.execute(insert(t.case_advice), items)
    recount_tray(engine)  # the counts the projector keeps as it writes (bulk rows bypass it)


def tray_p95(cases: int, requests: int, folder: Path) -> dict[str, Any]:
    """Fill a read model with ``cases`` open cases and time ``GET /tray`` through the app."""
    engine = open_engine(f"sqlite:///{folder / f'tray-{cases}.sqlite3'}")
    create_tables(engine)
    people.create_people_tables(engine)
    clock = SystemClock()
    started = time.perf_counter()
    fill(engine, cases, clock.now().date())
    filled_s = time.perf_counter() - started
    _, secret = add_user(engine, "bench.manager", people.Role.MANAGER)
    app = create_app(Settings(pseudonym_key="k" * 40, workspace_plain_http=True),
                     Ports(engine=engine, publisher=InMemoryPublisher(),
                           docstore=InMemoryDocumentStore(), clock=clock))
    mix = ["/tray", "/tray?agency=RVV", "/tray?advice_type=MEDICAL",
           f"/tray?q=2026-{cases // 2:06d}", "/tray?page=20&sort=case"]
    timings: list[float] = []
    with TestClient(app, base_url="http://127.0.0.1") as client:
        if sign_in(client, "bench.manager", secret, clock).status_code != 303:
            raise SystemExit("bench manager could not sign in")
        client.get("/tray")  # warm up
        for i in range(requests):
            began = time.perf_counter()
            response = client.get(mix[i % len(mix)])
            timings.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{mix[i % len(mix)]} answered {response.status_code}")
    engine.dispose()
    timings.sort()
    return {"open_cases": cases, "requests": requests, "fill_s": round(filled_s, 1),
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1),
            "max_ms": round(timings[-1], 1)}


def projector_rate(events: int, folder: Path) -> dict[str, Any]:
    """Produce ``events`` records, then time a plain consume and the projector over them."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from ehcp.contract import records
    from ehcp.contract.avro import default_codec
    from ehcp.contract.topics import ALERTS, CASE_STATUS, catalogue
    from ehcp.kafka_io.kafka_clients import apply_topics
    from ehcp.kafka_io.projector import project
    from ehcp.readmodel.mapping import PROJECTED_TOPICS
    from tests.support import start_local_broker
    from tests.unit.contract.records import ALERT

    broker = start_local_broker(folder / "kafka-home")
    try:
        settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key="k" * 40,
                            partitions=4, app_id="bench-workspace", data_dir=folder / "data")
        apply_topics(settings, catalogue(settings.app_id))
        codec = default_codec()
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                 linger_ms=20, batch_size=256 * 1024)
        today = date.today()
        for n in range(events):
            case_id = f"EHC-886-B-{n // 2:06d}"
            if n % 2 == 0:
                value = codec.encode(records.CASE_STATUS, {
                    "case_id": case_id, "stage": "ASSESSMENT", "received_on": today,
                    "final_plan_due_on": today, "as_of": today, "open_alerts": 1,
                    "advice": [{"advice_type": "MEDICAL", "regulation": "reg 6(1)(c)",
                                "status": "REQUESTED", "request_id": None, "agency": None,
                                "due_on": today, "contribution_ids": [],
                                "decline_reason": None}]})
                topic = CASE_STATUS.name
            else:
                value = codec.encode(records.ALERT, {**ALERT, "event_id": str(uuid.uuid4()),
                                                      "case_id": case_id})
                topic = ALERTS.name
            producer.send(topic, key=case_id.encode(), value=value)
        producer.flush()
        producer.close()

        names = [spec.name for spec in PROJECTED_TOPICS]
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                 enable_auto_commit=False, max_poll_records=2000)
        parts = [TopicPartition(name, p) for name in names
                 for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        began = time.perf_counter()
        seen = 0
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                seen += len(batch)
        consume_s = time.perf_counter() - began
        consumer.close()

        engine = open_engine(f"sqlite:///{folder / 'projector.sqlite3'}")
        create_tables(engine)
        began = time.perf_counter()
        report = project(settings, engine, codec, follow=False)
        project_s = time.perf_counter() - began
        engine.dispose()
    finally:
        broker.stop()
    return {"events": events, "plain_consume_s": round(consume_s, 2),
            "plain_consume_per_s": round(seen / consume_s), "projected": report.applied,
            "projector_s": round(project_s, 2),
            "projector_per_s": round(report.applied / project_s)}


def main() -> None:
    """Run both parts and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--skip-projector", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("EHCP_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="ehcp-bench-ws-") as tmp:
        folder = Path(tmp)
        trays = [tray_p95(n, args.requests, folder) for n in args.cases]
        rate = None if args.skip_projector else projector_rate(args.events, folder)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, SQLite read model")
    print(f"{'open cases':>11} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for row in trays:
        print(f"{row['open_cases']:>11} {row['requests']:>9} {row['p50_ms']:>8} "
              f"{row['p95_ms']:>8} {row['max_ms']:>8}")
    if rate:
        print(f"plain consume: {rate['plain_consume_per_s']} records/s; projector: "
              f"{rate['projector_per_s']} records/s ({rate['projected']} records, "
              f"{rate['projector_s']} s)")
    print(json.dumps({"tray": trays, "projector": rate}))


if __name__ == "__main__":
    main()
