"""The read model's tables, declared once with SQLAlchemy Core (SQLite and PostgreSQL alike).

Designed for "what a local authority may see": every row that belongs to a case carries the
case's ``la_code`` (the LA whose referral opened the case), so a reader filters one column.
Rows that belong to no case yet (unrouted contributions, dead letters, projection errors) have
no ``la_code`` and are for the operators only.

Child identifiers, dates of birth and document contents are not copied here: the workspace
needs the state of the advice, not the child's identity (data minimisation).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from ehcp.readmodel.mapping import CASE_DATE_LIMITS, DEAD_LETTER_LIMITS, LIMITS

metadata: Final = MetaData()

#: Advice still owed by its agency (what the work tray lists and ``tray_counts`` counts).
OPEN_ADVICE_STATUSES: Final = ("REQUESTED", "OVERDUE")


def _text(name: str) -> String:
    """A bounded text column; the mapping refuses longer values (``LIMITS``)."""
    return String(LIMITS[name])

case_owners: Final = Table(
    "case_owners",
    metadata,
    Column("case_id", _text("case_id"), primary_key=True),
    # The LA owning the case now: the latest status's (CaseStatus v4, which follows a reg 15
    # transfer) if it names one, else the first referral's.
    Column("la_code", _text("la_code"), nullable=False),
    # The LA of the first referral naming the case (NULL while only a status has been read).
    Column("referral_la_code", _text("la_code"), nullable=True),
    # The LA the latest status named (NULL: no status yet, or one written before v4).
    Column("status_la_code", _text("la_code"), nullable=True),
    # The school or setting the referral named (the work tray's school filter).
    Column("institution_system", _text("institution_system"), nullable=True),
    Column("institution_value", _text("institution_value"), nullable=True),
)
"""The LA owning each case and the referral's school. The first referral naming the case wins
(as at the edge); a status naming an LA (v4, the worker's owner after a transfer) overrides it,
and the latest status wins, whichever of the referral and the status is read first."""
Index("ix_case_owners_school", case_owners.c.la_code, case_owners.c.institution_value)

child_search_keys: Final = Table(
    "child_search_keys",
    metadata,
    Column("search_key", String(64), primary_key=True),
    Column("case_id", _text("case_id"), primary_key=True),
)
"""A keyed pseudonym of each child identifier of a case's owning referral, for the work tray's
search by child identifier (``ehcp.readmodel.pseudonyms``): the identifier itself is never
stored, and the pseudonym cannot be reversed without the deployment's pseudonym key."""

cases: Final = Table(
    "cases",
    metadata,
    Column("case_id", _text("case_id"), primary_key=True),
    Column("la_code", _text("la_code"), nullable=True, index=True),
    Column("stage", _text("stage"), nullable=False),
    Column("received_on", Date, nullable=True),
    Column("final_plan_due_on", Date, nullable=True),
    Column("as_of", Date, nullable=False),
    Column("open_alerts", Integer, nullable=False),
    # CaseStatus v3 (NULL when the latest status was written by v1/v2):
    Column("decided_to_assess_on", Date, nullable=True),
    Column("final_plan_issued_on", Date, nullable=True),
    Column("exceptions_apply", Boolean, nullable=True),  # DfE SEN2 "20-week exceptions apply"
    Column("has_statutory_dates", Boolean, nullable=False),  # v3: case_dates holds every limit
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    # Bumped (from ``sequence``) whenever the case, its items, its owner, its alerts or its
    # advice change: readers page "changed after seq N" (``ehcp.readmodel.access``).
    Column("change_seq", BigInteger, nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # the changing record's time
)
"""The latest ``CaseStatus`` of each case (the compacted ``ehcp.case-status.v1``)."""

case_advice: Final = Table(
    "case_advice",
    metadata,
    Column("case_id", _text("case_id"), primary_key=True),
    Column("advice_type", _text("advice_type"), primary_key=True),
    Column("la_code", _text("la_code"), nullable=True, index=True),
    Column("regulation", _text("regulation"), nullable=False),
    Column("status", _text("status"), nullable=False),
    Column("request_id", _text("request_id"), nullable=True),
    Column("agency_system", _text("agency_system"), nullable=True),
    Column("agency_value", _text("agency_value"), nullable=True),
    Column("due_on", Date, nullable=True),
    Column("decline_reason", _text("decline_reason"), nullable=True),
    Column("contribution_ids", Text, nullable=False),  # JSON list of strings
)
"""Each case's advice items as in its latest ``CaseStatus`` (replaced with every new status)."""

case_dates: Final = Table(
    "case_dates",
    metadata,
    Column("case_id", _text("case_id"), primary_key=True),
    Column("position", Integer, primary_key=True),  # the status's order (due-date order)
    Column("la_code", _text("la_code"), nullable=True, index=True),
    Column("name", String(CASE_DATE_LIMITS["name"]), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", _text("status"), nullable=False),
    Column("completed_on", Date, nullable=True),
    Column("regulation", String(CASE_DATE_LIMITS["regulation"]), nullable=False),
    Column("rule_text", Text, nullable=False),
    Column("clock_started_on", Date, nullable=True),
    Column("excused", Boolean, nullable=False),
    Column("exception_ids", Text, nullable=False),  # JSON list of strings
)
"""Every statutory date of each case's latest ``CaseStatus`` (v3; replaced with every new
status): whatever limits the casework engine works out, by name, with no table change."""

#: The work tray's stage filter lists an LA's stages from the index alone.
Index("ix_cases_la_stage", cases.c.la_code, cases.c.stage)
#: The workspace's work tray reads an LA's open advice by due date (ehcp/readmodel/views.py):
#: in due-date order, and covering what its counts and page keys read, so neither touches rows.
Index("ix_case_advice_tray", case_advice.c.la_code, case_advice.c.due_on, case_advice.c.status,
      case_advice.c.agency_value, case_advice.c.advice_type, case_advice.c.case_id)

tray_counts: Final = Table(
    "tray_counts",
    metadata,
    Column("la_code", _text("la_code"), primary_key=True),
    Column("stage", _text("stage"), primary_key=True),
    Column("due_on", Date, primary_key=True),
    Column("agency_value", _text("agency_value"), primary_key=True),  # "" when none
    Column("advice_type", _text("advice_type"), primary_key=True),
    Column("open_items", BigInteger, nullable=False),
)
"""How many open advice items (``REQUESTED``/``OVERDUE``, with an owner and a due date) each LA
has per stage, due date, agency and advice type: the work tray's counts read these few rows
instead of every open item. Kept by the projector in the same transaction as ``case_advice``
(``store._recount``); a group that reaches zero is deleted, so a rebuild gives the same rows."""

alerts: Final = Table(
    "alerts",
    metadata,
    Column("event_id", _text("event_id"), primary_key=True),  # de-duplication: docs/contract.md
    Column("alert_id", _text("alert_id"), nullable=False, index=True),
    Column("case_id", _text("case_id"), nullable=True, index=True),
    Column("la_code", _text("la_code"), nullable=True, index=True),
    Column("kind", _text("kind"), nullable=False),
    Column("status", _text("status"), nullable=False),
    Column("severity", _text("severity"), nullable=False),
    Column("advice_type", _text("advice_type"), nullable=True),
    Column("agency_system", _text("agency_system"), nullable=True),
    Column("agency_value", _text("agency_value"), nullable=True),
    Column("due_on", Date, nullable=True),
    Column("days_overdue", Integer, nullable=False),
    Column("regulation", _text("regulation"), nullable=False),
    Column("message", Text, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False, index=True),  # bumped again when la_code is learnt
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Every alert event once (by ``event_id``), in the order first read."""

advice: Final = Table(
    "advice",
    metadata,
    Column("event_id", _text("event_id"), primary_key=True),
    Column("contribution_id", _text("contribution_id"), nullable=False, index=True),
    Column("case_id", _text("case_id"), nullable=False, index=True),
    Column("la_code", _text("la_code"), nullable=True, index=True),
    Column("request_id", _text("request_id"), nullable=True),
    Column("advice_type", _text("advice_type"), nullable=False),
    Column("agency_system", _text("agency_system"), nullable=False),
    Column("agency_value", _text("agency_value"), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("channel", _text("channel"), nullable=False),
    Column("document_sha256", _text("document_sha256"), nullable=True),
    Column("document_size_bytes", BigInteger, nullable=True),
    Column("document_content_type", _text("document_content_type"), nullable=True),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False, index=True),  # bumped again when la_code is learnt
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Advice routed into its case (``ehcp.contributions-routed.v1``), without the child's identity."""

unrouted: Final = Table(
    "unrouted",
    metadata,
    Column("event_id", _text("event_id"), primary_key=True),
    Column("reason", _text("reason"), nullable=False),
    Column("detail", Text, nullable=False),
    Column("parked", Boolean, nullable=False),
    Column("contribution_id", _text("contribution_id"), nullable=False, index=True),
    Column("advice_type", _text("advice_type"), nullable=False),
    Column("agency_system", _text("agency_system"), nullable=False),
    Column("agency_value", _text("agency_value"), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("channel", _text("channel"), nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
)
"""Contributions not (yet) matched to a case: no case, so no LA; for the operators."""

dead_letters: Final = Table(
    "dead_letters",
    metadata,
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=True),
    Column("headers", Text, nullable=False),  # JSON [[name, base64 value], ...]
    Column("original_topic", String(DEAD_LETTER_LIMITS["original_topic"]), nullable=False),
    Column("original_partition", Integer, nullable=False),
    Column("original_offset", BigInteger, nullable=False),
    Column("stage", String(DEAD_LETTER_LIMITS["stage"]), nullable=False),
    Column("exception_class", String(DEAD_LETTER_LIMITS["exception_class"]), nullable=False),
    Column("exception_message", Text, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
)
"""``ehcp.dead-letter.v1`` byte for byte, with its Kafka Connect error headers read out."""

projection_errors: Final = Table(
    "projection_errors",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("error_class", String(200), nullable=False),
    Column("error", Text, nullable=False),
)
"""Records the projector could not map (e.g. not Avro): noted and skipped, never blocking."""

sequence: Final = Table(
    "readmodel_sequence",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_value", BigInteger, nullable=False),
)
"""The last change number handed out (one row, ``change``): ``cases.change_seq``, ``alerts.seq``
and ``advice.seq`` all come from it, so one cursor orders every change. Kept in a table, not
derived from ``max(seq)``, so a removed case never lets a number be handed out twice."""

offsets: Final = Table(
    "projector_offsets",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
"""The next offset to read per topic partition, written in the same transaction as the rows."""
