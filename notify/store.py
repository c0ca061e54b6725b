"""Subscriptions, the delivery log and digests, in the read model's SQL database.

The notifier keeps its state in the same database as the workspace read model
(``EHCP_READMODEL_URL``), in tables of its own (``notify_*``, their own ``MetaData``):
``ehcp workspace rebuild`` drops only the read model's tables, never these, because they are
not derived from Kafka (subscriptions are typed by operators; the delivery log records what
was sent, which no replay can recover).

Why SQL rather than a Kafka topic: subscriptions are created, listed and removed one at a
time; the delivery log needs an atomic "claim this delivery" (a conditional UPDATE) so two
notifiers never send one delivery at the same time, and queries by status for
``ehcp notify status|failed`` and the workspace. A compacted topic would need a full read at
every start and offers no atomic claim.

Tables:

- ``notify_subscriptions``: one row per subscription (the webhook secret too: it is needed to
  sign, so the database must be protected like the credentials file);
- ``notify_case_owners``: the LA owning each case, as the read model decides it: the latest
  ``ehcp.case-status.v1`` record naming an LA (v4, written after a reg 15 plan transfer) wins
  over the first ``ehcp.referrals.v1`` referral's LA;
- ``notify_case_owner_sources``: what that owner was decided from (the first referral's LA and
  the latest status's LA, either unread yet), so topics read in any order give one answer;
- ``notify_held``: alert transitions whose case's owner is not known yet, released when the
  referral is read;
- ``notify_deliveries``: the delivery log, keyed by the deterministic delivery id: status
  ``queued`` (to send, or to retry at ``next_attempt_ms``), ``sent``, ``failed`` (the dead
  letter) or ``cancelled`` (its subscription was removed);
- ``notify_digest_items``: transitions waiting for a subscription's next digest;
- ``notify_fhir_subscriptions``: trusts' FHIR Subscriptions (rest-hook, ``Task?owner=<ODS>``),
  made through the FHIR connector; their deliveries (channel ``rest-hook``, purpose ``task``,
  the rendered Task as payload) share ``notify_deliveries`` with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from ehcp.errors import ReadModelError
from ehcp.readmodel import people
from notify.model import (
    REST_HOOK,
    AlertTransition,
    Channel,
    FhirSubscription,
    Recipient,
    RecipientKind,
    Subscription,
    UserScope,
)

metadata: Final = MetaData()

subscriptions: Final = Table(
    "notify_subscriptions", metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient_system", String(200), nullable=False),
    Column("recipient_value", String(64), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(2000), nullable=False),
    Column("kinds", String(400), nullable=False),
    Column("min_severity", String(16), nullable=False),
    Column("include_resolved", Boolean, nullable=False),
    Column("digest_at", String(5), nullable=True),
    Column("label", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("webhook_secret", String(200), nullable=True),
)
case_owners: Final = Table(
    "notify_case_owners", metadata,
    Column("case_id", String(200), primary_key=True),
    Column("la_code", String(8), nullable=False),
)
case_owner_sources: Final = Table(
    "notify_case_owner_sources", metadata,
    Column("case_id", String(200), primary_key=True),
    Column("referral_la_code", String(8), nullable=True),
    Column("status_la_code", String(8), nullable=True),
)
held: Final = Table(
    "notify_held", metadata,
    Column("event_id", String(200), primary_key=True),
    Column("case_id", String(200), nullable=False, index=True),
    Column("transition", Text, nullable=False),
)
deliveries: Final = Table(
    "notify_deliveries", metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("subscription_id", String(64), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),  # alert | reminder | digest
    Column("case_id", String(200), nullable=True),
    Column("payload", Text, nullable=False),  # JSON list of transitions
    Column("slot_ms", BigInteger, nullable=True),  # a digest's scheduled time
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_ms", BigInteger, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
    Column("last_error", String(300), nullable=True),
)
digest_items: Final = Table(
    "notify_digest_items", metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("transition", Text, nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
    Column("delivery_id", String(64), nullable=True, index=True),
)

fhir_subscriptions: Final = Table(
    "notify_fhir_subscriptions", metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("owner_ods", String(16), nullable=False, index=True),
    Column("endpoint", String(2000), nullable=False),
    Column("headers", Text, nullable=False),  # JSON list of [name, value]
    Column("reason", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("credential_id", String(200), nullable=False),
)

QUEUED: Final = "queued"
SENT: Final = "sent"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
STATUSES: Final = (QUEUED, SENT, FAILED, CANCELLED)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the delivery log."""

    delivery_id: str
    subscription_id: str
    channel: str
    purpose: str
    case_id: str | None
    items: tuple[AlertTransition, ...]
    slot_ms: int | None
    status: str
    attempts: int
    created_ms: int
    next_attempt_ms: int
    finished_ms: int | None
    last_error: str | None
    #: A rest-hook delivery's FHIR resource (its ``items`` are empty); None for alerts.
    resource: Mapping[str, Any] | None = None


