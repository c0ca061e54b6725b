"""Audit of document views: every time a workspace user opens or downloads an advice document.

Each read is a ``RecordRead`` event on ``ehcp.audit.v1`` (the record the LA pull API writes for
its reads), with the user's id in ``user_id`` and no credential, channel ``WORKSPACE``. It is
written in the background by the connectors' :class:`~connectors.audit.AuditTrail` (retried,
then spooled to a local file if Kafka does not take it), so a read never waits for Kafka and an
audit event is never only logged. It names the document by SHA-256, never its contents.
"""

from __future__ import annotations

import uuid
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
