"""The topic catalogue: every Kafka topic EHCP Exchange uses, declared once.

Keys are the EHC case id wherever a case is known, so one case's events stay in order on one
partition. All topics share one partition count (from settings) so that topics joined on the
same key are co-partitioned and more workers in one consumer group split the work by case.

``ehcp topics apply`` creates missing topics and aligns configuration idempotently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from ehcp.contract import records
from ehcp.errors import ConfigurationError

FOREVER: Final = -1
DAY_MS: Final = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic of the catalogue.

    Attributes:
        name: the topic name.
        key: what the Kafka key holds.
        value_schema: Avro full name of the value, or ``None`` for raw bytes (dead letters).
        cleanup_policy: ``delete`` or ``compact``.
        retention_ms: ``-1`` keeps events for replay; the LA's retention schedule may shorten it.
        description: what flows on it.
        other_schemas: further record names the topic carries (the audit topic holds refusals
            and reads); a reader decodes by the writer fingerprint and branches on the name.
    """

    name: str
    key: str
    value_schema: str | None
    cleanup_policy: str
    retention_ms: int
    description: str
    other_schemas: tuple[str, ...] = ()

    def configs(self, min_insync_replicas: int) -> dict[str, str]:
        """Topic-level configuration applied by ``ehcp topics apply``."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(min_insync_replicas),
        }


REFERRALS: Final = TopicSpec(
    "ehcp.referrals.v1",
    "case id",
    records.REFERRAL_RECEIVED,
    "delete",
    FOREVER,
    "Requests for an EHC needs assessment received by the LA.",
)
ADVICE_REQUESTS: Final = TopicSpec(
    "ehcp.advice-requests.v1",
    "case id",
    records.ADVICE_REQUESTED,
    "delete",
    FOREVER,
    "Advice requests sent to agencies (reg 6); health ones become FHIR Tasks.",
)
CASEWORK_EVENTS: Final = TopicSpec(
    "ehcp.casework-events.v1",
    "case id",
    records.CASEWORK_EVENT_RECORDED,
    "delete",
    FOREVER,
    "Decisions, plans, reviews, timescale exceptions and term dates (LA or social care).",
)
TASK_STATUS: Final = TopicSpec(
    "ehcp.task-status.v1",
    "case id if known, else request id",
    records.TASK_STATUS_CHANGED,
    "delete",
    FOREVER,
    "Health bodies' FHIR Task status changes (accepted, rejected, completed).",
)
CONTRIBUTIONS: Final = TopicSpec(
    "ehcp.contributions.v1",
    "case id if the sender named it, else the child key",
    records.ADVICE_SUBMITTED,
    "delete",
    FOREVER,
    "Advice as submitted by agencies, before routing to a case; and a person's decision on an "
    "unrouted contribution (UnroutedDecided), under the unrouted record's key.",
    other_schemas=(records.UNROUTED_DECIDED,),
)
CHILD_INDEX: Final = TopicSpec(
    "ehcp.child-index.v1",
    "child key",
    records.CASE_CHILD_LINKED,
    "delete",
    FOREVER,
    "Routing index: which case each (pseudonymised) child identifier belongs to.",
)
CONTRIBUTIONS_ROUTED: Final = TopicSpec(
    "ehcp.contributions-routed.v1",
    "case id",
    records.ADVICE_SUBMITTED,
    "delete",
    FOREVER,
    "Advice routed into its case (case_id set).",
)
UNROUTED: Final = TopicSpec(
    "ehcp.unrouted.v1",
    "child key or contribution id",
    records.CONTRIBUTION_UNROUTED,
    "delete",
    FOREVER,
    "Contributions not (yet) matched to a case, with the reason. Never dropped.",
)
CASE_TICKS: Final = TopicSpec(
    "ehcp.case-ticks.v1",
    "case id",
    records.CASE_TICK,
    "delete",
    30 * DAY_MS,
    "Timer ticks for cases whose alerts fall due: time as an event, so replays agree.",
)
CASE_STATUS: Final = TopicSpec(
    "ehcp.case-status.v1",
    "case id",
    records.CASE_STATUS,
    "compact",
    FOREVER,
    "Latest state of each case, for other systems and `ehcp case show`.",
)
ALERTS: Final = TopicSpec(
    "ehcp.alerts.v1",
    "case id (or child key for unrouted)",
    records.ALERT,
    "delete",
    365 * DAY_MS,
    "Alerts raised and resolved for monitoring staff.",
)
REMINDERS: Final = TopicSpec(
    "ehcp.reminders.v1",
    "case id",
    records.ADVICE_REMINDER_SENT,
    "delete",
    365 * DAY_MS,
    "Reminders LA staff sent a late agency from the workspace (shown on a health body's Task).",
)
AUDIT: Final = TopicSpec(
    "ehcp.audit.v1", "credential id (or workspace user id)", records.ACCESS_REFUSED, "delete",
    FOREVER,
    "Audit events: requests an authenticated agency was refused (403, or 404 for another LA's "
    "case or document), every read of an advice document (RecordRead), and every action a "
    "workspace user took (ActionTaken).",
    other_schemas=(records.RECORD_READ, records.ACTION_TAKEN),
)
DEAD_LETTER: Final = TopicSpec(
    "ehcp.dead-letter.v1",
    "original key",
    None,
    "delete",
    FOREVER,
    "Messages a stage could not process: original bytes plus error headers.",
)
#: Prefix of the Kafka Connect style error headers a dead letter carries (``...topic``,
#: ``...partition``, ``...offset``, ``...stage``, ``...exception.class.name``,
#: ``...exception.message``).
DEAD_LETTER_ERROR_PREFIX: Final = "__connect.errors."

EVENT_TOPICS: Final = (
    REFERRALS,
    CASEWORK_EVENTS,
    ADVICE_REQUESTS,
    TASK_STATUS,
    CONTRIBUTIONS,
    CHILD_INDEX,
    CONTRIBUTIONS_ROUTED,
    UNROUTED,
    CASE_TICKS,
    CASE_STATUS,
    ALERTS,
    DEAD_LETTER,
)


def changelog_topics(app_id: str) -> tuple[TopicSpec, ...]:
    """Faust's changelog topics for the streams' tables, declared here so the catalogue is whole.

    Faust names a table's changelog ``{app_id}-{table}-changelog`` and needs it compacted.
    """
    tables = {
        "cases": "Case table: each case's events and the alerts already emitted.",
        "routing": "Routing table: cases per child key and parked contributions.",
    }
    return tuple(
        TopicSpec(f"{app_id}-{table}-changelog", "table key", None, "compact", FOREVER, text)
        for table, text in tables.items()
    )


def catalogue(app_id: str) -> tuple[TopicSpec, ...]:
    """Every topic EHCP Exchange needs, event topics first (then the workspace's reminders,
    audit, then changelogs)."""
    return (*EVENT_TOPICS, REMINDERS, AUDIT, *changelog_topics(app_id))


def with_retention(
    specs: Sequence[TopicSpec], overrides: Mapping[str, int], app_id: str
) -> tuple[TopicSpec, ...]:
    """``specs`` with the operator's ``retention.ms`` overrides (``EHCP_TOPIC_RETENTION_MS``).

    Time retention only deletes from ``delete`` topics; a compacted topic (case status, the
    workers' changelogs) keeps each key's latest record whatever its retention, so an override
    there would promise a deletion Kafka does not make: it is refused (a case leaves those
    topics by a tombstone, docs/security.md).

    Raises:
        ConfigurationError: an override names a topic outside the catalogue, or a compacted one.
    """
    known = {spec.name: spec for spec in catalogue(app_id)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigurationError(
            f"EHCP_TOPIC_RETENTION_MS names topics outside the catalogue: {', '.join(unknown)}"
        )
    compacted = sorted(t for t in overrides if known[t].cleanup_policy != "delete")
    if compacted:
        raise ConfigurationError(
            "EHCP_TOPIC_RETENTION_MS cannot shorten compacted topics (Kafka keeps each key's "
            f"latest record there regardless): {', '.join(compacted)}"
        )
    return tuple(
        replace(spec, retention_ms=overrides[spec.name]) if spec.name in overrides else spec
        for spec in specs
    )