def _fail(action: str, exc: SQLAlchemyError) -> ReadModelError:
    return ReadModelError(f"notifications database: cannot {action}: {type(exc).__name__}")


def create_tables(engine: Engine) -> None:
    """Create the notifier's tables that do not exist yet (never drops anything).

    Raises:
        ReadModelError: the database refused.
    """
    try:
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise _fail("create the tables", exc) from exc
    # Workspace users' subscriptions read the accounts (LA, role, caseload, email address).
    people.create_people_tables(engine)


def _insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def insert_once(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert unless the primary key exists; True if this call inserted the row."""
    key = [c.name for c in table.primary_key.columns]
    # RETURNING, not rowcount: psycopg reports a rowcount for a skipped conflicting row.
    result = conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing(
        index_elements=key).returning(*table.primary_key.columns))
    return result.first() is not None


# -- subscriptions ---------------------------------------------------------------------------

def _subscription(row: Any) -> Subscription:
    at = row["digest_at"]
    return Subscription(
        subscription_id=row["subscription_id"],
        recipient=Recipient(RecipientKind(row["recipient_kind"]), row["recipient_system"],
                            row["recipient_value"]),
        channel=Channel(row["channel"]),
        address=row["address"],
        kinds=frozenset(k for k in row["kinds"].split(",") if k),
        min_severity=row["min_severity"],
        include_resolved=bool(row["include_resolved"]),
        digest_at=time.fromisoformat(at) if at else None,
        label=row["label"],
        created_ms=int(row["created_ms"]),
        webhook_secret=row["webhook_secret"],
    )


def add_subscription(engine: Engine, sub: Subscription) -> None:
    """Store a new subscription.

    Raises:
        ReadModelError: the database refused.
    """
    try:
        with engine.begin() as conn:
            conn.execute(subscriptions.insert().values(
                subscription_id=sub.subscription_id,
                recipient_kind=sub.recipient.kind.value,
                recipient_system=sub.recipient.system,
                recipient_value=sub.recipient.value,
                channel=sub.channel.value,
                address=sub.address,
                kinds=",".join(sorted(sub.kinds)),
                min_severity=sub.min_severity,
                include_resolved=sub.include_resolved,
                digest_at=sub.digest_at.strftime("%H:%M") if sub.digest_at else None,
                label=sub.label,
                created_ms=sub.created_ms,
                webhook_secret=sub.webhook_secret,
            ))
    except SQLAlchemyError as exc:
        raise _fail("store the subscription", exc) from exc


def _oldest_first(conn: Connection | Engine, table: Table, what: str) -> list[Any]:
    """Every row of a subscriptions table (the notifier's or FHIR's), oldest first."""
    try:
        if isinstance(conn, Engine):
            with conn.connect() as c:
                return _oldest_first(c, table, what)
        return list(conn.execute(select(table).order_by(
            table.c.created_ms, table.c.subscription_id)).mappings())
    except SQLAlchemyError as exc:
        raise _fail(f"read the {what}", exc) from exc


def all_subscriptions(conn: Connection | Engine) -> list[Subscription]:
    """Every subscription, oldest first."""
    return [_subscription(r) for r in _oldest_first(conn, subscriptions, "subscriptions")]


def _cancel_queued(conn: Connection, subscription_id: str, now_ms: int) -> None:
    """Cancel the deliveries a removed subscription (notifier's or FHIR) still had queued."""
    conn.execute(update(deliveries).where(
        deliveries.c.subscription_id == subscription_id,
        deliveries.c.status == QUEUED,
    ).values(status=CANCELLED, finished_ms=now_ms, lease_owner=None))


def remove_subscription(engine: Engine, subscription_id: str, now_ms: int) -> bool:
    """Delete a subscription and cancel what it still had queued; False if there was none."""
    try:
        with engine.begin() as conn:
            gone = conn.execute(delete(subscriptions).where(
                subscriptions.c.subscription_id == subscription_id)).rowcount
            if gone:
                _cancel_queued(conn, subscription_id, now_ms)
                conn.execute(delete(digest_items).where(
                    digest_items.c.subscription_id == subscription_id,
                    digest_items.c.delivery_id.is_(None)))
            return bool(gone)
    except SQLAlchemyError as exc:
        raise _fail("remove the subscription", exc) from exc


# -- case owners and held transitions ---------------------------------------------------------

def record_owner(conn: Connection, case_id: str, la_code: str) -> None:
    """Record ``la_code`` as the case's owner if none is recorded yet (the workspace, which
    knows the case's LA from the read model, queues a delivery before the notifier read it)."""
    insert_once(conn, case_owners, {"case_id": case_id, "la_code": la_code})


def _sources(conn: Connection, case_id: str) -> tuple[str | None, str | None] | None:
    found = conn.execute(select(case_owner_sources.c.referral_la_code,
                                case_owner_sources.c.status_la_code)
                         .where(case_owner_sources.c.case_id == case_id)).first()
    return None if found is None else (found.referral_la_code, found.status_la_code)


def _set_owner(conn: Connection, case_id: str, owner: str | None) -> None:
    if owner is None:
        conn.execute(delete(case_owners).where(case_owners.c.case_id == case_id))
    elif not insert_once(conn, case_owners, {"case_id": case_id, "la_code": owner}):
        conn.execute(update(case_owners).where(case_owners.c.case_id == case_id)
                     .values(la_code=owner))


def record_referral(conn: Connection, case_id: str, la_code: str) -> str | None:
    """A referral of the case was read; returns the case's owner now.

    The first referral's LA is kept; the owner is the latest status's LA if one named an LA
    (a plan transfer, possibly read before the referral), else the referral's.
    """
    found = _sources(conn, case_id)
    referral: str | None
    status: str | None
    if found is None:
        insert_once(conn, case_owner_sources, {"case_id": case_id, "referral_la_code": la_code,
                                               "status_la_code": None})
        referral, status = la_code, None
    elif found[0] is None:  # only a status had been read: the referral comes now
        conn.execute(update(case_owner_sources)
                     .where(case_owner_sources.c.case_id == case_id)
                     .values(referral_la_code=la_code))
        referral, status = la_code, found[1]
    else:
        referral, status = found
    owner = status or referral
    _set_owner(conn, case_id, owner)
    return owner


def record_status(conn: Connection, case_id: str, status_la_code: str | None) -> str | None:
    """A case status was read (``status_la_code``: its LA, None before CaseStatus v4); returns
    the case's owner now (None: not known yet).

    The latest status naming an LA decides the owner, else the first referral's LA. A case
    whose owner was recorded before this table existed (a notifier upgraded past the referral)
    keeps that owner as its referral's LA.
    """
    found = _sources(conn, case_id)
    if found is None:
        legacy = owner_of(conn, case_id)
        insert_once(conn, case_owner_sources, {"case_id": case_id, "referral_la_code": legacy,
                                               "status_la_code": status_la_code})
        referral = legacy
    else:
        referral, status = found
        if status == status_la_code:
            return owner_of(conn, case_id)
        conn.execute(update(case_owner_sources)
                     .where(case_owner_sources.c.case_id == case_id)
                     .values(status_la_code=status_la_code))
    owner = status_la_code or referral
    _set_owner(conn, case_id, owner)  # None: a pre-v4 status after a v4 one, no referral read
    return owner


def owner_of(conn: Connection, case_id: str | None) -> str | None:
    """The case's owning LA, if its referral has been read."""
    if case_id is None:
        return None
    found = conn.execute(select(case_owners.c.la_code).where(
        case_owners.c.case_id == case_id)).scalar_one_or_none()
    return None if found is None else str(found)


def hold(conn: Connection, transition: AlertTransition) -> None:
    """Keep a transition until its case's owner is known."""
    insert_once(conn, held, {"event_id": transition.event_id,
                             "case_id": transition.case_id or "",
                             "transition": json.dumps(transition.to_json())})


def release_held(conn: Connection, case_id: str) -> list[AlertTransition]:
    """The transitions held for ``case_id`` (removed from the hold)."""
    rows: list[str] = list(conn.execute(
        select(held.c.transition).where(held.c.case_id == case_id)).scalars())
    found = [AlertTransition.from_json(json.loads(r)) for r in rows]
    if found:
        conn.execute(delete(held).where(held.c.case_id == case_id))
    return found


# -- deliveries -------------------------------------------------------------------------------

def enqueue(conn: Connection, *, delivery_id: str, subscription: Subscription, purpose: str,
            items: Sequence[AlertTransition], now_ms: int, slot_ms: int | None = None) -> bool:
    """Queue a delivery unless its id is in the log already; True if it is new."""
    return insert_once(conn, deliveries, {
        "delivery_id": delivery_id,
        "subscription_id": subscription.subscription_id,
        "channel": subscription.channel.value,
        "purpose": purpose,
        "case_id": items[0].case_id if len(items) == 1 else None,
        "payload": json.dumps([t.to_json() for t in items]),
        "slot_ms": slot_ms,
        "status": QUEUED,
        "attempts": 0,
        "created_ms": now_ms,
        "next_attempt_ms": now_ms,
    })


def add_digest_item(conn: Connection, subscription_id: str, transition: AlertTransition) -> None:
    """Keep ``transition`` for the subscription's next digest (once per event id)."""
    insert_once(conn, digest_items, {
        "subscription_id": subscription_id, "event_id": transition.event_id,
        "transition": json.dumps(transition.to_json()), "recorded_ms": transition.recorded_ms,
        "delivery_id": None})


def close_digest(engine: Engine, subscription: Subscription, *, delivery_id: str, slot_ms: int,
                 now_ms: int) -> int:
    """Put every waiting item recorded up to ``slot_ms`` into the digest ``delivery_id``.

    Idempotent and safe between notifiers: the delivery id is deterministic, and items are
    taken only when this call queued the delivery (in the same transaction).

    Returns:
        How many items the new digest holds (0: nothing waiting, or that digest exists).
    """
    try:
        with engine.begin() as conn:
            waiting: list[str] = list(conn.execute(select(digest_items.c.transition).where(
                digest_items.c.subscription_id == subscription.subscription_id,
                digest_items.c.delivery_id.is_(None),
                digest_items.c.recorded_ms <= slot_ms,
            ).order_by(digest_items.c.recorded_ms, digest_items.c.event_id)).scalars())
            if not waiting:
                return 0
            items = [AlertTransition.from_json(json.loads(r)) for r in waiting]
            if not enqueue(conn, delivery_id=delivery_id, subscription=subscription,
                           purpose="digest", items=items, now_ms=now_ms, slot_ms=slot_ms):
                return 0
            conn.execute(update(digest_items).where(
                digest_items.c.subscription_id == subscription.subscription_id,
                digest_items.c.delivery_id.is_(None),
                digest_items.c.recorded_ms <= slot_ms,
            ).values(delivery_id=delivery_id))
            return len(items)
    except SQLAlchemyError as exc:
        raise _fail("close a digest", exc) from exc


def _delivery(row: Any) -> Delivery:
    payload = json.loads(row["payload"])
    resource = payload.get("resource") if isinstance(payload, dict) else None
    return Delivery(
        delivery_id=row["delivery_id"], subscription_id=row["subscription_id"],
        channel=row["channel"], purpose=row["purpose"], case_id=row["case_id"],
        items=() if isinstance(payload, dict) else tuple(
            AlertTransition.from_json(d) for d in payload),
        resource=resource,
        slot_ms=row["slot_ms"], status=row["status"], attempts=int(row["attempts"]),
        created_ms=int(row["created_ms"]), next_attempt_ms=int(row["next_attempt_ms"]),
        finished_ms=row["finished_ms"], last_error=row["last_error"])


def due(engine: Engine, now_ms: int, limit: int) -> list[str]:
    """Ids of queued deliveries whose time has come and whose lease (if any) ran out."""
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(deliveries.c.delivery_id).where(
                deliveries.c.status == QUEUED,
                deliveries.c.next_attempt_ms <= now_ms,
                or_(deliveries.c.lease_until_ms.is_(None),
                    deliveries.c.lease_until_ms < now_ms),
            ).order_by(deliveries.c.next_attempt_ms).limit(limit)).scalars())
    except SQLAlchemyError as exc:
        raise _fail("read the queued deliveries", exc) from exc


