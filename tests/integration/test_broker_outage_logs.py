"""A broker outage under a running worker is logged once, not once per reconnection attempt.

This test runs its own broker (the session broker must stay up for the other tests), starts
``ehcp worker`` against it (a Faust consumer and producer), stops the broker for about ten
seconds, starts it again and counts the worker's error lines.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ehcp.contract.topics import catalogue
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.settings import Settings
from tests.support import settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _error_lines(text: str) -> list[str]:
    """Lines at ERROR level, in Faust's text format or as JSON."""
    return [line for line in text.splitlines() if "[ERROR]" in line or '"level": "error"' in line]


def test_a_ten_second_outage_logs_the_lost_broker_a_few_times(own_broker: LocalBroker,
                                                             tmp_path: Path) -> None:
    """Ten seconds without Kafka give a handful of connection errors from the worker, not hundreds."""
    settings = Settings(kafka_bootstrap=own_broker.config.bootstrap, pseudonym_key="k" * 40,
                        app_id="ehcp-outage-logs", data_dir=tmp_path / "data",
                        credentials_file=tmp_path / "credentials.json",
                        documents_dir=tmp_path / "documents")
    apply_topics(settings, catalogue(settings.app_id))
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], settings_env(settings), log)
    try:
        wait_until(lambda: worker.poll() is None and "Ready" in log.read_text(), timeout_s=120,
                   what="the worker to be ready")
        own_broker.stop()
        time.sleep(10)
        own_broker.start(timeout_s=180)
        time.sleep(5)  # the clients reconnect and log whatever they log about it
    finally:
        stop(worker)
    text = log.read_text()
    lost = [line for line in text.splitlines() if "Unable connect to" in line]
    errors = _error_lines(text)
    print(f"worker log: {len(lost)} 'Unable connect' lines, {len(errors)} error lines")
    assert lost, "the lost broker is logged at least once"
    assert len(lost) <= 6, f"{len(lost)} 'Unable connect' lines:\n" + "\n".join(lost[:20])
    assert len(errors) <= 20, f"{len(errors)} error lines:\n" + "\n".join(errors[:40])
