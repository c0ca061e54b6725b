"""Audit of document views: every time a user opens or downloads an advice document.

:class:`DocumentReads` is the port. The record for reads (``DocumentRead`` on
``ehcp.audit.v1``) is being added by the LA pull API's work (branch ``la-api``); until it is
merged, :class:`LoggedDocumentReads` writes a structured log line (user id, case id, event id,
the document's hash: never its contents) and is NOT yet the audit-topic event the issue asks for.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from fastapi import Request

from ehcp.readmodel.people import User
from ehcp.readmodel.views import AdviceReceived

log = structlog.get_logger(__name__)


class DocumentReads(Protocol):
    """Records that a user read a document."""

    async def read(self, user: User, advice: AdviceReceived, case_id: str,
                   request: Request) -> None:
        """Record one read (returns without waiting for Kafka)."""
        ...


class LoggedDocumentReads:
    """A log line per read (until the audit record exists)."""

    async def read(self, user: User, advice: AdviceReceived, case_id: str,
                   request: Request) -> None:
        """Log the read: who, which case and advice, which document (by hash)."""
        log.info("workspace_document_read", user_id=user.user_id, la_code=user.la_code,
                 case_id=case_id, event_id=advice.event_id, sha256=advice.document_sha256)