def claim(engine: Engine, delivery_id: str, owner: str, now_ms: int,
          lease_ms: int) -> Delivery | None:
    """Take a queued delivery for ``lease_ms``; None if another notifier has it or it is done.

    The conditional UPDATE is the lock: of two notifiers claiming at once, one changes the row.
    """
    try:
        with engine.begin() as conn:
            taken = conn.execute(update(deliveries).where(
                deliveries.c.delivery_id == delivery_id,
                deliveries.c.status == QUEUED,
                or_(deliveries.c.lease_until_ms.is_(None),
                    deliveries.c.lease_until_ms < now_ms),
            ).values(lease_owner=owner, lease_until_ms=now_ms + lease_ms)).rowcount
            if not taken:
                return None
            row = conn.execute(select(deliveries).where(
                deliveries.c.delivery_id == delivery_id)).mappings().one()
            return _delivery(row)
    except SQLAlchemyError as exc:
        raise _fail("claim a delivery", exc) from exc


def release_leases(engine: Engine, owner: str) -> int:
    """Give up every lease ``owner`` holds (a restarted notifier: its sends did not finish)."""
    try:
        with engine.begin() as conn:
            return int(conn.execute(update(deliveries).where(
                deliveries.c.lease_owner == owner, deliveries.c.status == QUEUED,
            ).values(lease_owner=None, lease_until_ms=None)).rowcount)
    except SQLAlchemyError as exc:
        raise _fail("release leases", exc) from exc


