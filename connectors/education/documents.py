"""The document of JSON advice: checked, read (inline or from an allow-listed url) and stored.

The rules are the FHIR attachments' (:mod:`connectors.documents`): the decoded size is checked
on the base64 text before decoding, the url is checked against ``EHCP_DOCUMENT_URL_HOSTS`` here
and again by the fetcher, and nothing reaches the document store unless all of it passed.
Errors are located by JSON pointer under ``/document`` and never echo the data or the url.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Final

from connectors.documents import (
    UrlFetcher,
    estimated_base64_size,
    fetch_document,
    is_allowed_url,
    is_media_type,
    too_large,
)
from connectors.education.models import DocumentIn
from connectors.ports import DocumentClaim, DocumentStore
from ehcp.errors import ValidationError
from ehcp.settings import Settings

_WHERE: Final = "/document"
#: As ``DocumentIn.content_type``; a document host's Content-Type header is held to it too.
_MEDIA_TYPE_MAX: Final = 128


async def read_document(document: DocumentIn, settings: Settings,
                        fetcher: UrlFetcher | None) -> tuple[bytes, str]:
    """The document's bytes and media type, checked against the limits.

    Raises:
        DocumentTooLargeError: (413) larger than ``settings.max_document_bytes``.
        ValidationError: (422) not base64, empty, no media type, or a url not on the allow-list.
        DocumentFetchError: (502) the allow-listed url could not be read.
    """
    limit = settings.max_document_bytes
    if document.data is not None:
        if estimated_base64_size(document.data) > limit:  # before decoding megabytes
            raise too_large(limit, location=f"{_WHERE}/data")
        try:
            content = base64.b64decode(document.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("data is not valid base64", location=f"{_WHERE}/data") from exc
        if len(content) > limit:
            raise too_large(limit, location=f"{_WHERE}/data")
        content_type = document.content_type
    else:
        url = document.url or ""
        if not is_allowed_url(url, settings.document_url_hosts):
            raise ValidationError(
                "url must be https on a host this server is configured to fetch from; send "
                "the document inline in data", location=f"{_WHERE}/url")
        fetched = await fetch_document(fetcher, url, limit, location=f"{_WHERE}/url")
        content = fetched.content
        content_type = document.content_type or fetched.content_type
    if not content:
        raise ValidationError("the document is empty", location=_WHERE)
    if not content_type or len(content_type) > _MEDIA_TYPE_MAX or not is_media_type(content_type):
        raise ValidationError("content_type must be a media type (type/subtype)",
                              location=f"{_WHERE}/content_type")
    return content, content_type


async def store_document(document: DocumentIn, settings: Settings, fetcher: UrlFetcher | None,
                         docstore: DocumentStore) -> DocumentClaim:
    """Read the document (:func:`read_document`) and put it in the document store.

    Returns:
        The claim check the ``AdviceSubmitted`` event carries.
    """
    content, content_type = await read_document(document, settings, fetcher)
    return await asyncio.to_thread(docstore.put, content, content_type)
