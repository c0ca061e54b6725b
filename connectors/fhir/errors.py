"""Errors of the health connector, each a subclass of the project's one exception root.

How :func:`connectors.fhir.outcome.error_response` answers them::

    ValidationError (ehcp.errors)            422 invalid (profile or business rule)
    ├── InvalidIdentifierError (ehcp)        422 value   (NHS number fails its check digit)
    ├── LimitExceededError (ehcp)            422 too-long / too-costly (connectors.limits)
    ├── EventTooLargeError (ehcp)            413 too-long (over the topic's max.message.bytes)
    ├── StructureError                       400 structure / code-invalid (not valid FHIR R4)
    ├── UnsupportedMediaTypeError            415 not-supported
    ├── DocumentTooLargeError (documents)    413 too-long
    └── UnknownResourceTypeError             404 not-supported (no such resource type here)
    EhcpError (ehcp.errors)
    ├── ResourceNotFoundError                404 not-found (unknown, or owned by someone else)
    ├── MethodNotAllowedError                405 not-supported
    ├── ConflictError                        409 conflict (Task already closed)
    └── DocumentFetchError (documents)       502 transient (an allowed url could not be read)
"""

from __future__ import annotations

from connectors.documents import DocumentFetchError, DocumentTooLargeError
from ehcp.errors import EhcpError, ValidationError

#: Shared with the JSON connectors (connectors/documents.py), re-exported for the FHIR code.
__all__ = [
    "ConflictError", "DocumentFetchError", "DocumentTooLargeError", "MethodNotAllowedError",
    "ResourceNotFoundError", "StructureError", "UnknownResourceTypeError",
    "UnsupportedMediaTypeError",
]


class StructureError(ValidationError):
    """The input is not valid JSON or not a valid FHIR R4 resource (400).

    Attributes:
        issue_code: the OperationOutcome issue type (``structure``, ``code-invalid``, ...).
    """

    def __init__(self, message: str, *, location: str | None = None,
                 issue_code: str = "structure") -> None:
        super().__init__(message, location=location)
        self.issue_code = issue_code


class UnsupportedMediaTypeError(ValidationError):
    """The request body is not ``application/fhir+json`` (415)."""


class UnknownResourceTypeError(ValidationError):
    """The path names a resource type this server does not support (404)."""


class ResourceNotFoundError(EhcpError):
    """No such resource, or not one the caller may see (404: existence is not revealed)."""


class MethodNotAllowedError(EhcpError):
    """The resource type exists here but not this interaction (405).

    Attributes:
        allow: the methods that are supported on the path.
    """

    def __init__(self, message: str, *, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.allow = allow


class ConflictError(EhcpError):
    """The change conflicts with the resource's current state (409)."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