def finish(engine: Engine, delivery_id: str, owner: str, *, status: str, now_ms: int,
           error: str | None = None, next_attempt_ms: int | None = None) -> None:
    """Record the outcome of an attempt by the lease holder.

    ``status`` QUEUED with ``next_attempt_ms`` schedules a retry; SENT or FAILED end it.
    """
    values: dict[str, Any] = {"lease_owner": None, "lease_until_ms": None,
                              "attempts": deliveries.c.attempts + 1, "status": status,
                              "last_error": error[:300] if error else None}
    if status == QUEUED:
        values["next_attempt_ms"] = next_attempt_ms if next_attempt_ms is not None else now_ms
    else:
        values["finished_ms"] = now_ms
    try:
        with engine.begin() as conn:
            conn.execute(update(deliveries).where(
                deliveries.c.delivery_id == delivery_id, deliveries.c.lease_owner == owner,
            ).values(**values))
    except SQLAlchemyError as exc:
        raise _fail("record a delivery's outcome", exc) from exc


def deliveries_with(engine: Engine, status: str | None = None,
                    limit: int = 1000, *, la_code: str | None = None) -> list[Delivery]:
    """Deliveries (newest first), all or of one status; of one LA's with ``la_code``
    (see :func:`_of_la`)."""
    try:
        with engine.connect() as conn:
            query = select(deliveries).order_by(deliveries.c.created_ms.desc(),
                                                deliveries.c.delivery_id).limit(limit)
            if status is not None:
                query = query.where(deliveries.c.status == status)
            if la_code is not None:
                query = query.where(_of_la(la_code))
            return [_delivery(r) for r in conn.execute(query).mappings()]
    except SQLAlchemyError as exc:
        raise _fail("read the deliveries", exc) from exc


