"""Records, subscriptions and a notifier with fakes, for the notification tests (all tiers)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ehcp.casework.calendar import Calendar
from ehcp.clock import FixedClock
from ehcp.contract import records
from ehcp.contract.avro import default_codec
from ehcp.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.readmodel.store import open_engine
from notify import model, store
from notify.fakes import FakeEmailSender, FakeWebhookSender
from notify.model import Channel, Subscription
from notify.service import Incoming, Notifier, NotifierConfig
from notify.webhooks import new_secret
from tests.support import synthetic_nhs_number
from tests.unit.contract.records import CASE_STATUS, REFERRAL_RECEIVED

CODEC = default_codec()
WORKSPACE = "https://workspace.example.gov.uk"
def referral_record(case_id: str, la_code: str) -> dict[str, Any]:
    """A ``ReferralReceived`` opening ``case_id`` for ``la_code``, for a child with a fresh
    synthetic NHS number (so a stream worker reading the topic never sees two cases for one
    child) and the sample date of birth."""
    child = {**REFERRAL_RECEIVED["child"], "identifiers": [
        {"system": NHS_NUMBER_SYSTEM, "value": synthetic_nhs_number()}]}
    return {**REFERRAL_RECEIVED, "event_id": str(uuid.uuid4()), "case_id": case_id,
            "la_code": la_code, "child": child}


def child_secrets(referral: dict[str, Any]) -> list[str]:
    """What of the referral's child must never appear in a notification: identifiers and the
    date of birth in the forms people write it."""
    born = referral["child"]["date_of_birth"]
    return [str(i["value"]) for i in referral["child"]["identifiers"]] + [
        born.isoformat(), born.strftime("%d/%m/%Y")]


def alert_record(case_id: str | None, *, event_id: str | None = None, kind: str = "ADVICE_OVERDUE",
                 status: str = "RAISED", severity: str = "WARNING", agency: str = "RVV",
                 advice_type: str = "MEDICAL") -> dict[str, Any]:
    """An ``Alert`` about ``case_id``'s advice asked of the trust ``agency``."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "alert_id": f"{case_id}|{kind}|{advice_type}",
        "case_id": case_id, "kind": kind, "status": status, "severity": severity,
        "advice_type": advice_type,
        "agency": {"system": ODS_ORGANISATION_SYSTEM, "value": agency},
        "due_on": date(2026, 2, 23), "days_overdue": 3 if kind == "ADVICE_OVERDUE" else 0,
        "regulation": "reg 8(1)", "message": "medical advice is overdue",
        "as_of": date(2026, 2, 26),
    }


def status_record(case_id: str, la_code: str | None) -> dict[str, Any]:
    """A ``CaseStatus`` of ``case_id``; ``la_code`` is the LA owning the case (v4, after a reg 15
    transfer the new LA; None as a pre-v4 status had none)."""
    return {**CASE_STATUS, "case_id": case_id, "la_code": la_code}


def incoming(topic: str, record: dict[str, Any], *, offset: int = 0,
             timestamp_ms: int = 1_800_000_000_000) -> Incoming:
    """A Kafka record as the notifier reads it."""
    if "stage" in record:
        name = records.CASE_STATUS
    else:
        name = records.REFERRAL_RECEIVED if "la_code" in record else records.ALERT
    return Incoming(topic, 0, offset, CODEC.encode(name, record), timestamp_ms)


def subscription(*, la: str | None = "886", agency: str | None = None, email: str | None = None,
                 webhook: str | None = None, digest_at: time | None = None,
                 kinds: tuple[str, ...] = (), created_ms: int = 0,
                 secret: str | None = None) -> Subscription:
    """A subscription built through the same checks as ``ehcp notify subscribe``."""
    recipient = model.parse_recipient(None if agency else la, agency)
    channel = Channel.EMAIL if email else Channel.WEBHOOK
    return Subscription(
        subscription_id=str(uuid.uuid4()), recipient=recipient, channel=channel,
        address=model.parse_email(email) if email else
        model.parse_webhook_url(webhook or "", allow_http=True),
        kinds=model.parse_kinds(kinds, recipient), min_severity="INFO",
        include_resolved=recipient.kind is model.RecipientKind.LOCAL_AUTHORITY,
        digest_at=digest_at, label="SEN team", created_ms=created_ms,
        webhook_secret=(secret or new_secret()) if channel is Channel.WEBHOOK else None)


def sqlite_engine(folder: Path) -> Engine:
    """A fresh notifications database in ``folder``."""
    engine = open_engine(f"sqlite:///{folder / 'notify.sqlite3'}")
    store.create_tables(engine)
    return engine


def notifier(engine: Engine, clock: FixedClock, *, email: FakeEmailSender | None = None,
             webhooks: FakeWebhookSender | None = None, retry_for_s: float = 3600.0,
             instance_id: str = "test-notifier") -> Notifier:
    """A notifier with fake channels, a fixed clock and no jitter."""
    return Notifier(engine, email=email or FakeEmailSender(), webhooks=webhooks or FakeWebhookSender(),
                    clock=clock, calendar=Calendar(),
                    config=NotifierConfig(instance_id=instance_id, workspace_url=WORKSPACE,
                                          retry_base_s=10, retry_cap_s=60, retry_for_s=retry_for_s),
                    jitter=lambda: 0.0)


def at(*args: int) -> datetime:
    """A UTC instant."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def publish(settings: Any, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Put (topic, key, record) on Kafka with CloudEvents headers (acks=all), in order."""
    import asyncio

    from connectors.kafka_publisher import KafkaPublisher
    from connectors.ports import PublishedEvent
    from ehcp.contract.cloudevents import event_type
    from ehcp.contract.topics import ALERTS, CASE_STATUS, REFERRALS

    names = {REFERRALS.name: records.REFERRAL_RECEIVED, ALERTS.name: records.ALERT,
             CASE_STATUS.name: records.CASE_STATUS}

    async def run() -> None:
        publisher = KafkaPublisher(settings, CODEC, source="/tests")
        try:
            for topic, key, record in messages:
                schema = names[topic]
                await publisher.publish(PublishedEvent(topic, key, schema, record,
                                                       event_type(schema), key))
        finally:
            await publisher.close()

    asyncio.run(run())


def notify_env(base: dict[str, str], folder: Path, *, smtp_port: int, smtp_ca: Path,
               group: str, instance: str = "notifier-under-test") -> dict[str, str]:
    """The environment of ``ehcp notify`` child processes in the tests."""
    from tests.smtp_server import PASSWORD, USER

    return {
        **base,
        "EHCP_READMODEL_URL": f"sqlite:///{folder / 'notify.sqlite3'}",
        "EHCP_NOTIFY_GROUP_ID": group,
        "EHCP_NOTIFY_INSTANCE_ID": instance,
        "EHCP_NOTIFY_WEBHOOK_ALLOW_HTTP": "true",
        "EHCP_NOTIFY_POLL_S": "0.5",
        "EHCP_NOTIFY_RETRY_BASE_S": "1",
        "EHCP_NOTIFY_WORKSPACE_URL": WORKSPACE,
        "EHCP_SMTP_HOST": "127.0.0.1",
        "EHCP_SMTP_PORT": str(smtp_port),
        "EHCP_SMTP_USERNAME": USER,
        "EHCP_SMTP_PASSWORD": PASSWORD,
        "EHCP_SMTP_CA_FILE": str(smtp_ca),
        "EHCP_SMTP_FROM": "ehcp-exchange@example.gov.uk",
        "EHCP_SMTP_TIMEOUT_S": "10",
    }
