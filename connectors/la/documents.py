"""Reading an LA's advice document: found through the service layer, streamed from the store,
audited. Shared by ``GET /api/la/documents/{sha256}`` and FHIR ``GET /fhir/Binary/{id}``."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from typing import BinaryIO, Final, NoReturn

import structlog
from fastapi import Request
from fastapi.responses import StreamingResponse

from connectors.audit import AuditTrail, document_read_record, refusal_record
from connectors.ports import DocumentStore, Principal
from ehcp.clock import Clock
from ehcp.errors import NotFoundError
from ehcp.readmodel.access import AdviceReceived, DocumentClaim, LaView

log = structlog.get_logger(__name__)

#: Bytes read from the store per chunk of a streamed answer.
CHUNK_BYTES: Final = 64 * 1024


async def refuse_not_found(request: Request, principal: Principal, audit: AuditTrail,
                           clock: Clock, what: str) -> NoReturn:
    """Audit a read of something the LA may not see (or that does not exist) and answer 404.

    Another LA's case or document and an unknown id get the same answer: no existence oracle.
    """
    await audit.refused(refusal_record(
        principal, method=request.method, path=request.url.path,
        reason=f"not found among this LA's {what}", at=clock.now()))
    raise NotFoundError(f"no {what.rstrip('s')} with this id among this LA's cases")


async def find_document(request: Request, principal: Principal, view: LaView,
                        audit: AuditTrail, clock: Clock, sha256: str) -> AdviceReceived:
    """The first advice of the LA's cases carrying the document, or an audited 404.

    Raises:
        ValidationError: not a SHA-256 (422).
        NotFoundError: not a document of the LA's cases (404, audited).
    """
    advice = await asyncio.to_thread(view.document_advice, sha256)
    if advice is None or advice.document is None:
        await refuse_not_found(request, principal, audit, clock, "documents")
    return advice


def open_document(store: DocumentStore, claim: DocumentClaim) -> tuple[BinaryIO, int]:
    """The stored file and its size.

    Raises:
        NotFoundError: the read model knows the claim but the store holds no bytes for it (an
            operator's problem, logged at error level).
    """
    handle = store.open(claim.sha256)
    if handle is None:
        log.error("document_missing_from_store", sha256=claim.sha256)
        raise NotFoundError("the document is not in this connector's document store")
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    if size != claim.size_bytes:
        log.error("document_size_differs_from_claim", sha256=claim.sha256)
    return handle, size


def digest_headers(claim: DocumentClaim, size: int) -> dict[str, str]:
    """Length, ETag and the RFC 9530 ``Repr-Digest`` of a document, and no caching or sniffing."""
    digest = base64.b64encode(bytes.fromhex(claim.sha256)).decode()
    return {
        "Content-Length": str(size),
        "ETag": f'"{claim.sha256}"',
        "Repr-Digest": f"sha-256=:{digest}:",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{claim.sha256}"',
    }


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


async def stream_document(request: Request, principal: Principal, view: LaView,
                          store: DocumentStore, audit: AuditTrail, clock: Clock, sha256: str,
                          channel: str) -> StreamingResponse:
    """The document's bytes with its type, length, ETag and digest; the read is audited."""
    advice = await find_document(request, principal, view, audit, clock, sha256)
    claim = advice.document
    assert claim is not None  # noqa: S101 - find_document returns advice with a document
    handle, size = await asyncio.to_thread(open_document, store, claim)
    await audit.read(document_read_record(
        principal, sha256=claim.sha256, case_id=advice.case_id, channel=channel,
        method=request.method, path=request.url.path, at=clock.now()))
    log.info("document_read", credential_id=principal.credential_id, sha256=claim.sha256,
             channel=channel)
    return StreamingResponse(_chunks(handle), media_type=claim.content_type,
                             headers=digest_headers(claim, size))