def counts(engine: Engine) -> dict[tuple[str, str], int]:
    """How many deliveries each (channel, status) has."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.channel, deliveries.c.status,
                                       func.count()).group_by(deliveries.c.channel,
                                                              deliveries.c.status))
            found: dict[tuple[str, str], int] = {}
            for channel, status, n in rows:
                found[(str(channel), str(status))] = int(str(n))
            return found
    except SQLAlchemyError as exc:
        raise _fail("count the deliveries", exc) from exc


def waiting_counts(engine: Engine) -> tuple[int, int]:
    """(transitions held for an unknown case owner, digest items not yet in a digest)."""
    try:
        with engine.connect() as conn:
            held_n = conn.execute(select(func.count()).select_from(held)).scalar_one()
            digest_n = conn.execute(select(func.count()).select_from(digest_items).where(
                digest_items.c.delivery_id.is_(None))).scalar_one()
            return int(held_n), int(digest_n)
    except SQLAlchemyError as exc:
        raise _fail("count waiting items", exc) from exc


# -- FHIR Subscriptions (trusts' rest-hooks) ----------------------------------------------------

def _fhir_subscription(row: Any) -> FhirSubscription:
    return FhirSubscription(
        subscription_id=row["subscription_id"], owner_ods=row["owner_ods"],
        endpoint=row["endpoint"],
        headers=tuple((str(n), str(v)) for n, v in json.loads(row["headers"])),
        reason=row["reason"], created_ms=int(row["created_ms"]),
        credential_id=row["credential_id"])


def add_fhir_subscription(engine: Engine, sub: FhirSubscription) -> None:
    """Store a trust's new FHIR Subscription.

    Raises:
        ReadModelError: the database refused.
    """
    try:
        with engine.begin() as conn:
            conn.execute(fhir_subscriptions.insert().values(
                subscription_id=sub.subscription_id, owner_ods=sub.owner_ods.upper(),
                endpoint=sub.endpoint, headers=json.dumps([list(h) for h in sub.headers]),
                reason=sub.reason, created_ms=sub.created_ms, credential_id=sub.credential_id))
    except SQLAlchemyError as exc:
        raise _fail("store the FHIR Subscription", exc) from exc


def fhir_subscription(engine: Engine, subscription_id: str) -> FhirSubscription | None:
    """One FHIR Subscription by id (any owner: callers check it), or None."""
    try:
        with engine.connect() as conn:
            row = conn.execute(select(fhir_subscriptions).where(
                fhir_subscriptions.c.subscription_id == subscription_id)).mappings().first()
            return None if row is None else _fhir_subscription(row)
    except SQLAlchemyError as exc:
        raise _fail("read a FHIR Subscription", exc) from exc


def all_fhir_subscriptions(conn: Connection | Engine) -> list[FhirSubscription]:
    """Every FHIR Subscription, oldest first."""
    return [_fhir_subscription(r)
            for r in _oldest_first(conn, fhir_subscriptions, "FHIR Subscriptions")]


def remove_fhir_subscription(engine: Engine, subscription_id: str, now_ms: int) -> bool:
    """Delete a FHIR Subscription and cancel what it still had queued; False if none."""
    try:
        with engine.begin() as conn:
            gone = conn.execute(delete(fhir_subscriptions).where(
                fhir_subscriptions.c.subscription_id == subscription_id)).rowcount
            if gone:
                _cancel_queued(conn, subscription_id, now_ms)
            return bool(gone)
    except SQLAlchemyError as exc:
        raise _fail("remove the FHIR Subscription", exc) from exc


def enqueue_resource(engine: Engine, *, delivery_id: str, subscription_id: str,
                     resource: Mapping[str, Any], case_id: str | None, now_ms: int) -> bool:
    """Queue a rest-hook delivery of ``resource`` unless its id is in the log; True if new.

    Raises:
        ReadModelError: the database refused.
    """
    try:
        with engine.begin() as conn:
            return insert_once(conn, deliveries, {
                "delivery_id": delivery_id, "subscription_id": subscription_id,
                "channel": REST_HOOK, "purpose": "task", "case_id": case_id,
                "payload": json.dumps({"resource": resource}), "slot_ms": None,
                "status": QUEUED, "attempts": 0, "created_ms": now_ms,
                "next_attempt_ms": now_ms,
            })
    except SQLAlchemyError as exc:
        raise _fail("queue a rest-hook delivery", exc) from exc


# -- workspace users ----------------------------------------------------------------------------

def user_scopes(conn: Connection) -> dict[str, UserScope]:
    """Every workspace account's scope for routing, by user id."""
    u = people.users
    return {str(r.user_id): UserScope(la_code=str(r.la_code),
                                      caseload_only=r.role == people.Role.CASE_OFFICER.value,
                                      active=not r.disabled)
            for r in conn.execute(select(u.c.user_id, u.c.la_code, u.c.role, u.c.disabled))}


