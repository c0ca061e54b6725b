"""A small process supervisor: keeps one child running, restarting it when it exits on its own.

``ehcp worker`` runs the Faust worker under it, because the worker deliberately crashes when it
detects skipped offsets or a stalled partition (see ``streams/safety.py``) and must come back to
re-read from its last committed offset. SIGTERM and SIGINT are passed to the child and stop the
loop; a child still running ``stop_grace_s`` later (Faust can hang in shutdown while Kafka is
unreachable) is killed, which is safe because offsets are committed only after the work is done.
Restarts back off from 1 s to 30 s, and the back-off resets once a child has run a minute.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from types import FrameType

import structlog

log = structlog.get_logger(__name__)


def supervise(
    argv: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_restarts: int | None = None,
    stop_grace_s: float = 30.0,
) -> int:
    """Run ``argv`` until asked to stop; return the last child's exit code."""
    stopping_since: float | None = None
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def wait(proc: subprocess.Popen[bytes]) -> int:
        while True:
            try:
                return proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if stopping_since is not None and time.monotonic() - stopping_since > stop_grace_s:
                    log.error("worker_killed", after_seconds=stop_grace_s)
                    proc.kill()

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    backoff = 1.0
    restarts = 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(list(argv))
            code = wait(child)
            if stopping_since is not None:
                return code
            if max_restarts is not None and restarts >= max_restarts:
                return code
            if time.monotonic() - started > 60:
                backoff = 1.0
            restarts += 1
            log.error("worker_restarting", exit_code=code, restart=restarts, in_seconds=backoff)
            sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
