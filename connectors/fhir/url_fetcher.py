"""The production :class:`~connectors.fhir.ports.UrlFetcher`: reads allow-listed https urls.

A health body may send advice as ``attachment.url`` instead of inline data. Fetching a url the
client chose is a request-forgery risk, so this fetcher refuses anything but ``https`` on a host
named in ``EHCP_DOCUMENT_URL_HOSTS`` (checked again here, not only by the validator), follows no
redirects (a redirect could lead off the allow-list), verifies TLS (against the system CAs or
``EHCP_DOCUMENT_FETCH_CA_FILE``), gives up after ``EHCP_DOCUMENT_FETCH_TIMEOUT_S``, and stops
reading once the document passes the size limit, so an endless body cannot fill memory.
Errors name the problem, never the url (it may carry tokens or identifiers).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog

from connectors.fhir.errors import DocumentFetchError, DocumentTooLargeError
from connectors.fhir.ports import FetchedDocument
from ehcp.errors import ValidationError

log = structlog.get_logger(__name__)

_LOCATION = "DocumentReference.content[0].attachment.url"


class HttpsUrlFetcher:
    """Reads attachment urls over https from allow-listed hosts."""

    def __init__(self, hosts: Iterable[str], *, timeout_s: float = 10.0,
                 ca_file: Path | None = None) -> None:
        self._hosts = frozenset(h.lower() for h in hosts)
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        )
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, verify=verify,
            trust_env=False,  # no proxy or .netrc credentials picked up from the environment
            headers={"Accept": "*/*", "User-Agent": "ehcp-exchange-connectors"},
        )

    async def fetch(self, url: str, max_bytes: int) -> FetchedDocument:
        """Read at most ``max_bytes`` from ``url``.

        Raises:
            ValidationError: (422) not an https url on an allowed host.
            DocumentFetchError: (502) a redirect, an error status, a TLS failure or a timeout.
            DocumentTooLargeError: (413) the document is longer than ``max_bytes``.
        """
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or host not in self._hosts:
            raise ValidationError("attachment urls are fetched only over https from "
                                  "configured hosts", location=_LOCATION)
        try:
            async with self._client.stream("GET", url) as response:
                if response.is_redirect:
                    raise DocumentFetchError("the attachment url answered with a redirect, "
                                             "which this server does not follow")
                if response.status_code != 200:
                    raise DocumentFetchError(
                        f"the attachment url answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DocumentTooLargeError(
                        f"the document is larger than {max_bytes} bytes", location=_LOCATION)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise DocumentTooLargeError(
                            f"the document is larger than {max_bytes} bytes", location=_LOCATION)
                content_type = response.headers.get("content-type")
        except httpx.TimeoutException as exc:
            log.warning("document_fetch_failed", host=host, error=type(exc).__name__)
            raise DocumentFetchError("the attachment url did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("document_fetch_failed", host=host, error=type(exc).__name__)
            raise DocumentFetchError("the attachment url could not be read "
                                     f"({type(exc).__name__})") from exc
        log.info("document_fetched", host=host, size_bytes=len(body))
        return FetchedDocument(content=bytes(body), content_type=content_type)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
