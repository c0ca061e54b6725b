"""Per-key locks: within one process (asyncio) and across processes sharing a folder (flock)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ehcp.errors import EhcpError

#: How many lock files a :class:`FileKeyLocks` spreads keys over (keys may share one).
STRIPES: Final = 256
_POLL_S: Final = 0.02


class LockTimeoutError(EhcpError):
    """The key stayed locked for longer than the caller would wait."""


@dataclass
class KeyedLocks:
    """One asyncio lock per key, so work on one key runs one at a time in a process."""

    _locks: dict[Any, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        """Hold the lock for ``key``; forget it when nobody waits."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class FileLease:
    """An exclusive flock on one lock file (and this process's lock for it), until released."""

    def __init__(self, fd: int, local: asyncio.Lock) -> None:
        self._fd: int | None = fd
        self._local = local

    def release(self) -> None:
        """Unlock and close; a second call does nothing."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
                self._local.release()


class FileKeyLocks:
    """Keys locked across every process that shares ``folder`` (flock on striped lock files).

    Within a process, holders of one lock file queue on an asyncio lock (no polling); between
    processes they poll the flock. The kernel releases a dead process's locks. Keys are hashed
    onto :data:`STRIPES` files (unrelated keys may occasionally wait for each other; the folder
    never grows).
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._local: dict[int, asyncio.Lock] = {}

    async def acquire(self, key: str, timeout_s: float) -> FileLease:
        """Lock ``key``, waiting at most ``timeout_s`` without blocking the event loop.

        Raises:
            LockTimeoutError: the key was still locked when the time ran out.
        """
        deadline = time.monotonic() + timeout_s
        stripe = int(hashlib.sha256(key.encode()).hexdigest(), 16) % STRIPES
        local = self._local.setdefault(stripe, asyncio.Lock())
        try:
            await asyncio.wait_for(local.acquire(), timeout_s)
        except TimeoutError:
            raise LockTimeoutError(key) from None
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._folder / f"{stripe:03d}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            local.release()
            raise
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return FileLease(fd, local)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    local.release()
                    raise LockTimeoutError(key) from None
                await asyncio.sleep(_POLL_S)