def case_holder(conn: Connection, case_id: str | None) -> str | None:
    """The user id of the case officer the case is assigned to, if any."""
    if case_id is None:
        return None
    found = conn.execute(select(people.case_assignments.c.user_id).where(
        people.case_assignments.c.case_id == case_id)).scalar_one_or_none()
    return None if found is None else str(found)


@dataclass(frozen=True, slots=True)
class UserContact:
    """Where a user's notification goes now, or why it goes nowhere."""

    email: str | None
    reason: str | None  # None: send to ``email``; else why nothing is sent


def user_contact(conn: Connection | Engine, user_id: str) -> UserContact:
    """The account's email address at send time, or the reason nothing is sent to it."""
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return user_contact(c, user_id)
    row = conn.execute(select(people.users.c.disabled, people.user_emails.c.email).select_from(
        people.users.outerjoin(people.user_emails,
                               people.user_emails.c.user_id == people.users.c.user_id),
    ).where(people.users.c.user_id == user_id)).first()
    if row is None:
        return UserContact(None, "the workspace account no longer exists")
    if row.disabled:
        return UserContact(None, "the workspace account is disabled")
    if row.email is None:
        return UserContact(None, "the workspace account has no email address")
    return UserContact(str(row.email), None)


def subscriptions_of_user(engine: Engine, user_id: str) -> list[Subscription]:
    """A workspace user's own subscriptions, oldest first."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(subscriptions).where(
                subscriptions.c.recipient_kind == RecipientKind.USER.value,
                subscriptions.c.recipient_value == user_id,
            ).order_by(subscriptions.c.created_ms, subscriptions.c.subscription_id)).mappings()
            return [_subscription(r) for r in rows]
    except SQLAlchemyError as exc:
        raise _fail("read the user's subscriptions", exc) from exc


# -- the operator's view (ehcp notify status and the workspace's page) --------------------------

#: The channels the summary always lists, even with no deliveries.
SUMMARY_CHANNELS: Final = (Channel.EMAIL.value, Channel.WEBHOOK.value, REST_HOOK)


def _of_la(la_code: str) -> Any:
    """A condition on ``deliveries``: the delivery concerns ``la_code``.

    That is: its case is one of the LA's (owner from the referral: its officers' alerts, an
    agency's reminder about the LA's case, a trust's Task of the LA's case), or it has no single
    case (a digest) and belongs to a subscription of the LA or of one of its users. An agency's
    digest spanning several LAs' cases belongs to no LA.
    """
    by_case = select(case_owners.c.case_id).where(case_owners.c.la_code == la_code)
    return or_(deliveries.c.case_id.in_(by_case),
               deliveries.c.case_id.is_(None) & deliveries.c.subscription_id.in_(
                   _la_user_or_team_subscriptions(la_code)))


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A workspace user's subscription that sends nothing, and why."""

    subscription_id: str
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """What ``ehcp notify status`` and the workspace's notifications page show.

    Attributes:
        la_code: the LA it is about (None: every delivery).
        channels: channel -> status -> count, every channel of :data:`SUMMARY_CHANNELS` and
            every status of :data:`STATUSES` listed (zeros included).
        held: alerts held until their case's LA is known (only without ``la_code``: they
            belong to no LA yet).
        waiting_for_digest: alerts waiting for their subscription's next digest.
        unreachable: workspace users' subscriptions that send nothing (account disabled,
            removed, or without an email address).
    """

    la_code: str | None
    channels: dict[str, dict[str, int]]
    held: int | None
    waiting_for_digest: int
    unreachable: tuple[Unreachable, ...]


