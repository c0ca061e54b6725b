"""Who reads and writes which topic: one Kafka principal per component, least privilege.

The access list is declared here once, from the topic catalogue (:mod:`ehcp.contract.topics`),
and :func:`expected_grants` turns it into the ACLs ``ehcp kafka acls apply`` creates and
``ehcp kafka acls check`` compares against the broker. Unit tests hold the declarations to the
code that actually reads and writes (the worker's input topics, the connectors' feeds, the
projector's topics, the notifier's topics).

One principal per *process kind*, not per connector kind: one connector process serves every
agency kind (``connectors/app.py`` mounts the FHIR, education, social care and LA routers in one
ASGI app, and its Task, reminder and case-owner feeds serve them all), so a principal per kind
would live in the same memory as the others and separate nothing. Agencies are kept apart at the
HTTP edge by their credentials' scopes (docs/security.md); Kafka keeps the connectors as a
whole away from everything they do not need (case status, routed advice, the routing index,
the worker's tables, dead letters).

Operations granted:

- a topic read: ``READ`` and ``DESCRIBE`` (fetch, list offsets, metadata);
- a topic written: ``WRITE``, ``DESCRIBE`` and ``DESCRIBE_CONFIGS`` (the publishers read
  ``max.message.bytes`` to answer 413 for an event that could never fit);
- a topic the component owns (the worker's Faust changelogs and leader topic, which Faust
  declares itself at start-up): ``CREATE`` as well as read and write;
- a consumer group: ``READ`` (join, commit and fetch offsets).

Idempotent producers need no cluster permission (Kafka 2.8+: write on a topic suffices), and no
component uses transactions (processing is at-least-once with idempotent handlers), so no
``TRANSACTIONAL_ID`` grants exist. The administrator (``ehcp topics apply``, ``ehcp kafka acls
apply``, ``ehcp dlq replay``, ``ehcp import``) is a super user and has no ACLs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ehcp.contract.topics import (
    ADVICE_REQUESTS,
    ALERTS,
    AUDIT,
    CASE_STATUS,
    CASE_TICKS,
    CASEWORK_EVENTS,
    CHILD_INDEX,
    CONTRIBUTIONS,
    CONTRIBUTIONS_ROUTED,
    DEAD_LETTER,
    REFERRALS,
    REMINDERS,
    TASK_STATUS,
    UNROUTED,
    TopicSpec,
    changelog_topics,
)

#: SASL user names. The administrator is the broker's super user.
ADMIN_USER: Final = "ehcp-admin"


class Operation(StrEnum):
    """Kafka ACL operations the project grants."""

    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"


class Resource(StrEnum):
    """Kafka resource types the project grants on."""

    TOPIC = "TOPIC"
    GROUP = "GROUP"


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` on the literal resource ``name``, any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation

    def __str__(self) -> str:
        return f"{self.principal} {self.operation} {self.resource.lower()} {self.name}"


@dataclass(frozen=True, slots=True)
class Component:
    """One kind of process and what it needs from Kafka.

    Attributes:
        name: short name (``ehcp kafka acls apply`` prints it; env files are named by it).
        user: its SASL user name; the ACL principal is ``User:<user>``.
        reads: topics it consumes.
        writes: topics it produces to.
        owns: topic names it creates itself (Faust's internal topics).
        groups: consumer groups it joins or commits in.
        what: which commands run as it.
    """

    name: str
    user: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    what: str
    owns: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        """The Kafka principal, e.g. ``User:ehcp-worker``."""
        return f"User:{self.user}"


def _names(*specs: TopicSpec) -> tuple[str, ...]:
    return tuple(spec.name for spec in specs)


def faust_leader_topic(app_id: str) -> str:
    """The topic Faust's leader assignor creates and reads (``<app id>-__assignor-__leader``)."""
    return f"{app_id}-__assignor-__leader"


#: The worker's input topics: the routing stage's and the case stage's (streams/app.py).
WORKER_ROUTING_INPUTS: Final = (CONTRIBUTIONS, CHILD_INDEX)
WORKER_CASE_INPUTS: Final = (
    REFERRALS, CASEWORK_EVENTS, ADVICE_REQUESTS, TASK_STATUS, CONTRIBUTIONS_ROUTED, CASE_TICKS,
)
#: Everything the worker's stages and timer emit, and its dead letters. Contributions:
#: the routing stage re-publishes a contribution a person
#: routed by hand (``UnroutedDecided``) to ``ehcp.contributions.v1``, so the worker writes it.
WORKER_OUTPUTS: Final = (
    CONTRIBUTIONS_ROUTED, UNROUTED, ALERTS, CHILD_INDEX, ADVICE_REQUESTS, CASE_STATUS, CASE_TICKS,
    DEAD_LETTER, CONTRIBUTIONS,
)
#: What the connectors publish: referrals, advice, casework events, advice requests and Task
#: status changes from agencies, and audit events.
CONNECTOR_OUTPUTS: Final = (
    REFERRALS, CONTRIBUTIONS, CASEWORK_EVENTS, ADVICE_REQUESTS, TASK_STATUS, AUDIT,
)
#: What the connectors follow: the Task feed, the FHIR Subscription reminders (alerts and the
#: LA's own reminders), and case owners (referrals, and casework events for reg 15 transfers).
CONNECTOR_INPUTS: Final = (ADVICE_REQUESTS, TASK_STATUS, ALERTS, REMINDERS, REFERRALS,
                           CASEWORK_EVENTS)
#: What the workspace web app publishes (advice and casework events its users record, decisions
#: on unrouted contributions, reminders to a late agency, audit events) and reads (one unrouted
#: record, by position).
WORKSPACE_OUTPUTS: Final = (CONTRIBUTIONS, CASEWORK_EVENTS, REMINDERS, AUDIT)
WORKSPACE_INPUTS: Final = (UNROUTED,)
#: What the notifiers consume (notify/consumer.py).
NOTIFIER_INPUTS: Final = (REFERRALS, CASE_STATUS, ALERTS)
#: What the read-only CLI commands read: `case show`, `alerts tail`, `dlq list`.
CLI_INPUTS: Final = (CASE_STATUS, ALERTS, DEAD_LETTER)


def components(app_id: str, notify_group_id: str) -> tuple[Component, ...]:
    """Every component principal and its needs, for one deployment's app id and notify group.

    Args:
        app_id: the worker's Faust app id (``EHCP_APP_ID``): its consumer group and the prefix
            of its internal topics.
        notify_group_id: the notifiers' consumer group (``EHCP_NOTIFY_GROUP_ID``).
    """
    worker_owns = (*_names(*changelog_topics(app_id)), faust_leader_topic(app_id))
    return (
        Component(
            "connectors", "ehcp-connectors",
            reads=_names(*CONNECTOR_INPUTS), writes=_names(*CONNECTOR_OUTPUTS),
            what="ehcp connectors (every agency kind: one process serves them all)",
        ),
        Component(
            "worker", "ehcp-worker",
            reads=_names(*WORKER_ROUTING_INPUTS, *WORKER_CASE_INPUTS),
            writes=_names(*WORKER_OUTPUTS),
            owns=worker_owns, groups=(app_id,),
            what="ehcp worker (the Faust stream processors)",
        ),
        Component(
            "projector", "ehcp-projector",
            reads=_names(REFERRALS, CASE_STATUS, ALERTS, CONTRIBUTIONS_ROUTED, UNROUTED,
                         DEAD_LETTER),
            writes=(),
            what="ehcp workspace project / rebuild (the read model's projector)",
        ),
        Component(
            "workspace", "ehcp-workspace",
            reads=_names(*WORKSPACE_INPUTS), writes=_names(*WORKSPACE_OUTPUTS),
            what="ehcp workspace serve (the web app)",
        ),
        Component(
            "notifier", "ehcp-notifier",
            reads=_names(*NOTIFIER_INPUTS), writes=(), groups=(notify_group_id,),
            what="ehcp notify run",
        ),
        Component(
            "cli", "ehcp-cli",
            reads=_names(*CLI_INPUTS), writes=(),
            what="read-only commands: ehcp case show, ehcp alerts tail, ehcp dlq list",
        ),
    )


def grants_for(component: Component) -> frozenset[Grant]:
    """The ALLOW ACLs one component needs, and no more."""
    topic_ops: dict[str, set[Operation]] = {}

    def add(names: Iterable[str], *ops: Operation) -> None:
        for name in names:
            topic_ops.setdefault(name, set()).update(ops)

    add(component.reads, Operation.READ, Operation.DESCRIBE)
    add(component.writes, Operation.WRITE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS)
    add(component.owns, Operation.CREATE, Operation.READ, Operation.WRITE, Operation.DESCRIBE,
        Operation.DESCRIBE_CONFIGS)
    grants = {
        Grant(component.principal, Resource.TOPIC, name, op)
        for name, ops in topic_ops.items()
        for op in ops
    }
    grants |= {Grant(component.principal, Resource.GROUP, g, Operation.READ)
               for g in component.groups}
    return frozenset(grants)


def expected_grants(app_id: str, notify_group_id: str) -> frozenset[Grant]:
    """Every ACL the deployment should have: the union over :func:`components`."""
    return frozenset().union(*(grants_for(c) for c in components(app_id, notify_group_id)))


def component_names_and_users() -> tuple[tuple[str, str], ...]:
    """``(component name, SASL user)`` of every component (user names do not depend on ids)."""
    return tuple((c.name, c.user) for c in components("ehcp-streams", "ehcp-notify"))


def component_users() -> tuple[str, ...]:
    """Every component's SASL user name."""
    return tuple(user for _, user in component_names_and_users())
