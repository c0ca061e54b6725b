"""Fixtures for the integration tier (the session broker itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ehcp.kafka_io.broker.local import LocalBroker
from tests.support import start_local_broker


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of the test's own (empty topics; it may stop and start it), beside the session broker."""
    broker = start_local_broker(tmp_path / "kafka")
    try:
        yield broker
    finally:
        broker.stop()
