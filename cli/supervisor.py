"""A small process supervisor: keeps one child running, restarting it when it exits on its own.

``ehcp worker`` runs the Faust worker under it, because the worker deliberately crashes when it
detects skipped offsets or a stalled partition (see ``streams/safety.py``) and must come back to
re-read from its last committed offset. SIGTERM and SIGINT are passed to the child and stop the
loop; a child still running ``stop_grace_s`` later (Faust can hang in shutdown while Kafka is
unreachable) is killed, which is safe because offsets are committed only after the work is done.
A child that ran at least ``healthy_after_s`` (10 s) before it exited is restarted at once; one
that exits sooner (a crash loop) is restarted after a back-off from 1 s doubling to 30 s.

Static group membership (:func:`supervise_worker`): each supervisor claims a worker slot, the
lowest free number on this host for its app id, held with an advisory lock on
``<tmp>/ehcp-worker-slots-<uid>/<app id>/<n>.lock``. Its children join the consumer group with
``group.instance.id`` = ``<app id>-<host name>-<n>``: a restarted child rejoins as the same member
and gets its partitions back at once, instead of waiting for the dead one's session to time out.
Two live consumers with one id would fence each other, hence the lock: the child inherits the
locked file, so a slot stays taken while either the supervisor or its child lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from ehcp.errors import ConfigurationError
from ehcp.metrics import MULTIPROC_ENV, scrape_registry
from ehcp.settings import Settings

log = structlog.get_logger(__name__)
#: Environment variable that carries the slot's instance id to the child (``Settings``).
INSTANCE_ID_VAR = "EHCP_GROUP_INSTANCE_ID"


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """A claimed worker slot: its group instance id and the locked file that holds it."""

    instance_id: str
    lock_fd: int

    def release(self) -> None:
        """Give the slot up (children that inherited the lock keep it until they exit)."""
        os.close(self.lock_fd)


def default_slot_dir(app_id: str) -> Path:
    """Where this user's worker slots for ``app_id`` are locked on this host."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", app_id)
    return Path(tempfile.gettempdir()) / f"ehcp-worker-slots-{os.getuid()}" / safe


def claim_worker_slot(
    app_id: str, slot_dir: Path | None = None, max_slots: int = 256
) -> WorkerSlot:
    """Lock the lowest free worker slot for ``app_id`` on this host.

    Raises:
        ConfigurationError: all ``max_slots`` slots are taken.
    """
    folder = slot_dir or default_slot_dir(app_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    host = socket.gethostname()
    for n in range(max_slots):
        fd = os.open(folder / f"{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return WorkerSlot(f"{app_id}-{host}-{n}", fd)
    raise ConfigurationError(f"all {max_slots} worker slots in {folder} are taken")


def supervise_worker(settings: Settings, argv: Sequence[str], **options: Any) -> int:
    """:func:`supervise` a worker, as a static group member when the settings ask for it.

    With ``static_membership`` on and no ``group_instance_id`` given, claims a worker slot and
    gives every child its instance id (and the slot's lock). An explicit ``group_instance_id``
    is passed on as it is: the operator keeps it unique.

    Args:
        settings: ``static_membership``, ``group_instance_id`` and ``app_id`` are read.
        argv: the worker's command line.
        **options: passed on to :func:`supervise` (``sleep``, ``max_restarts``, ...).
    """
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if settings.worker_metrics_port is not None:
            env[MULTIPROC_ENV], on_exit = stack.enter_context(
                _metrics_server(settings, settings.worker_metrics_port))
            options.setdefault("on_exit", on_exit)
        if not settings.static_membership or settings.group_instance_id:
            return supervise(argv, env=env, **options)
        slot = claim_worker_slot(settings.app_id)
        stack.callback(slot.release)
        log.info("worker_slot_claimed", group_instance_id=slot.instance_id)
        return supervise(
            argv,
            env={**env, INSTANCE_ID_VAR: slot.instance_id},
            pass_fds=(slot.lock_fd,),
            **options,
        )
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


@contextlib.contextmanager
def _metrics_server(settings: Settings,
                    port: int) -> Iterator[tuple[str, Callable[[int, bool], None]]]:
    """Serve the worker's metrics: its children count in files that outlive a crash, the
    supervisor adds them up and counts the restarts (docs/operations.md).

    Yields:
        The children's multiprocess folder and the callback for a child's exit.
    """
    from prometheus_client.multiprocess import mark_process_dead

    from ehcp.metrics import MetricsServer, fresh_multiprocess_dir, restarts_counter

    folder = fresh_multiprocess_dir(settings.data_dir / "metrics" / f"worker-{os.getpid()}")
    registry = scrape_registry(multiprocess_dir=folder)
    restarts = restarts_counter(registry)
    server = MetricsServer(settings.metrics_host, port, registry,
                           settings.metrics_token).start()
    log.info("worker_metrics_serving", host=settings.metrics_host, port=server.port)

    def on_exit(pid: int, restarting: bool) -> None:
        mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]  # its gauges end
        if restarting:
            restarts.inc()

    try:
        yield str(folder), on_exit
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def supervise(
    argv: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_restarts: int | None = None,
    stop_grace_s: float = 30.0,
    healthy_after_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    on_exit: Callable[[int, bool], None] | None = None,
) -> int:
    """Run ``argv`` until asked to stop; return the last child's exit code.

    Args:
        argv: the child's command line.
        sleep: waits out the back-off (tests pass a recorder).
        max_restarts: stop after this many restarts (None: never).
        stop_grace_s: after SIGTERM/SIGINT, kill a child still running this much later.
        healthy_after_s: a child that ran this long was healthy: it is restarted at once and the
            back-off starts again at 1 s.
        clock: monotonic seconds, for the child's run time.
        env: the child's environment (None: ours).
        pass_fds: file descriptors the child inherits (the worker slot's lock).
        on_exit: called with a child's pid when it has exited, and whether it is restarted.
    """
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
            started = clock()
            child = subprocess.Popen(
                list(argv), env=None if env is None else dict(env), pass_fds=tuple(pass_fds)
            )
            code = wait(child)
            stopping = stopping_since is not None or (
                max_restarts is not None and restarts >= max_restarts)
            if on_exit is not None:
                on_exit(child.pid, not stopping)
            if stopping:
                return code
            # A child that ran a while was healthy: restart it at once, and start the back-off
            # (meant for crash loops) again from 1 s.
            healthy = clock() - started >= healthy_after_s
            delay = 0.0 if healthy else backoff
            backoff = 1.0 if healthy else min(backoff * 2, 30.0)
            restarts += 1
            log.error("worker_restarting", exit_code=code, restart=restarts, in_seconds=delay)
            sleep(delay)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
