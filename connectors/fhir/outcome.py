"""OperationOutcome responses: every error under ``/fhir`` becomes one (the HTTP edge).

The app factory's exception handlers call :func:`error_response` for errors raised under
``/fhir``. Status codes follow the FHIR RESTful API: 400 for content that is not valid FHIR
(including codes outside a required value set), 422 for valid FHIR this profile does not accept
(an NHS number failing its check digit is 422: well-formed, but not a real identifier),
401/403 for authentication/authorisation, 404 for unknown resource types or resources, 413 for a
document over the size limit or an event larger than its Kafka topic accepts (a retry cannot
help, so never 503), 422 ``too-long``/``too-costly`` for a string or nesting depth over the bounds
of :mod:`connectors.limits`, 503 with ``Retry-After`` when Kafka cannot take the event.
Diagnostics name the failing element in ``issue.expression`` and never echo input values.
"""

from __future__ import annotations

import json
from typing import Any, Final

import structlog
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from connectors.fhir.codes import FHIR_JSON
from connectors.fhir.errors import (
    ConflictError,
    DocumentFetchError,
    DocumentTooLargeError,
    MethodNotAllowedError,
    ResourceNotFoundError,
    StructureError,
    UnknownResourceTypeError,
    UnsupportedMediaTypeError,
)
from ehcp.errors import (
    AuthError,
    EventTooLargeError,
    InvalidIdentifierError,
    LimitExceededError,
    NotFoundError,
    PublishError,
    ReadModelError,
    StoreError,
    ValidationError,
)

#: Seconds a client should wait before retrying when Kafka is unavailable.
RETRY_AFTER_S: Final = 5

log = structlog.get_logger(__name__)


def operation_outcome(code: str, diagnostics: str, *, expression: str | None = None,
                      severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_response(body: dict[str, Any] | None, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A response with a FHIR JSON body (or none)."""
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(content=content, status_code=status, headers=headers,
                    media_type=FHIR_JSON if body is not None else None)


def _outcome(status: int, code: str, message: str, expression: str | None = None,
             headers: dict[str, str] | None = None) -> Response:
    return fhir_response(operation_outcome(code, message, expression=expression), status, headers)


def error_response(exc: Exception) -> Response:
    """The FHIR answer to any error raised under ``/fhir``.

    Args:
        exc: the error.

    Returns:
        An ``application/fhir+json`` OperationOutcome response with the right status.
    """
    match exc:
        case DocumentTooLargeError():
            return _outcome(413, "too-long", exc.message, exc.location)
        case EventTooLargeError():
            return _outcome(413, "too-long", "the advice event would be larger than Kafka accepts "
                            "on its topic; shorten the identifiers and text (retrying cannot help)")
        case LimitExceededError():
            return _outcome(422, exc.issue_code, exc.message, exc.location)
        case UnsupportedMediaTypeError():
            return _outcome(415, "not-supported", exc.message, exc.location)
        case UnknownResourceTypeError():
            return _outcome(404, "not-supported", exc.message, exc.location)
        case StructureError():
            return _outcome(400, exc.issue_code, exc.message, exc.location)
        case InvalidIdentifierError():
            return _outcome(422, "value", exc.message, exc.location)
        case ValidationError():
            return _outcome(422, "invalid", exc.message, exc.location)
        case AuthError(status=401):
            return _outcome(401, "login", exc.message, headers={"WWW-Authenticate": "Bearer"})
        case AuthError():
            return _outcome(exc.status, "forbidden", exc.message)
        case ResourceNotFoundError():
            return _outcome(404, "not-found", str(exc))
        case MethodNotAllowedError():
            return _outcome(405, "not-supported", exc.message,
                            headers={"Allow": ", ".join(exc.allow)} if exc.allow else None)
        case ConflictError():
            return _outcome(409, "conflict", exc.message, exc.location)
        case PublishError():
            return _outcome(503, "transient",
                            "the event could not be made durable; nothing was accepted; "
                            "retry later",
                            headers={"Retry-After": str(RETRY_AFTER_S)})
        case DocumentFetchError():
            return _outcome(502, "transient", str(exc))
        case NotFoundError():
            return _outcome(404, "not-found", str(exc))
        case ReadModelError():
            return _outcome(503, "transient", str(exc), headers={"Retry-After": "30"})
        case StoreError():
            return _outcome(503, "transient", "the connector store cannot be reached; retry",
                            headers={"Retry-After": "30"})
        case RequestValidationError():
            return _outcome(400, "invalid", "the request parameters are not valid")
        case HTTPException():
            code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
            return _outcome(exc.status_code, code, "the request could not be processed",
                            headers=dict(exc.headers or {}))
        case _:
            # Programming errors: the client learns nothing internal. Only the type is logged,
            # never the message or locals, which may carry personal data.
            log.error("fhir_internal_error", error_type=type(exc).__name__)
            return _outcome(500, "exception", "internal server error")
