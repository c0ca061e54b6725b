"""Scrape the running components: every metric the alerting rules use is exported, no label
carries a case id, /metrics needs the token and /readyz turns ready.

The worker (supervised, as `ehcp worker` runs), the connectors and the workspace run as
processes on a broker of this module's own (workers of other tests on the session broker would
read these inputs too). The worker is given a referral (outputs published) and bytes that are
not Avro (a dead letter), so its counters have samples.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ehcp.contract.topics import REFERRALS, catalogue
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.settings import Settings
from tests.support import (
    REPO,
    free_ports,
    referral_message,
    settings_env,
    spawn,
    start_local_broker,
    stop,
    wait_until,
)

pytestmark = pytest.mark.integration
TOKEN = "t" * 48
RULES = REPO / "docs" / "prometheus-rules.yml"


def exported_names(text: str) -> set[str]:
    """Every sample name of a scrape, and every declared family (with a counter's _total)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def sample_names(text: str) -> set[str]:
    """The names of the samples a scrape holds (a family without any has none)."""
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def rule_metrics() -> set[str]:
    """The ehcp_* metric names the alerting rules' expressions use."""
    rules = yaml.safe_load(RULES.read_text())
    names: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            names.update(re.findall(r"\behcp_[a-z_]+\b", rule["expr"]))
    return names


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Worker, connectors and workspace running; name -> base URL of its /metrics."""
    home = tmp_path_factory.mktemp("metrics")
    broker = start_local_broker(home / "kafka")
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        settings = Settings(kafka_bootstrap=broker.config.bootstrap, pseudonym_key="s" * 64,
                            partitions=2, app_id="ehcp-test-metrics", data_dir=home / "data",
                            credentials_file=home / "credentials.json",
                            documents_dir=home / "documents", alert_tick_s=1.0)
        apply_topics(settings, catalogue(settings.app_id))
        worker_port, http_port, workspace_port = free_ports(3)
        env = {**settings_env(settings), "EHCP_METRICS_TOKEN": TOKEN,
               "EHCP_READMODEL_URL": f"sqlite:///{home / 'readmodel.sqlite3'}",
               "EHCP_SUBMISSIONS_FILE": str(home / "submissions.jsonl"),
               "EHCP_AUDIT_SPOOL_FILE": str(home / "audit-spool.jsonl")}
        for args, extra in (
            (["worker"], {"EHCP_WORKER_METRICS_PORT": str(worker_port),
                          "EHCP_STALL_CHECK_S": "1"}),
            (["connectors"], {"EHCP_HTTP_PORT": str(http_port)}),
            (["workspace", "serve"], {"EHCP_WORKSPACE_PORT": str(workspace_port),
                                      "EHCP_WORKSPACE_PLAIN_HTTP": "true"}),
        ):
            log = home / f"{args[0]}.log"
            procs.append((spawn(args, {**env, **extra}, log), log))
        bases = {"worker": f"http://127.0.0.1:{worker_port}",
                 "connectors": f"http://127.0.0.1:{http_port}",
                 "workspace": f"http://127.0.0.1:{workspace_port}"}
        for name, base in bases.items():
            def up(base: str = base) -> bool:
                for proc, log in procs:
                    assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(up, 180, what=f"the {name}")
        _produce_inputs(settings)
        yield bases
    finally:
        for proc, _ in procs:
            stop(proc)
        broker.stop()


CASE_ID = f"EHC-886-MET-{uuid.uuid4().hex[:6]}"


def _produce_inputs(settings: Settings) -> None:
    """A referral the worker processes, and bytes that are not Avro, which it dead-letters."""
    from kafka import KafkaProducer

    value, headers = referral_message(CASE_ID, datetime.now(UTC) - timedelta(days=3))
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        producer.send(REFERRALS.name, value, key=CASE_ID.encode(), headers=headers).get(30)
        producer.send(REFERRALS.name, b"\x00\xffnot avro", key=CASE_ID.encode(),
                      headers=headers).get(30)
    finally:
        producer.close()


def scrape(base: str) -> str:
    """GET /metrics with the token."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                       timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.text


def test_every_metric_the_rules_use_is_exported(components: dict[str, str]) -> None:
    """The union of the three scrapes holds every ehcp_* name of docs/prometheus-rules.yml; the
    worker's stream counters have samples once it has processed and dead-lettered input."""
    wanted_worker = {"ehcp_events_consumed_total", "ehcp_events_published_total",
                     "ehcp_dead_letters_total", "ehcp_consumer_lag",
                     "ehcp_worker_guard_trips_total", "ehcp_worker_restarts_total"}

    def worker_counted() -> bool:
        return wanted_worker <= sample_names(scrape(components["worker"]))

    wait_until(worker_counted, 180, what="the worker's counters")
    for base in components.values():  # some traffic of each HTTP route kind
        httpx.get(f"{base}/healthz", timeout=10)
    texts = {name: scrape(base) for name, base in components.items()}
    exported = set().union(*(exported_names(text) for text in texts.values()))
    used = rule_metrics()
    assert len(used) >= 10, used  # the rules were read
    assert sorted(used - exported) == []
    assert {"ehcp_alerts_open", "ehcp_advice_overdue", "ehcp_read_model_up"} <= sample_names(
        texts["workspace"])
    assert "ehcp_http_requests_total" in sample_names(texts["connectors"])
    for text in texts.values():
        assert CASE_ID not in text  # no case id in any label


def test_metrics_need_the_token_on_every_component(components: dict[str, str]) -> None:
    """Without the token, or with another, every component answers 401."""
    for base in components.values():
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        other = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer " + "x" * 48},
                          timeout=10)
        assert other.status_code == 401


def test_the_connectors_and_the_workspace_turn_ready(components: dict[str, str]) -> None:
    """/readyz answers 200 with every check ok once Kafka is connected and the feeds caught up."""
    for name in ("connectors", "workspace"):
        def ready(name: str = name) -> dict[str, object] | None:
            answer = httpx.get(f"{components[name]}/readyz", timeout=30)
            return answer.json() if answer.status_code == 200 else None

        body = wait_until(ready, 120, what=f"the {name} to be ready")
        assert body["status"] == "ready"
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert set(checks.values()) == {"ok"}
        assert {"kafka", "read_model"} <= set(checks)
    connectors = httpx.get(f"{components['connectors']}/readyz", timeout=30).json()
    assert "feeds" in connectors["checks"]