def delivery_summary(engine: Engine, la_code: str | None = None) -> DeliverySummary:
    """Queued, sent, failed and cancelled deliveries per channel, and what waits or cannot be
    sent: the one function both the CLI and the workspace show, so their numbers agree.

    Raises:
        ReadModelError: the database refused.
    """
    try:
        with engine.connect() as conn:
            query = select(deliveries.c.channel, deliveries.c.status, func.count()).group_by(
                deliveries.c.channel, deliveries.c.status)
            if la_code is not None:
                query = query.where(_of_la(la_code))
            table = {c: dict.fromkeys(STATUSES, 0) for c in SUMMARY_CHANNELS}
            for channel, status, n in conn.execute(query):
                row = table.setdefault(str(channel), dict.fromkeys(STATUSES, 0))
                row[str(status)] = int(str(n))
            held_n: int | None = None
            if la_code is None:
                held_n = int(conn.execute(select(func.count()).select_from(held)).scalar_one())
            waiting = select(func.count()).select_from(digest_items).where(
                digest_items.c.delivery_id.is_(None))
            if la_code is not None:
                waiting = waiting.where(digest_items.c.subscription_id.in_(
                    _la_user_or_team_subscriptions(la_code)))
            waiting_n = int(conn.execute(waiting).scalar_one())
            unreachable = []
            user_subs = select(subscriptions.c.subscription_id,
                               subscriptions.c.recipient_value).where(
                subscriptions.c.recipient_kind == RecipientKind.USER.value).order_by(
                subscriptions.c.created_ms, subscriptions.c.subscription_id)
            for sub_id, user_id in conn.execute(user_subs):
                account = conn.execute(select(people.users.c.username, people.users.c.la_code)
                                       .where(people.users.c.user_id == user_id)).first()
                if la_code is not None and (account is None or account.la_code != la_code):
                    continue
                contact = user_contact(conn, str(user_id))
                if contact.reason is not None:
                    unreachable.append(Unreachable(
                        str(sub_id), str(account.username) if account else f"(id {user_id})",
                        contact.reason))
            return DeliverySummary(la_code, table, held_n, waiting_n, tuple(unreachable))
    except SQLAlchemyError as exc:
        raise _fail("summarise the deliveries", exc) from exc


