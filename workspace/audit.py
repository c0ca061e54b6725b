"""Audit of document views and of actions.

Every time a workspace user opens or downloads an advice document, and every action a user
takes (:func:`audit_action`: advice or a casework event recorded, an unrouted contribution
routed or discarded, a reminder sent to a late agency, a notification subscription added or
removed, a failed notification retried).

Each read is a ``RecordRead`` event on ``ehcp.audit.v1`` (the record the LA pull API writes for
its reads), with the user's id in ``user_id`` and no credential, channel ``WORKSPACE``. It is
written in the background by the connectors' :class:`~connectors.audit.AuditTrail` (retried,
then spooled to a local file if Kafka does not take it), so a read never waits for Kafka and an
audit event is never only logged. It names the document by SHA-256, never its contents.

An action is an ``ActionTaken`` event on the same topic, through the same trail, written once
Kafka has acknowledged what the action published (so an audited action happened): the user,
the LA, the kind of action, the case, the id of the record acted on and of the event published,
and the time. Never a form's contents, a document or a child's identity.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Protocol

from fastapi import Request

from connectors.audit import AuditTrail
from ehcp.clock import Clock
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.readmodel.people import User


class DocumentReads(Protocol):
    """Records that a user read a document."""

    async def read(self, user: User, sha256: str, case_id: str, request: Request) -> None:
        """Record one read (returns without waiting for Kafka)."""
        ...


class AuditedDocumentReads:
    """A ``RecordRead`` audit event per read, through the audit trail."""

    def __init__(self, trail: AuditTrail, clock: Clock) -> None:
        self._trail = trail
        self._clock = clock

    async def read(self, user: User, sha256: str, case_id: str, request: Request) -> None:
        """Start writing the ``RecordRead`` event for this read."""
        await self._trail.read({
            "event_id": str(uuid.uuid4()),
            "credential_id": None,
            "user_id": user.user_id,
            "agency": {"system": LA_CODE_SYSTEM, "value": user.la_code},
            "record_kind": "DOCUMENT",
            "record_id": sha256,
            "case_id": case_id,
            "channel": "WORKSPACE",
            "method": request.method,
            "path": request.url.path,
            "read_at": self._clock.now(),
        })


class ActionKind(StrEnum):
    """What a workspace user did (the ``ActionTaken`` record's ``action``)."""

    ADVICE_RECORDED = "ADVICE_RECORDED"
    CASEWORK_EVENT_RECORDED = "CASEWORK_EVENT_RECORDED"
    UNROUTED_ROUTED = "UNROUTED_ROUTED"
    UNROUTED_DISCARDED = "UNROUTED_DISCARDED"
    REMINDER_SENT = "REMINDER_SENT"  # target: the reminder's event id
    NOTIFICATIONS_CHANGED = "NOTIFICATIONS_CHANGED"  # target: the subscription id
    DELIVERY_RETRIED = "DELIVERY_RETRIED"  # target: the delivery id


async def audit_action(request: Request, user: User, kind: ActionKind, *,
                       case_id: str | None, published_event_id: str | None,
                       target_id: str | None = None) -> None:
    """Start writing the ``ActionTaken`` event for one action (returns without waiting)."""
    trail: AuditTrail = request.app.state.audit
    clock: Clock = request.app.state.clock
    await trail.action({
        "event_id": str(uuid.uuid4()),
        "user_id": user.user_id,
        "agency": {"system": LA_CODE_SYSTEM, "value": user.la_code},
        "action": kind.value,
        "case_id": case_id,
        "target_id": target_id,
        "published_event_id": published_event_id,
        "acted_at": clock.now(),
    })
