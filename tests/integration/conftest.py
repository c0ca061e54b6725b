"""Fixtures for the integration tier (the session broker itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ehcp.kafka_io.broker.local import BrokerConfig, LocalBroker
from tests.support import REPO, free_ports


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of the test's own (empty topics; it may stop and start it), beside the session broker."""
    port, controller = free_ports(2)
    broker = LocalBroker(BrokerConfig(home=tmp_path / "kafka", port=port, controller_port=controller),
                         REPO / ".ehcp" / "kafka")
    broker.start(timeout_s=180)
    try:
        yield broker
    finally:
        broker.stop()
