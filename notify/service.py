"""The notifier's work, with the channels, the clock and the database passed in.

Three steps, each safe to repeat and safe to stop anywhere:

1. :meth:`Notifier.ingest` turns one Kafka batch (referrals, case statuses and alerts) into
   rows in one database transaction: case owners (the latest status naming an LA wins over the
   first referral's LA, as in the read model: a reg 15 transfer moves the case's alerts), held
   transitions, queued deliveries (deterministic ids:
   a batch read twice queues nothing new) and digest items. The consumer commits its Kafka
   offsets only after that transaction.
2. :meth:`Notifier.close_digests` queues each digest subscription's digest once its London
   time has come on a working day (deterministic id per subscription and slot).
3. :meth:`Notifier.dispatch` claims due deliveries (a lease: one notifier sends a delivery at a
   time), sends them, and records sent / retry later (exponential back-off with jitter) / failed
   (the dead letter: refused for good, or still failing after ``retry_for_s``).
"""

from __future__ import annotations

import functools
import json
import random
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ehcp.casework.calendar import Calendar
from ehcp.clock import Clock
from ehcp.contract import records as rec
from ehcp.contract.avro import AvroCodec
from ehcp.contract.topics import ALERTS, CASE_STATUS, REFERRALS
from ehcp.errors import ContractError, ReadModelError
from notify import decide, messages, store
from notify.model import (
    REST_HOOK,
    AlertTransition,
    Channel,
    FhirSubscription,
    RecipientKind,
    Subscription,
    UserScope,
)
from notify.ports import (
    DeliveryError,
    EmailSender,
    OutgoingEmail,
    OutgoingRestHook,
    OutgoingWebhook,
    RestHookSender,
    WebhookSender,
)

log = structlog.get_logger(__name__)

#: Longest identifiers the notifier's tables hold; longer ones are not the contract's.
_MAX_ID = 200
_MAX_MESSAGE = 1000


@dataclass(frozen=True, slots=True)
class Incoming:
    """One Kafka record as the notifier needs it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """How the notifier behaves (from ``Settings``; see docs/configuration.md).

    Attributes:
        instance_id: this notifier's name on the leases it takes.
        workspace_url: base of the case links in messages (None: no links).
        email_domain: the right-hand side of deterministic Message-IDs.
        retry_base_s: first retry delay; doubles per attempt up to ``retry_cap_s``.
        retry_for_s: after this long failing, a delivery is dead-lettered.
        lease_s: how long a claimed delivery is this notifier's alone.
        dispatch_budget_s: a dispatch pass claims no more once it has run this long.
    """

    instance_id: str
    workspace_url: str | None = None
    email_domain: str = "ehcp-exchange.invalid"
    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0
    retry_for_s: float = 24 * 3600.0
    lease_s: float = 300.0
    dispatch_budget_s: float = 60.0


@dataclass
class IngestReport:
    """What one batch did."""

    referrals: int = 0
    statuses: int = 0
    alerts: int = 0
    skipped: int = 0
    held: int = 0
    queued: int = 0
    digest_items: int = 0


@dataclass
class DispatchReport:
    """What one dispatch pass did, by outcome."""

    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def _ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


def _storable(t: AlertTransition) -> bool:
    """Identifiers short enough and free of NUL for every database (else the batch would fail
    forever); the contract's own ids are far shorter."""
    values = [t.event_id, t.case_id or "", t.agency_value or "", t.la_code or ""]
    return all(len(v) <= _MAX_ID and "\x00" not in v for v in values)


