"""Webhooks per the Standard Webhooks specification (https://www.standardwebhooks.com/).

Each call is a POST of a JSON body with three headers:

- ``webhook-id``: the delivery id (deterministic: the same alert to the same endpoint always has
  the same id, so a receiver drops a repeat it has already processed);
- ``webhook-timestamp``: seconds since the epoch at signing (receivers refuse stale ones);
- ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with
  the endpoint's secret (``whsec_`` + base64 key bytes).

The signature is a few lines of standard-library HMAC; the ``standardwebhooks`` library verifies
it in the tests (a receiver built on it accepts these calls and refuses a wrong secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx

from notify.ports import DeliveryError, OutgoingRestHook, OutgoingWebhook

#: HTTP answers worth retrying: timeout, rate limited, and every 5xx.
_TRANSIENT = {408, 425, 429}


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one call."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class HttpWebhookSender:
    """Posts signed webhooks with httpx (TLS verified; redirects not followed).

    Args:
        timeout_s: connect and read timeout per call.
        ca_file: PEM CA bundle for the endpoints (None: the system's CAs).
        now_s: seconds since the epoch (the injected clock's; tests pin it).
        transport: an httpx transport (tests may pass a mock one; None: the network).
    """

    def __init__(self, *, timeout_s: float, now_s: Callable[[], float],
                 ca_file: Path | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            timeout=timeout_s, verify=str(ca_file) if ca_file else True,
            follow_redirects=False, transport=transport,
            headers={"user-agent": "ehcp-exchange-notifier"})
        self._now_s = now_s

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def send(self, webhook: OutgoingWebhook) -> None:
        """POST ``webhook``; return on a 2xx answer.

        Raises:
            DeliveryError: transient for a network failure, 408, 425, 429 or 5xx; permanent
                for any other answer (a 3xx is not followed: the endpoint must be exact).
        """
        timestamp = int(self._now_s())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(webhook.secret, webhook.message_id, timestamp,
                                           webhook.body),
        }
        try:
            # Streamed and never read: an endpoint's answer body is of no interest, and a huge
            # one must not fill the notifier's memory.
            with self._client.stream("POST", webhook.url, content=webhook.body,
                                     headers=headers) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook call failed: {type(exc).__name__}",
                                transient=True) from exc
        _check_answer(status, "webhook")


def _check_answer(status: int, what: str) -> None:
    if 200 <= status < 300:
        return
    raise DeliveryError(f"{what} endpoint answered {status}",
                        transient=status in _TRANSIENT or status >= 500)


class HttpRestHookSender:
    """PUTs FHIR resources to trusts' rest-hook endpoints with httpx (TLS verified; redirects
    not followed), with the subscription's own headers (``channel.header``).

    Args:
        timeout_s: connect and read timeout per call.
        ca_file: PEM CA bundle for the endpoints (None: the system's CAs).
        transport: an httpx transport (tests may pass a mock one; None: the network).
    """

    def __init__(self, *, timeout_s: float, ca_file: Path | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            timeout=timeout_s, verify=str(ca_file) if ca_file else True,
            follow_redirects=False, transport=transport,
            headers={"user-agent": "ehcp-exchange-notifier"})

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def send(self, hook: OutgoingRestHook) -> None:
        """PUT ``hook``; return on a 2xx answer.

        Raises:
            DeliveryError: as for webhooks: transient for a network failure, 408, 425, 429 or
                5xx; permanent for any other answer.
        """
        headers = [(n, v) for n, v in hook.headers]
        headers.append(("content-type", "application/fhir+json"))
        try:
            with self._client.stream("PUT", hook.url, content=hook.body,
                                     headers=headers) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            raise DeliveryError(f"rest-hook call failed: {type(exc).__name__}",
                                transient=True) from exc
        _check_answer(status, "rest-hook")
