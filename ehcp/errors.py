"""The one exception root of EHCP Exchange.

Every error the project raises on purpose derives from :class:`EhcpError`. Third-party
errors (fastavro, pydantic, aiokafka, kafka-python, fhir.resources) are translated at the
edge with ``raise ... from exc`` so callers only ever handle these types::

    EhcpError
    ├── ConfigurationError          settings missing or invalid; prerequisites absent
    ├── BrokerError                 the local Kafka broker could not be set up or reached
    ├── ContractError               an event does not fit the Avro contract
    │   ├── UnknownSchemaError      a message names a writer schema we do not hold
    │   └── MalformedMessageError   bytes that are not a single-object-encoded record
    ├── ValidationError             input from an agency is invalid (4xx at the edge)
    │   ├── InvalidIdentifierError  an NHS number / UPN / ULN fails its check digit
    │   ├── LimitExceededError      a string, element name or nesting depth over its bound (422)
    │   └── EventTooLargeError      the event would exceed the topic's message size (413)
    ├── AuthError                   authentication or authorisation refused
    ├── PublishError                an event could not be made durable in Kafka (503 at the edge)
    ├── SchemaRegistryError         the schema registry is unreachable or refused a request
    │   └── SchemaIncompatibleError the registry refused a schema under its compatibility rule
    ├── ReadModelError              the workspace read model's database refused or is unreachable
    ├── NotFoundError               no such record among those the caller may see (404)
    ├── StoreError                  the connectors' shared store (PostgreSQL) refused or is down
    └── CaseworkError               a domain rule refused an event
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any


class EhcpError(Exception):
    """Root of every error EHCP Exchange raises deliberately."""


class ConfigurationError(EhcpError):
    """Settings are missing or invalid, or a prerequisite program is absent."""


class BrokerError(EhcpError):
    """The local Kafka broker could not be assembled, started, stopped or reached."""


class ContractError(EhcpError):
    """An event does not fit the Avro contract."""


class UnknownSchemaError(ContractError):
    """A message names (by fingerprint) a writer schema this build does not hold."""


class MalformedMessageError(ContractError):
    """Bytes that are not a valid Avro single-object-encoded record."""


class ValidationError(EhcpError):
    """Input from an agency is invalid.

    Attributes:
        location: where in the input the problem is (a JSON pointer, FHIRPath or CSV column).
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class InvalidIdentifierError(ValidationError):
    """An identifier (NHS number, UPN, ULN) fails its format or check digit."""


class LimitExceededError(ValidationError):
    """Input beyond one of the connectors' documented bounds (422; a retry cannot succeed).

    Attributes:
        issue_code: the FHIR issue type: ``too-long`` for a string or element name,
            ``too-costly`` for JSON nested too deeply.
    """

    def __init__(self, message: str, *, location: str | None = None,
                 issue_code: str = "too-long") -> None:
        super().__init__(message, location=location)
        self.issue_code = issue_code


class EventTooLargeError(ValidationError):
    """The encoded event is larger than Kafka accepts on its topic (413; a retry cannot succeed).

    Attributes:
        size: the estimated size of the record batch in bytes.
        limit: the largest the topic and the producer accept.
    """

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class AuthError(EhcpError):
    """Authentication failed (401) or the caller is not allowed to do this (403).

    A refusal that must not reveal that the thing exists (another agency's advice request)
    is status 404: answered as "not found", and audited like a 403.
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PublishError(EhcpError):
    """An event could not be made durable in Kafka; the caller should retry later.

    Attributes:
        pending: the send, if it was still under way when the caller stopped waiting: Kafka may
            yet take the event, so whoever retries must first learn how this send ended.
    """

    def __init__(self, message: str, *, pending: Awaitable[Any] | None = None) -> None:
        super().__init__(message)
        self.pending = pending


class SchemaRegistryError(EhcpError):
    """The schema registry (Confluent wire format) is unreachable or refused a request.

    Not a :class:`ContractError`: the message being encoded or decoded may be fine, so a worker
    that meets this stops (and is restarted) instead of dead-lettering the input.
    """


class SchemaIncompatibleError(SchemaRegistryError):
    """The registry refused a schema version under the subject's compatibility rule (409)."""


class CaseworkError(EhcpError):
    """A casework rule refused an event (for example advice for a closed case)."""


class ReadModelError(EhcpError):
    """The workspace read model's database refused a write or could not be reached."""


class NotFoundError(EhcpError):
    """No such record among those the caller may see (404): another LA's looks the same."""


class StoreError(EhcpError):
    """The connectors' shared store (submission ledger, documents in PostgreSQL) refused or could
    not be reached; the caller should retry later (503 at the edge)."""
