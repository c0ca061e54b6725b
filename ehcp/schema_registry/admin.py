"""Registering this build's schemas in the registry, under the project's compatibility rule.

The project's own check (``tests/unit/contract/test_compatibility.py``) is *full transitive*:
every version of a record reads data written with every other version, in both directions. The
registry's matching mode is ``FULL_TRANSITIVE``, set on each record's subject before its versions
are registered oldest first, so the registry refuses exactly what the project's check refuses
(docs/contract.md, "Wire formats").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ehcp.contract.avro import SchemaRegistry
from ehcp.schema_registry.client import RegistryClient, subject_of

COMPATIBILITY: Final = "FULL_TRANSITIVE"


@dataclass(frozen=True, slots=True)
class Registered:
    """One schema version and the id the registry holds it under."""

    subject: str
    version: int
    schema_id: int


def register_all(client: RegistryClient, schemas: SchemaRegistry) -> list[Registered]:
    """Set each subject to FULL_TRANSITIVE and register every version, oldest first (idempotent).

    Raises:
        SchemaIncompatibleError: a version the registry refuses (the message names it).
        SchemaRegistryError: the registry is unreachable or refused another request.
    """
    done: list[Registered] = []
    for name in schemas.names:
        subject = subject_of(name)
        if client.compatibility(subject) != COMPATIBILITY:
            client.set_compatibility(subject, COMPATIBILITY)
        for version in schemas.history(name):
            done.append(Registered(subject, version.version, client.register(version)))
    return done


@dataclass(frozen=True, slots=True)
class SubjectStatus:
    """How one record's newest schema stands in the registry."""

    subject: str
    version: int
    schema_id: int | None
    compatibility: str | None


def status(client: RegistryClient, schemas: SchemaRegistry) -> list[SubjectStatus]:
    """Each record's newest schema: its id (None: not registered) and its subject's mode."""
    out = []
    for name in schemas.names:
        latest = schemas.latest(name)
        out.append(SubjectStatus(subject_of(name), latest.version, client.lookup(latest),
                                 client.compatibility(subject_of(name))))
    return out
