"""The channels as small interfaces: an email sender and a webhook sender, and their failure.

Real adapters: :class:`notify.smtp.SmtpEmailSender`, :class:`notify.webhooks.HttpWebhookSender`.
Fakes for tests: :mod:`notify.fakes`. Both kinds of sender raise only :class:`DeliveryError`,
which says whether trying again may help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ehcp.errors import EhcpError


class DeliveryError(EhcpError):
    """A channel did not take a notification.

    Attributes:
        transient: True if a later attempt may succeed (a dropped connection, SMTP 4xx, HTTP
            5xx, 408 or 429, a timeout); False if the recipient refused for good (SMTP 5xx,
            another HTTP 4xx): the delivery is dead-lettered at once.
        reason: a short description for operators; never a secret, password or message body.
    """

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One email: a single recipient, a deterministic Message-ID, two bodies."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str


@dataclass(frozen=True, slots=True)
class OutgoingWebhook:
    """One webhook call: the endpoint, its secret, the message id and the exact body bytes."""

    url: str
    secret: str
    message_id: str
    body: bytes

    def __repr__(self) -> str:
        return f"OutgoingWebhook({self.message_id!r})"  # never the secret


@dataclass(frozen=True, slots=True)
class OutgoingRestHook:
    """One FHIR rest-hook call: PUT the resource to ``url`` with the subscription's headers."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delivery_id: str

    def __repr__(self) -> str:
        return f"OutgoingRestHook({self.delivery_id!r})"  # never the headers


class EmailSender(Protocol):
    """Sends one email or raises :class:`DeliveryError`."""

    def send(self, email: OutgoingEmail) -> None:
        """Hand ``email`` to the mail system; returns once it took responsibility for it."""
        ...


class WebhookSender(Protocol):
    """Posts one webhook or raises :class:`DeliveryError`."""

    def send(self, webhook: OutgoingWebhook) -> None:
        """POST ``webhook`` signed; returns once the endpoint answered 2xx."""
        ...


class RestHookSender(Protocol):
    """PUTs one FHIR resource to a subscriber's endpoint or raises :class:`DeliveryError`."""

    def send(self, hook: OutgoingRestHook) -> None:
        """PUT ``hook``; returns once the endpoint answered 2xx."""
        ...
