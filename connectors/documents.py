"""Advice documents at the edge, shared by the FHIR and the JSON connectors (no HTTP framework).

Every connector that takes an advice document applies the same rules, defined once here: the
size limit (``EHCP_MAX_DOCUMENT_BYTES``, checked on the base64 text before decoding it and on
the bytes after), the media-type syntax, urls only over https on a host in
``EHCP_DOCUMENT_URL_HOSTS``, read through the :class:`UrlFetcher` port (the production one is
:class:`connectors.fhir.url_fetcher.HttpsUrlFetcher`) with the limit applied while reading.

Errors::

    ValidationError (ehcp.errors)       422 (a media type, a url off the allow-list, bad base64)
    └── DocumentTooLargeError           413 (over the size limit)
    EhcpError (ehcp.errors)
    └── DocumentFetchError              502 (an allow-listed url could not be read; retry)

Messages name the problem, never the url or the content (a url may carry tokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlsplit

from ehcp.errors import EhcpError, ValidationError

#: ``type/subtype`` (parameters such as ``; charset=`` are allowed after it).
_MEDIA_TYPE: Final = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")


class DocumentTooLargeError(ValidationError):
    """The advice document (or the request carrying it) exceeds ``max_document_bytes`` (413)."""


class DocumentFetchError(EhcpError):
    """A document url on the allow-list could not be fetched (502; the client may retry)."""


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """Bytes read from a document url, and the media type the server gave (if any)."""

    content: bytes
    content_type: str | None = None


class UrlFetcher(Protocol):
    """Reads a document url whose host is on ``settings.document_url_hosts``."""

    async def fetch(self, url: str, max_bytes: int) -> FetchedDocument:
        """Read at most ``max_bytes`` from ``url``.

        Raises:
            DocumentTooLargeError: if the document is longer than ``max_bytes``.
            DocumentFetchError: if it cannot be read.
        """
        ...


@dataclass
class InMemoryUrlFetcher:
    """Fake fetcher serving documents from a dict keyed by url."""

    documents: dict[str, FetchedDocument] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, url: str, max_bytes: int) -> FetchedDocument:
        """Serve ``url`` from the dict, honouring the size limit."""
        self.fetched.append(url)
        document = self.documents.get(url)
        if document is None:
            raise DocumentFetchError("the attachment url could not be fetched")
        if len(document.content) > max_bytes:
            raise DocumentTooLargeError(
                f"the document is larger than {max_bytes} bytes",
                location="DocumentReference.content[0].attachment.url",
            )
        return document


def estimated_base64_size(data: str) -> int:
    """Decoded size of a base64 string, computed without decoding it."""
    compact = len(data) - data.count("\n") - data.count("\r") - data.count(" ")
    return compact * 3 // 4 - data.rstrip().count("=", -2)


def is_media_type(content_type: str) -> bool:
    """Whether ``content_type`` is a media type (``type/subtype``, parameters allowed)."""
    return bool(_MEDIA_TYPE.match(content_type.split(";", 1)[0].strip()))


def too_large(limit: int, *, location: str) -> DocumentTooLargeError:
    """The error for a document over the size limit."""
    return DocumentTooLargeError(
        f"the document is larger than the {limit} bytes this server accepts", location=location)


def is_allowed_url(url: str, hosts: Iterable[str]) -> bool:
    """Whether ``url`` is https on one of ``hosts`` (compared case-insensitively)."""
    parts = urlsplit(url)
    allowed = {h.lower() for h in hosts}
    return parts.scheme == "https" and (parts.hostname or "").lower() in allowed


async def fetch_document(fetcher: UrlFetcher | None, url: str, limit: int, *,
                         location: str) -> FetchedDocument:
    """Read an allow-listed url through the fetcher, within the size limit.

    The limit is checked again on what the fetcher returns (it is not trusted alone with it),
    and every error is located at ``location`` (the caller's element, not the fetcher's).

    Raises:
        ValidationError: (422) no fetcher is configured, or the fetcher refused the url.
        DocumentTooLargeError: (413) the document is larger than ``limit``.
        DocumentFetchError: (502) the url could not be read.
    """
    if fetcher is None:
        raise ValidationError("this server does not fetch document urls; send the document "
                              "inline", location=location)
    try:
        fetched = await fetcher.fetch(url, limit)
    except DocumentTooLargeError as exc:
        raise too_large(limit, location=location) from exc
    except ValidationError as exc:
        raise ValidationError(exc.message, location=location) from exc
    if len(fetched.content) > limit:
        raise too_large(limit, location=location)
    return fetched