def _la_user_or_team_subscriptions(la_code: str) -> Any:
    s, u = subscriptions, people.users
    return select(s.c.subscription_id).where(or_(
        (s.c.recipient_kind == RecipientKind.LOCAL_AUTHORITY.value)
        & (s.c.recipient_value == la_code),
        (s.c.recipient_kind == RecipientKind.USER.value)
        & s.c.recipient_value.in_(select(u.c.user_id).where(u.c.la_code == la_code))))


def retry_failed(engine: Engine, delivery_id: str, now_ms: int,
                 la_code: str | None = None) -> bool:
    """Put a dead-lettered delivery back in the queue, due now (of ``la_code``'s, if given).

    The retry window (``EHCP_NOTIFY_RETRY_FOR_S``) still counts from when it was first queued,
    so a delivery older than that gets one more attempt and is dead-lettered again if it
    fails; the delivery id, and so the webhook-id or Message-ID, stay the same.

    Returns:
        False if there is no such failed delivery (or it is not the LA's).
    """
    try:
        with engine.begin() as conn:
            query = update(deliveries).where(
                deliveries.c.delivery_id == delivery_id, deliveries.c.status == FAILED)
            if la_code is not None:
                query = query.where(_of_la(la_code))
            done = conn.execute(query.values(
                status=QUEUED, next_attempt_ms=now_ms, finished_ms=None, lease_owner=None,
                lease_until_ms=None)).rowcount
            return bool(done)
    except SQLAlchemyError as exc:
        raise _fail("retry a delivery", exc) from exc


def enqueue_now(engine: Engine, *, delivery_id: str, subscription: Subscription, purpose: str,
                items: Sequence[AlertTransition], now_ms: int,
                case_owner: tuple[str, str] | None = None) -> bool:
    """:func:`enqueue` in a transaction of its own; True if the delivery is new.

    Args:
        case_owner: (case id, LA code) to record as the case's owner if none is recorded yet
            (a delivery queued from the workspace, which knows the case's LA, is then counted
            for that LA even before the notifier has read the case's referral).

    Raises:
        ReadModelError: the database refused.
    """
    try:
        with engine.begin() as conn:
            if case_owner is not None:
                record_owner(conn, *case_owner)
            return enqueue(conn, delivery_id=delivery_id, subscription=subscription,
                           purpose=purpose, items=items, now_ms=now_ms)
    except SQLAlchemyError as exc:
        raise _fail("queue a delivery", exc) from exc
