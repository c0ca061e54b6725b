"""The local broker's readiness probe answers quickly when nothing listens yet (no broker needed)."""

from __future__ import annotations

import time

import pytest

from ehcp.errors import BrokerError
from ehcp.kafka_io.broker.local import metadata_ok
from tests.support import free_ports


def test_a_port_nobody_listens_on_is_reported_in_seconds_not_half_a_minute() -> None:
    """One probe of a port with no broker gives up within a few seconds, so readiness polling
    notices a broker that starts listening soon after (it used to block 30 s per probe)."""
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(BrokerError):
        metadata_ok(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 10
