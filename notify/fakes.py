"""In-memory channels for tests: record what was sent, or fail as told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from notify.ports import DeliveryError, OutgoingEmail, OutgoingRestHook, OutgoingWebhook


@dataclass
class FakeEmailSender:
    """Keeps every email it is given; ``failure`` (if set) decides a failure per email."""

    sent: list[OutgoingEmail] = field(default_factory=list)
    failure: Callable[[OutgoingEmail], DeliveryError | None] | None = None

    def send(self, email: OutgoingEmail) -> None:
        """Record ``email``, or raise what ``failure`` returns."""
        error = self.failure(email) if self.failure else None
        if error is not None:
            raise error
        self.sent.append(email)


@dataclass
class FakeWebhookSender:
    """Keeps every webhook it is given; ``failure`` (if set) decides a failure per call."""

    sent: list[OutgoingWebhook] = field(default_factory=list)
    failure: Callable[[OutgoingWebhook], DeliveryError | None] | None = None

    def send(self, webhook: OutgoingWebhook) -> None:
        """Record ``webhook``, or raise what ``failure`` returns."""
        error = self.failure(webhook) if self.failure else None
        if error is not None:
            raise error
        self.sent.append(webhook)


@dataclass
class FakeRestHookSender:
    """Keeps every rest-hook call it is given; ``failure`` (if set) decides a failure per call."""

    sent: list[OutgoingRestHook] = field(default_factory=list)
    failure: Callable[[OutgoingRestHook], DeliveryError | None] | None = None

    def send(self, hook: OutgoingRestHook) -> None:
        """Record ``hook``, or raise what ``failure`` returns."""
        error = self.failure(hook) if self.failure else None
        if error is not None:
            raise error
        self.sent.append(hook)