class Notifier:
    """Decides, records and sends notifications.

    Args:
        engine: the database holding the notifier's tables.
        email: the email channel.
        webhooks: the webhook channel.
        clock: the time (injected).
        calendar: working days for digests.
        config: behaviour.
        jitter: a number in [0, 1) per retry (``random.random``).
        rest_hooks: the FHIR rest-hook channel (trusts' Subscriptions; the FHIR connector
            queues their Tasks). None: such deliveries wait.
    """

    def __init__(self, engine: Engine, *, email: EmailSender, webhooks: WebhookSender,
                 clock: Clock, calendar: Calendar, config: NotifierConfig,
                 jitter: Callable[[], float] = random.random,
                 monotonic: Callable[[], float] = time_module.monotonic,
                 rest_hooks: RestHookSender | None = None) -> None:
        self._engine = engine
        self._email = email
        self._webhooks = webhooks
        self._rest_hooks = rest_hooks
        self._clock = clock
        self._calendar = calendar
        self._config = config
        self._jitter = jitter
        self._monotonic = monotonic

    # -- 1. Kafka records -> rows ------------------------------------------------------------

    def ingest(self, batch: Sequence[Incoming], codec: AvroCodec) -> IngestReport:
        """Record what ``batch`` means, in one transaction.

        A record that is not a valid referral, case status or alert is logged (topic,
        partition, offset) and skipped: the worker's own dead-letter handling has it, and it
        must not stop notifications.

        Raises:
            ReadModelError: the database refused; nothing of the batch is kept.
        """
        report = IngestReport()
        try:
            with self._engine.begin() as conn:
                subs = store.all_subscriptions(conn)
                users = (store.user_scopes(conn)
                         if any(s.recipient.kind is RecipientKind.USER for s in subs) else {})
                now_ms = _ms(self._clock)
                for item in batch:
                    self._ingest_one(conn, item, codec, _Audience(subs, users), now_ms, report)
        except SQLAlchemyError as exc:
            raise ReadModelError(
                f"notifications database refused a batch: {type(exc).__name__}") from exc
        return report

    def _ingest_one(self, conn: Connection, item: Incoming, codec: AvroCodec,
                    subs: _Audience, now_ms: int, report: IngestReport) -> None:
        where = {"topic": item.topic, "partition": item.partition, "offset": item.offset}
        try:
            if item.topic == REFERRALS.name:
                _, record = codec.decode(item.value or b"", rec.REFERRAL_RECEIVED)
                case_id, la_code = str(record["case_id"]), str(record["la_code"])
                if len(case_id) > _MAX_ID or len(la_code) > 8 or "\x00" in case_id + la_code:
                    raise ContractError("case id or LA code too long to be the contract's")
                report.referrals += 1
                self._owner_known(conn, case_id, store.record_referral(conn, case_id, la_code),
                                  subs, now_ms, report)
                return
            if item.topic == CASE_STATUS.name:
                if item.value is None:  # a tombstone (case removed): its owner stays recorded
                    return
                _, record = codec.decode(item.value, rec.CASE_STATUS)
                case_id = str(record["case_id"])
                status_la = record.get("la_code")  # v4: the LA owning the case (transfers)
                status_la = None if status_la is None else str(status_la)
                if len(case_id) > _MAX_ID or "\x00" in case_id or (
                        status_la is not None and (len(status_la) > 8 or "\x00" in status_la)):
                    raise ContractError("case id or LA code too long to be the contract's")
                report.statuses += 1
                self._owner_known(conn, case_id, store.record_status(conn, case_id, status_la),
                                  subs, now_ms, report)
                return
            if item.topic != ALERTS.name:
                return
            _, record = codec.decode(item.value or b"", rec.ALERT)
            transition = AlertTransition.from_record(record, item.timestamp_ms)
            if not _storable(transition):
                raise ContractError("an identifier is too long or holds a NUL character")
        except (ContractError, KeyError, TypeError, ValueError) as exc:
            report.skipped += 1
            log.warning("notify.record_skipped", reason=type(exc).__name__,
                        detail=str(exc)[:200], **where)
            return
        report.alerts += 1
        transition = _trimmed(transition)
        owner = store.owner_of(conn, transition.case_id)
        if transition.case_id is not None and owner is None:
            # The LA is not known yet (the referral and status are on other topics, maybe not
            # read yet): agencies can be told now; LA subscriptions when either names the LA.
            store.hold(conn, transition)
            report.held += 1
        self._route(conn, _with_owner(transition, owner), subs, now_ms, report)

    def _owner_known(self, conn: Connection, case_id: str, owner: str | None, subs: _Audience,
                     now_ms: int, report: IngestReport) -> None:
        """Route the case's held transitions now that its owner is known."""
        if owner is None:
            return
        for held in store.release_held(conn, case_id):
            self._route(conn, _with_owner(held, owner), subs, now_ms, report)

    def _route(self, conn: Connection, transition: AlertTransition, subs: _Audience,
               now_ms: int, report: IngestReport) -> None:
        holder = store.case_holder(conn, transition.case_id) if subs.users else None
        for sub in decide.matching(subs.subscriptions, transition, users=subs.users,
                                   case_holder=holder):
            if sub.digest_at is not None:
                store.add_digest_item(conn, sub.subscription_id, transition)
                report.digest_items += 1
                continue
            purpose = "reminder" if sub.recipient.kind is RecipientKind.AGENCY else "alert"
            if store.enqueue(conn, delivery_id=decide.delivery_id(sub.subscription_id,
                                                                  transition.event_id),
                             subscription=sub, purpose=purpose, items=[transition],
                             now_ms=now_ms):
                report.queued += 1

    # -- 2. digests ----------------------------------------------------------------------------

    def close_digests(self) -> int:
        """Queue the digest of every digest subscription whose time has come; return how many."""
        now = self._clock.now()
        made = 0
        for sub in store.all_subscriptions(self._engine):
            if sub.digest_at is None:
                continue
            slot = decide.latest_digest_slot(now, sub.digest_at, self._calendar)
            slot_ms = int(slot.timestamp() * 1000)
            count = store.close_digest(
                self._engine, sub, delivery_id=decide.digest_delivery_id(sub.subscription_id, slot),
                slot_ms=slot_ms, now_ms=_ms(self._clock))
            if count:
                made += 1
                log.info("notify.digest_queued", subscription_id=sub.subscription_id,
                         items=count, slot=slot.isoformat())
        return made

    # -- 3. send -------------------------------------------------------------------------------

    def release_own_leases(self) -> int:
        """At start: deliveries this instance had claimed when it stopped are free again."""
        return store.release_leases(self._engine, self._config.instance_id)

    def dispatch(self, limit: int = 100) -> DispatchReport:
        """Send what is due, up to ``limit`` deliveries or the dispatch time budget."""
        report = DispatchReport()
        started = self._monotonic()
        subs = {s.subscription_id: s for s in store.all_subscriptions(self._engine)}
        hooks = {s.subscription_id: s for s in store.all_fhir_subscriptions(self._engine)}
        owner = self._config.instance_id
        lease_ms = int(self._config.lease_s * 1000)
        for delivery_id in store.due(self._engine, _ms(self._clock), limit):
            if self._monotonic() - started > self._config.dispatch_budget_s:
                break
            delivery = store.claim(self._engine, delivery_id, owner, _ms(self._clock), lease_ms)
            if delivery is None:
                continue
            if delivery.channel == REST_HOOK:
                hook = hooks.get(delivery.subscription_id)
                if hook is not None and self._rest_hooks is not None:
                    send = functools.partial(self._rest_hooks.send,
                                             self._rest_hook_for(delivery, hook))
                    self._attempt(delivery, hook.subscription_id, send, report)
                    continue
                if hook is not None:  # no rest-hook channel here: the lease runs out
                    continue
            sub = subs.get(delivery.subscription_id)
            if sub is None:
                store.finish(self._engine, delivery_id, owner, status=store.CANCELLED,
                             now_ms=_ms(self._clock), error="subscription removed")
                report.cancelled.append(delivery_id)
                continue
            if sub.recipient.kind is RecipientKind.USER:
                # The address is the account's as it is now; a disabled account, or one
                # without an address, is sent nothing (`ehcp notify status` says why).
                contact = store.user_contact(self._engine, sub.recipient.value)
                if contact.email is None:
                    store.finish(self._engine, delivery_id, owner, status=store.CANCELLED,
                                 now_ms=_ms(self._clock), error=contact.reason)
                    report.cancelled.append(delivery_id)
                    log.info("notify.delivery_cancelled", delivery_id=delivery_id,
                             subscription_id=sub.subscription_id, reason=contact.reason)
                    continue
                sub = replace(sub, address=contact.email)
            self._attempt(delivery, sub.subscription_id, self._sender(delivery, sub), report)
        return report

    def _sender(self, delivery: store.Delivery, sub: Subscription) -> Callable[[], None]:
        if sub.channel is Channel.EMAIL:
            email = self._email_for(delivery, sub)
            return lambda: self._email.send(email)
        webhook = self._webhook_for(delivery, sub)
        return lambda: self._webhooks.send(webhook)

    def _attempt(self, delivery: store.Delivery, subscription_id: str,
                 send: Callable[[], None], report: DispatchReport) -> None:
        owner = self._config.instance_id
        context = {"delivery_id": delivery.delivery_id, "channel": delivery.channel,
                   "purpose": delivery.purpose, "case_id": delivery.case_id,
                   "subscription_id": subscription_id, "attempt": delivery.attempts + 1}
        try:
            send()
        except DeliveryError as exc:
            now_ms = _ms(self._clock)
            if not exc.transient or decide.gives_up(delivery.created_ms, now_ms,
                                                    self._config.retry_for_s):
                store.finish(self._engine, delivery.delivery_id, owner, status=store.FAILED,
                             now_ms=now_ms, error=exc.reason)
                report.failed.append(delivery.delivery_id)
                log.error("notify.delivery_failed", reason=exc.reason,
                          transient=exc.transient, **context)
                return
            delay = decide.retry_delay(delivery.attempts + 1, base_s=self._config.retry_base_s,
                                       cap_s=self._config.retry_cap_s, jitter=self._jitter)
            store.finish(self._engine, delivery.delivery_id, owner, status=store.QUEUED,
                         now_ms=now_ms, error=exc.reason,
                         next_attempt_ms=now_ms + int(delay * 1000))
            report.retrying.append(delivery.delivery_id)
            log.warning("notify.delivery_retrying", reason=exc.reason,
                        in_seconds=round(delay, 1), **context)
            return
        store.finish(self._engine, delivery.delivery_id, owner, status=store.SENT,
                     now_ms=_ms(self._clock))
        report.sent.append(delivery.delivery_id)
        log.info("notify.delivery_sent", **context)

    def _email_for(self, delivery: store.Delivery, sub: Subscription) -> OutgoingEmail:
        # The workspace is the LA's: an agency's messages carry no link to it.
        url = (None if sub.recipient.kind is RecipientKind.AGENCY
               else self._config.workspace_url)
        if delivery.purpose == "digest":
            slot = _from_ms(delivery.slot_ms or delivery.created_ms)
            content = messages.digest_email(delivery.items, slot, url)
        elif delivery.purpose == "reminder":
            content = messages.reminder_email(delivery.items[0])
        else:
            content = messages.alert_email(delivery.items[0], url)
        return OutgoingEmail(to=sub.address, subject=content.subject, text=content.text,
                             html=content.html,
                             message_id=f"<{delivery.delivery_id}@{self._config.email_domain}>")

    def _rest_hook_for(self, delivery: store.Delivery,
                       sub: FhirSubscription) -> OutgoingRestHook:
        # R4 rest-hook with a payload: an update (PUT) of the resource to [endpoint]/[type]/[id].
        # The body is what the connector rendered when it queued the change, so every retry
        # carries the same bytes.
        resource = dict(delivery.resource or {})
        url = (f"{sub.endpoint.rstrip('/')}/{resource.get('resourceType', 'Task')}/"
               f"{resource.get('id', '')}")
        body = json.dumps(resource, sort_keys=True, separators=(",", ":")).encode()
        return OutgoingRestHook(url=url, headers=sub.headers, body=body,
                                delivery_id=delivery.delivery_id)

    def _webhook_for(self, delivery: store.Delivery, sub: Subscription) -> OutgoingWebhook:
        payload = messages.webhook_payload(
            delivery.items, digest=delivery.purpose == "digest",
            sent_at=_from_ms(delivery.created_ms),
            workspace_url=(None if sub.recipient.kind is RecipientKind.AGENCY
                           else self._config.workspace_url))
        # The body depends only on the delivery, so every retry carries the same bytes.
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return OutgoingWebhook(url=sub.address, secret=sub.webhook_secret or "",
                               message_id=f"msg_{delivery.delivery_id}", body=body)


@dataclass(frozen=True, slots=True)
class _Audience:
    """The subscriptions, and the workspace accounts their users' subscriptions need."""

    subscriptions: list[Subscription]
    users: dict[str, UserScope]


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _with_owner(t: AlertTransition, owner: str | None) -> AlertTransition:
    return replace(t, la_code=owner)


def _trimmed(t: AlertTransition) -> AlertTransition:
    if len(t.message) <= _MAX_MESSAGE and len(t.regulation) <= _MAX_ID:
        return t
    return replace(t, message=t.message[:_MAX_MESSAGE], regulation=t.regulation[:_MAX_ID])
