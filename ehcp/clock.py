"""The injected clock. Casework never reads the time itself; composition roots pass a Clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the current time (tz-aware UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current instant, UTC."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock for tests: stands still until moved."""

    instant: datetime

    def now(self) -> datetime:
        """The fixed instant."""
        return self.instant
