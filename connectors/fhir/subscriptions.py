"""FHIR R4 Subscriptions for trusts: rest-hook, criteria ``Task?owner=<the trust's ODS code>``.

A trust registers an endpoint; every new or changed Task it owns is then PUT there (R4 rest-hook
with ``channel.payload`` ``application/fhir+json``: an update of ``[endpoint]/Task/[id]`` with
the Task as :func:`connectors.fhir.service.task_resource` renders it). The subscriptions live in
the notifier's tables (``notify.store``); this module checks and renders the resource, and
:class:`TaskPusher` queues each change on the notifier's delivery log, which sends, retries and
dead-letters it like a webhook.

Every connector process holds every Task (the Task feed) and queues the changes it sees; the
delivery id is deterministic (subscription, Task, the change itself), so the processes, and a
process replaying Kafka after a restart, queue each change once.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy import Engine

from connectors.fhir.errors import StructureError
from connectors.fhir.ports import FeedPosition, StoredTask, TaskStore
from connectors.fhir.service import task_resource
from connectors.ports import Principal
from ehcp.clock import Clock
from ehcp.errors import AuthError, EhcpError, ValidationError
from ehcp.identifiers import AGENCY_CODE_FORMATS, ODS_ORGANISATION_SYSTEM
from notify import store
from notify.model import (
    MAX_HEADERS,
    FhirSubscription,
    parse_rest_hook_header,
    parse_webhook_url,
)

log = structlog.get_logger(__name__)

PAYLOAD: Final = "application/fhir+json"
MAX_REASON: Final = 200
_CRITERIA = re.compile(r"^Task\?owner=(?:(?P<system>[^|&=?#]{1,200})\|)?(?P<code>[^|&=?#]{1,20})$")
_DELIVERY_IDS: Final = uuid.UUID("0d3b7a52-8a2e-4f51-b1f4-0c6a9e2f7d18")
#: How long a process trusts its copy of the subscriptions before reading them again.
CACHE_S: Final = 2.0


def _where(field: str) -> str:
    return f"Subscription.{field}"


def _string(data: Mapping[str, Any], key: str, location: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise StructureError(f"{location} must be a non-empty string", location=location)
    return value


def parse_subscription(data: Mapping[str, Any], principal: Principal, *, subscription_id: str,
                       now_ms: int, allow_http: bool) -> FhirSubscription:
    """Check a posted Subscription and return what to store.

    Raises:
        StructureError: (400) not a Subscription, or an element of the wrong type.
        ValidationError: (422) another channel type or payload, a criteria other than
            ``Task?owner=<ODS code>``, an endpoint that is not https (http with
            ``EHCP_NOTIFY_WEBHOOK_ALLOW_HTTP``), a bad header, an ``end`` date.
        AuthError: (403, audited) a criteria naming another organisation's ODS code.
    """
    if data.get("resourceType") != "Subscription":
        raise StructureError("resourceType must be Subscription", location="resourceType")
    status = _string(data, "status", _where("status"), required=False)
    if status not in (None, "requested", "active"):
        raise ValidationError("status must be requested (the server makes it active)",
                              location=_where("status"))
    if "end" in data:
        raise ValidationError("Subscription.end is not supported: DELETE the Subscription "
                              "to end it", location=_where("end"))
    reason = _string(data, "reason", _where("reason"), required=False) or ""
    if len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
        raise ValidationError(f"reason is at most {MAX_REASON} printable characters",
                              location=_where("reason"))
    owner = _owner(_string(data, "criteria", _where("criteria"), required=True) or "",
                   principal)
    channel = data.get("channel")
    if not isinstance(channel, dict):
        raise StructureError("Subscription.channel must be an object",
                             location=_where("channel"))
    kind = _string(channel, "type", _where("channel.type"), required=True)
    if kind != "rest-hook":
        raise ValidationError(f"channel.type {str(kind)[:40]!r} is not supported; use rest-hook",
                              location=_where("channel.type"))
    payload = _string(channel, "payload", _where("channel.payload"), required=True)
    if payload != PAYLOAD:
        raise ValidationError(f"channel.payload must be {PAYLOAD} (the Task is sent)",
                              location=_where("channel.payload"))
    endpoint = _string(channel, "endpoint", _where("channel.endpoint"), required=True) or ""
    try:
        endpoint = parse_webhook_url(endpoint, allow_http=allow_http)
    except ValidationError as exc:
        raise ValidationError(exc.message.replace("webhook URL", "channel.endpoint"),
                              location=_where("channel.endpoint")) from exc
    return FhirSubscription(
        subscription_id=subscription_id, owner_ods=owner, endpoint=endpoint,
        headers=_headers(channel.get("header")), reason=reason, created_ms=now_ms,
        credential_id=principal.credential_id)


def _owner(criteria: str, principal: Principal) -> str:
    match = _CRITERIA.match(criteria)
    if match is None or match.group("system") not in (None, ODS_ORGANISATION_SYSTEM):
        raise ValidationError("criteria must be Task?owner=<your ODS code>",
                              location=_where("criteria"))
    try:
        code = AGENCY_CODE_FORMATS[ODS_ORGANISATION_SYSTEM](match.group("code"))
    except (EhcpError, ValueError) as exc:
        raise ValidationError("criteria must name an ODS code: Task?owner=<your ODS code>",
                              location=_where("criteria")) from exc
    if (principal.agency_system != ODS_ORGANISATION_SYSTEM
            or code.upper() != principal.agency_value.upper()):
        raise AuthError("a Subscription may only ask for your own organisation's Tasks "
                        "(criteria Task?owner=<your ODS code>)", status=403)
    return code.upper()


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    where = _where("channel.header")
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        raise StructureError("channel.header must be a list of strings", location=where)
    if len(value) > MAX_HEADERS:
        raise ValidationError(f"at most {MAX_HEADERS} channel.header entries", location=where)
    try:
        return tuple(parse_rest_hook_header(h) for h in value)
    except ValidationError as exc:
        raise ValidationError(exc.message, location=where) from exc


def subscription_resource(sub: FhirSubscription) -> dict[str, Any]:
    """The Subscription as read back: ``channel.header`` is never shown again (it usually
    holds the trust's own credential for its endpoint)."""
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": sub.endpoint,
                               "payload": PAYLOAD}
    if sub.headers:
        channel["_header"] = [{"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "masked"}]} for _ in sub.headers]
    resource: dict[str, Any] = {
        "resourceType": "Subscription", "id": sub.subscription_id,
        "status": "active", "criteria": f"Task?owner={sub.owner_ods}",
        "channel": channel,
    }
    if sub.reason:
        resource["reason"] = sub.reason
    return resource


def delivery_id(subscription_id: str, task: StoredTask) -> str:
    """The same for one change of one Task to one subscription, in every process.

    Built from the change itself (status and its time, reminder and its time), not the version
    number, which two processes may count in a different order (two feeds).
    """
    change = "|".join(str(v) for v in (
        task.task_id, task.status, task.last_modified, task.reminder, task.reminder_at,
        task.updated_at) + ((task.la_reminded_at,) if task.la_reminded_at else ()))
    return str(uuid.uuid5(_DELIVERY_IDS, f"{subscription_id}|{change}"))


@dataclass
class TaskPusher:
    """Queues each new or changed health Task for the subscriptions of its owner.

    A change is queued only for subscriptions made before it (its ``meta.lastUpdated``), so a
    new subscription, or a connector replaying Kafka at start-up, sends no history.

    Args:
        engine: the database with the notifier's tables.
        clock: the time (for the log's ``created_ms``).
        monotonic: for the subscriptions cache.
    """

    engine: Engine
    clock: Clock
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._subs: dict[str, list[FhirSubscription]] = {}
        self._read_at: float | None = None

    def forget(self) -> None:
        """Read the subscriptions again on the next change (one was made or removed here)."""
        self._read_at = None

    def _subscriptions(self, owner: str) -> list[FhirSubscription]:
        now = self.monotonic()
        if self._read_at is None or now - self._read_at > CACHE_S:
            found: dict[str, list[FhirSubscription]] = {}
            for sub in store.all_fhir_subscriptions(self.engine):
                found.setdefault(sub.owner_ods, []).append(sub)
            self._subs, self._read_at = found, now
        return self._subs.get(owner, [])

    def changed(self, before: StoredTask | None, after: StoredTask) -> None:
        """Queue ``after`` if it is a health Task that changed; never raises for the database
        (a refused write is logged and the feed goes on: the Task is still served)."""
        if before == after or after.owner_system != ODS_ORGANISATION_SYSTEM:
            return
        if before is not None and before.version == after.version:
            return  # only its Kafka position was learnt: nothing a subscriber sees changed
        try:
            subs = self._subscriptions(after.owner_ods.upper())
            changed_at = after.last_updated
            if not subs or changed_at is None:
                return
            changed_ms = int(changed_at.timestamp() * 1000)
            resource = None
            for sub in subs:
                if changed_ms < sub.created_ms:
                    continue
                resource = resource or task_resource(after)
                if store.enqueue_resource(
                        self.engine, delivery_id=delivery_id(sub.subscription_id, after),
                        subscription_id=sub.subscription_id, resource=resource,
                        case_id=str(after.request.get("case_id") or "") or None,
                        now_ms=int(self.clock.now().timestamp() * 1000)):
                    log.info("fhir_subscription_queued", subscription_id=sub.subscription_id,
                             task_id=after.task_id, version=after.version)
        except EhcpError as exc:
            log.error("fhir_subscription_queue_failed", task_id=after.task_id,
                      error=str(exc)[:200])


class PushingTaskStore:
    """A :class:`TaskStore` that tells a :class:`TaskPusher` about every change it records."""

    def __init__(self, inner: TaskStore, pusher: TaskPusher) -> None:
        self._inner = inner
        self.pusher = pusher

    @property
    def complete(self) -> bool:
        """Whether the inner store has caught up."""
        return self._inner.complete

    def mark_complete(self) -> None:
        """Mark the inner store complete."""
        self._inner.mark_complete()

    def add(self, request: Mapping[str, Any], *, position: FeedPosition | None = None,
            at: datetime | None = None) -> StoredTask:
        """Add to the inner store; a new Task is pushed."""
        from connectors.fhir.tasks import task_id_for

        before = self._inner.get(task_id_for(str(request["request_id"])))
        after = self._inner.add(request, position=position, at=at)
        if before is None:
            self.pusher.changed(None, after)
        return after

    def get(self, task_id: str) -> StoredTask | None:
        """From the inner store."""
        return self._inner.get(task_id)

    def search(self, owner_ods: str, statuses: frozenset[str] | None = None, *,
               system: str = ODS_ORGANISATION_SYSTEM) -> list[StoredTask]:
        """From the inner store."""
        return self._inner.search(owner_ods, statuses, system=system)

    def asked(self, owner_ods: str, *, case_id: str | None = None,
              nhs_number: str | None = None) -> bool:
        """From the inner store."""
        return self._inner.asked(owner_ods, case_id=case_id, nhs_number=nhs_number)

    def set_status(self, task_id: str, status: str, reason_code: str | None,
                   reason_text: str | None, at: datetime, *,
                   output_document_id: str | None = None,
                   position: FeedPosition | None = None) -> StoredTask:
        """Record in the inner store; a change is pushed."""
        before = self._inner.get(task_id)
        after = self._inner.set_status(task_id, status, reason_code, reason_text, at,
                                       output_document_id=output_document_id,
                                       position=position)
        self.pusher.changed(before, after)
        return after

    def set_reminder(self, task_id: str, reminder: str | None, at: datetime) -> StoredTask:
        """Record in the inner store; a change is pushed."""
        before = self._inner.get(task_id)
        after = self._inner.set_reminder(task_id, reminder, at)
        self.pusher.changed(before, after)
        return after

    def record_la_reminder(self, task_id: str, reminder: str, at: datetime) -> StoredTask:
        """Record in the inner store; a change is pushed."""
        before = self._inner.get(task_id)
        after = self._inner.record_la_reminder(task_id, reminder, at)
        self.pusher.changed(before, after)
        return after
