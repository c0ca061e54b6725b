"""Helpers shared by the test tiers: free ports, synthetic identifiers, polling."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from ehcp.identifiers import nhs_number_check_digit

T = TypeVar("T")
_counter = itertools.count(1)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def synthetic_nhs_number(seed: int | None = None) -> str:
    """A synthetic NHS number that passes its Modulus 11 check (999 prefix, never issued)."""
    n = next(_counter) if seed is None else seed
    for offset in range(100):
        prefix = f"999{(n * 37 + offset) % 1_000_000:06d}"
        check = nhs_number_check_digit(prefix)
        if check is not None:
            return f"{prefix}{check}"
    raise AssertionError("no valid NHS number near seed")  # pragma: no cover


def wait_until(
    probe: Callable[[], T | None],
    timeout_s: float = 60,
    interval_s: float = 0.5,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
