"""The component principals' ACLs on the broker: apply them, and compare what the broker holds.

:func:`apply_acls` makes the broker's ACLs for the project's principals exactly the expected
ones (:func:`ehcp.contract.access.expected_grants`): it creates the missing ones and deletes any
other ACL naming one of those principals (a grant widened by hand, a prefixed or wildcard
pattern, ``ALL``). ACLs of other principals are left alone. Running it twice changes nothing the
second time. :func:`check_acls` only compares, for ``ehcp kafka acls check`` and the tests.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ehcp.contract.access import Grant
from ehcp.errors import BrokerError
from ehcp.kafka_io.kafka_clients import kafka_python_config, unreachable
from ehcp.settings import Settings


@dataclass(frozen=True, slots=True, order=True)
class BrokerAcl:
    """One ACL as the broker holds it (every field, so nothing wider hides behind a match)."""

    principal: str
    resource: str
    name: str
    pattern: str
    operation: str
    permission: str
    host: str

    def __str__(self) -> str:
        pattern = "" if self.pattern == "LITERAL" else f" ({self.pattern.lower()})"
        host = "" if self.host == "*" else f" from {self.host}"
        return (f"{self.permission} {self.principal} {self.operation} "
                f"{self.resource.lower()} {self.name}{pattern}{host}")

    @classmethod
    def of(cls, grant: Grant) -> BrokerAcl:
        """The ACL a grant becomes: ALLOW, literal resource name, any host."""
        return cls(grant.principal, grant.resource.value, grant.name, "LITERAL",
                   grant.operation.value, "ALLOW", "*")


@dataclass(frozen=True, slots=True)
class AclDrift:
    """How the broker's ACLs for the project's principals differ from the expected ones."""

    missing: frozenset[BrokerAcl]
    unexpected: frozenset[BrokerAcl]

    @property
    def ok(self) -> bool:
        """True if the broker holds exactly the expected ACLs."""
        return not self.missing and not self.unexpected


def _admin(settings: Settings) -> Any:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(client_id="ehcp-acls", **kafka_python_config(settings))
    except (KafkaError, OSError) as exc:
        raise unreachable(settings, exc) from exc


def _to_kafka(acl: BrokerAcl) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    return ACL(
        principal=acl.principal,
        host=acl.host,
        operation=ACLOperation[acl.operation],
        permission_type=ACLPermissionType[acl.permission],
        resource_pattern=ResourcePattern(ResourceType[acl.resource], acl.name,
                                         ACLResourcePatternType[acl.pattern]),
    )


def _describe(admin: Any, principals: Collection[str]) -> frozenset[BrokerAcl]:
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    found: set[BrokerAcl] = set()
    for principal in sorted(principals):
        acls, _ = admin.describe_acls(ACLFilter(
            principal=principal, host=None, operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                                   ACLResourcePatternType.ANY),
        ))
        found |= {
            BrokerAcl(a.principal, a.resource_pattern.resource_type.name,
                      a.resource_pattern.resource_name, a.resource_pattern.pattern_type.name,
                      a.operation.name, a.permission_type.name, a.host)
            for a in acls
        }
    return frozenset(found)


def compare_acls(held: frozenset[BrokerAcl], grants: Collection[Grant]) -> AclDrift:
    """What is missing from ``held``, and what it holds beyond ``grants`` (any wider field)."""
    wanted = frozenset(BrokerAcl.of(g) for g in grants)
    return AclDrift(missing=wanted - held, unexpected=held - wanted)


def check_acls(settings: Settings, grants: Collection[Grant]) -> AclDrift:
    """Compare the broker's ACLs for the grants' principals with the grants.

    Raises:
        BrokerError: Kafka unreachable, or the caller may not describe ACLs.
    """
    from kafka.errors import KafkaError

    admin = _admin(settings)
    try:
        return compare_acls(_describe(admin, {g.principal for g in grants}), grants)
    except KafkaError as exc:
        raise BrokerError(f"Kafka refused to describe ACLs: {type(exc).__name__}: {exc}") from exc
    finally:
        admin.close()


def apply_acls(settings: Settings, grants: Collection[Grant], *, dry_run: bool = False
               ) -> AclDrift:
    """Create the missing ACLs and delete unexpected ones of the same principals. Idempotent.

    Returns:
        What was (or, with ``dry_run``, would be) created and deleted.

    Raises:
        BrokerError: Kafka unreachable or refused a change (e.g. the caller is not the admin).
    """
    from kafka.admin import ACLFilter
    from kafka.errors import KafkaError

    admin = _admin(settings)
    try:
        drift = compare_acls(_describe(admin, {g.principal for g in grants}), grants)
        if dry_run:
            return drift
        if drift.missing:
            result = admin.create_acls([_to_kafka(a) for a in sorted(drift.missing)])
            if result["failed"]:
                raise BrokerError(f"Kafka refused {len(result['failed'])} ACL(s): "
                                  f"{result['failed'][0]}")
        if drift.unexpected:
            # A concrete ACL is also an exact filter: each deletes only itself.
            filters = []
            for acl in sorted(drift.unexpected):
                concrete = _to_kafka(acl)
                filters.append(ACLFilter(concrete.principal, concrete.host, concrete.operation,
                                         concrete.permission_type, concrete.resource_pattern))
            for _, _, error in admin.delete_acls(filters):
                if error.errno != 0:
                    raise BrokerError(f"Kafka refused to delete an ACL: {error.__name__}")
        return drift
    except KafkaError as exc:
        raise BrokerError(f"Kafka refused the ACL change: {type(exc).__name__}: {exc}") from exc
    finally:
        admin.close()
