"""Session fixtures: one real Kafka broker per test session, started only if a test needs it.

The broker runs from the jars ``ehcp kafka`` caches (fetched with Maven on first use), with a
fresh data folder and free ports, and is stopped when the session ends, whether tests passed or
failed. Unit tests never touch it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ehcp.contract.topics import catalogue
from ehcp.kafka_io.broker.local import BrokerConfig, LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.settings import Settings
from tests.support import free_ports

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a real single-node Kafka broker for the session; yield its bootstrap address."""
    port, controller_port = free_ports(2)
    home = tmp_path_factory.mktemp("kafka-home")
    broker = LocalBroker(
        BrokerConfig(home=home, port=port, controller_port=controller_port),
        REPO / ".ehcp" / "kafka",
    )
    broker.start(timeout_s=180)
    try:
        yield broker.config.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def pseudonym_key() -> str:
    """A random pseudonym key for this session."""
    return secrets.token_hex(32)


@pytest.fixture(scope="session")
def kafka_settings(
    kafka_bootstrap: str, pseudonym_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings pointing at the session broker, with the catalogue's topics applied."""
    state = tmp_path_factory.mktemp("ehcp-state")
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        pseudonym_key=pseudonym_key,
        partitions=4,
        app_id="ehcp-test-streams",
        data_dir=state / "data",
        credentials_file=state / "credentials.json",
        documents_dir=state / "documents",
        alert_tick_s=1.0,
        log_json=True,
    )
    apply_topics(settings, catalogue(settings.app_id))
    return settings
