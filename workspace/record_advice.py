"""Record advice that reached the LA by email or post: store the document, publish the advice.

The event is built exactly as the education JSON API builds it: the body is an
:class:`~connectors.education.models.AdviceIn` (the same pydantic validation), the record comes
from :func:`~connectors.education.models.advice_record` and the key from
:func:`~ehcp.contract.keys.contribution_key`, so the worker routes it into the case and resolves
its alert like any other advice. The agency is the one the case asked for that advice (from the
read model), so the advice answers that request; the channel is ``OTHER`` (neither FHIR, the
JSON API nor a CSV import).

The document goes into the connectors' content-addressed store first; the advice is published
with acks=all after it, so a success page means both are durable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

import pydantic

from connectors.education.models import AdviceIn, advice_record
from connectors.ports import DocumentStore, EventPublisher, PublishedEvent, PublishReceipt
from ehcp.casework.calendar import LONDON
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import CONTRIBUTIONS
from ehcp.errors import ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.readmodel.access import AdviceItem

DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#: Document types accepted, by what their first bytes must be (a name or a header can lie).
ACCEPTED_TYPES: Final[dict[str, tuple[bytes, ...]]] = {
    "application/pdf": (b"%PDF-",),
    DOCX: (b"PK\x03\x04",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS: Final = {".pdf": "application/pdf", ".docx": DOCX,
                     ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                     ".txt": "text/plain"}
HOW_RECEIVED: Final = {"email": "by email", "post": "by post"}


def document_type(filename: str, content: bytes) -> str:
    """The media type of an uploaded document, from its name and checked against its bytes.

    Raises:
        ValidationError: an empty file, a type we do not accept, or bytes that are not that type.
    """
    if not content:
        raise ValidationError("the file is empty", location="document")
    dot = filename.rfind(".")
    media = EXTENSIONS.get(filename[dot:].lower() if dot >= 0 else "")
    if media is None:
        raise ValidationError("upload a PDF, Word (.docx), PNG, JPEG or plain text (.txt) file",
                              location="document")
    if media == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError("a .txt file must be UTF-8 text", location="document") from exc
        if "\x00" in content.decode("utf-8"):
            raise ValidationError("a .txt file must be text", location="document")
        return media
    if not content.startswith(ACCEPTED_TYPES[media]):
        raise ValidationError("the file's contents are not the type its name says",
                              location="document")
    return media


@dataclass(frozen=True, slots=True)
class AdviceByHand:
    """What an officer entered: which advice, when it arrived and how, and the document."""

    case_id: str
    la_code: str
    advice_type: str
    received_on: date
    how: str
    submission_id: str  # from the form: a re-sent form records the advice once
    filename: str
    content: bytes


def build_event(entry: AdviceByHand, item: AdviceItem | None, pseudonym_key: bytes,
                today: date, document: dict[str, object]) -> PublishedEvent:
    """The ``AdviceSubmitted`` event for advice recorded by hand (validated like the JSON API).

    Raises:
        ValidationError: the advice type is not one the case asks for, a date in the future,
            or the body does not fit the JSON API's model.
    """
    if item is None:
        raise ValidationError("choose advice this case is waiting for", location="advice_type")
    if entry.how not in HOW_RECEIVED:
        raise ValidationError("say whether it came by email or by post", location="how")
    if entry.received_on > today:
        raise ValidationError("the date received cannot be in the future",
                              location="received_on")
    submitted_at = datetime.combine(entry.received_on, time(12, 0), ZoneInfo(LONDON))
    try:
        body = AdviceIn(contribution_id=f"WS-{entry.submission_id}",
                        advice_type=entry.advice_type,  # type: ignore[arg-type]
                        case_id=entry.case_id, request_id=item.request_id, child=None,
                        submitted_at=submitted_at, document=None)
    except pydantic.ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "form"
        raise ValidationError("this value is not valid", location=field) from exc
    system = item.agency.system if item.agency else LA_CODE_SYSTEM
    value = item.agency.value if item.agency else entry.la_code
    record = advice_record(body, system, value, "OTHER", document=document)
    schema = CONTRIBUTIONS.value_schema or ""
    return PublishedEvent(
        topic=CONTRIBUTIONS.name, key=contribution_key(pseudonym_key, record),
        schema_name=schema, record=record, ce_type=event_type(schema),
        ce_subject=entry.case_id)


async def record(entry: AdviceByHand, item: AdviceItem | None, *, docstore: DocumentStore,
                 publisher: EventPublisher, pseudonym_key: bytes,
                 today: date) -> tuple[PublishedEvent, PublishReceipt]:
    """Check, store the document, then publish the advice (acks=all).

    Raises:
        ValidationError: bad input (nothing stored or published).
        PublishError: Kafka did not take it (the document may be stored; it is unreferenced).
    """
    media = document_type(entry.filename, entry.content)
    # Build once without the claim so bad input stores nothing.
    build_event(entry, item, pseudonym_key, today, {"sha256": "0" * 64, "size_bytes": 0,
                                                    "content_type": media})
    claim = docstore.put(entry.content, media)
    event = build_event(entry, item, pseudonym_key, today, claim.as_record())
    receipt = await publisher.publish(event)
    return event, receipt
