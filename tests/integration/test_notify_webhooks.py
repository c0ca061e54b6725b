"""Webhooks to a real HTTP receiver that verifies them with the standardwebhooks library."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from ehcp.casework.calendar import Calendar
from ehcp.clock import FixedClock
from ehcp.contract.topics import ALERTS, REFERRALS
from notify import store
from notify.fakes import FakeEmailSender
from notify.ports import DeliveryError, OutgoingWebhook
from notify.service import Notifier, NotifierConfig
from notify.webhooks import HttpWebhookSender, new_secret
from tests.notify_support import (
    CODEC,
    alert_record,
    at,
    incoming,
    referral_record,
    sqlite_engine,
    subscription,
)
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.integration
CASE = "EHC-886-2026-0042"


def _sender() -> HttpWebhookSender:
    return HttpWebhookSender(timeout_s=10, now_s=time.time)


def test_a_signed_webhook_is_accepted_and_a_wrong_secret_refused() -> None:
    """The library verifies our signature with the right secret; with another secret the receiver refuses (401, permanent)."""
    secret = new_secret()
    with webhook_receiver(secret) as receiver:
        sender = _sender()
        sender.send(OutgoingWebhook(receiver.url, secret, "msg_1", b'{"type":"alert.raised"}'))
        assert receiver.accepted == {"msg_1": {"type": "alert.raised"}}
        with pytest.raises(DeliveryError) as refused:
            sender.send(OutgoingWebhook(receiver.url, new_secret(), "msg_2", b'{"a":1}'))
        assert (refused.value.transient, refused.value.reason) == (
            False, "webhook endpoint answered 401")
        assert receiver.refused == ["No matching signature found"]
        sender.close()


def test_a_stale_timestamp_is_refused_by_the_receiver() -> None:
    """A call signed ten minutes ago fails the library's timestamp check (replay protection)."""
    secret = new_secret()
    with webhook_receiver(secret) as receiver:
        stale = HttpWebhookSender(timeout_s=10, now_s=lambda: time.time() - 600)
        with pytest.raises(DeliveryError):
            stale.send(OutgoingWebhook(receiver.url, secret, "msg_old", b"{}"))
        assert receiver.refused == ["Message timestamp too old"]
        stale.close()


def test_5xx_and_429_are_transient_and_nothing_listening_too() -> None:
    """503 and 429 are retried; a closed port is a transient network failure."""
    secret = new_secret()
    with webhook_receiver(secret) as receiver:
        receiver.script[:] = [503, 429]
        sender = _sender()
        for _ in range(2):
            with pytest.raises(DeliveryError) as failed:
                sender.send(OutgoingWebhook(receiver.url, secret, "msg_r", b"{}"))
            assert failed.value.transient
        sender.send(OutgoingWebhook(receiver.url, secret, "msg_r", b"{}"))
        assert list(receiver.accepted) == ["msg_r"]
        url = receiver.url
    with pytest.raises(DeliveryError) as down:
        sender.send(OutgoingWebhook(url, secret, "msg_x", b"{}"))
    assert down.value.transient
    sender.close()


def test_the_notifier_retries_a_failing_endpoint_with_the_same_id_and_body(tmp_path: Path) -> None:
    """Two 503s then 204: the receiver sees three calls with one webhook-id, and the delivery is sent once."""
    engine = sqlite_engine(tmp_path)
    secret = new_secret()
    with webhook_receiver(secret) as receiver:
        receiver.script[:] = [503, 503]
        store.add_subscription(engine, subscription(webhook=receiver.url, secret=secret))
        clock = FixedClock(at(2026, 2, 26, 9))
        sender = HttpWebhookSender(timeout_s=10, now_s=time.time)
        notifier = Notifier(engine, email=FakeEmailSender(), webhooks=sender, clock=clock,
                            calendar=Calendar(), jitter=lambda: 0.5,
                            config=NotifierConfig(instance_id="t", retry_base_s=10))
        notifier.ingest([incoming(REFERRALS.name, referral_record(CASE, "886")),
                         incoming(ALERTS.name, alert_record(CASE), offset=1)], CODEC)
        for _ in range(3):
            notifier.dispatch()
            clock.instant += timedelta(seconds=30)
        assert len(receiver.calls) == 3
        assert len({c["webhook-id"] for c in receiver.calls}) == 1
        ((webhook_id, payload),) = receiver.accepted.items()
        assert payload["type"] == "alert.raised"
        assert payload["data"]["case_id"] == CASE
        assert payload["data"]["due_on"] == "2026-02-23"
        (sent,) = store.deliveries_with(engine, store.SENT)
        assert webhook_id == f"msg_{sent.delivery_id}"
        assert sent.attempts == 3
        sender.close()
