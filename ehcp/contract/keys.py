"""Kafka keys: the case id where a case is known, else a pseudonymous child key.

Child identifiers (NHS number, UPN, ...) never appear in keys: a child key is the keyed
HMAC-SHA256 of ``system|value`` under the deployment's pseudonym key, so it cannot be reversed by
hashing all 10-digit numbers. The same identifier always gives the same key, so contributions for a
child and that child's routing index entries meet on one partition.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ehcp.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ULN_SYSTEM,
    UPN_SYSTEM,
    Identifier,
)

CHILD_KEY_PREFIX: Final = "child:"

#: Strongest first: routing prefers the identifier most likely to be unique and checked.
IDENTIFIER_STRENGTH: Final = (NHS_NUMBER_SYSTEM, UPN_SYSTEM, ULN_SYSTEM, LA_CHILD_ID_SYSTEM)


def child_key(pseudonym_key: bytes, identifier: Identifier) -> str:
    """The pseudonymous Kafka key for one child identifier."""
    digest = hmac.new(
        pseudonym_key, f"{identifier.system}|{identifier.value}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{CHILD_KEY_PREFIX}{digest[:32]}"


def strongest_identifier(identifiers: Iterable[Identifier]) -> Identifier | None:
    """The identifier routing should use first, or None if none is of a known system."""
    by_system = {i.system: i for i in identifiers}
    for system in IDENTIFIER_STRENGTH:
        if system in by_system:
            return by_system[system]
    return None


def identifiers_of(records: Iterable[Mapping[str, Any]]) -> list[Identifier]:
    """Avro ``Identifier`` records as :class:`Identifier` values."""
    return [Identifier(system=r["system"], value=r["value"]) for r in records]


def contribution_key(pseudonym_key: bytes, record: Mapping[str, Any]) -> str:
    """The key of an ``AdviceSubmitted`` record on the contributions topic.

    The case id when the sender named one; otherwise the child key of the strongest identifier;
    otherwise the contribution id (it will be reported unrouted, never dropped).
    """
    if record.get("case_id"):
        return str(record["case_id"])
    best = strongest_identifier(identifiers_of(record.get("child_identifiers", [])))
    if best is not None:
        return child_key(pseudonym_key, best)
    return f"contribution:{record['contribution_id']}"
