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
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata: Final = MetaData()

_ID = 200  # case ids, event ids, alert ids: short strings; bounded for PostgreSQL indexes.

case_owners: Final = Table(
    "case_owners",
    metadata,
    Column("case_id", String(_ID), primary_key=True),
    Column("la_code", String(8), nullable=False),
)
"""The LA owning each case: the first referral naming the case wins (as at the edge)."""

cases: Final = Table(
    "cases",
    metadata,
    Column("case_id", String(_ID), primary_key=True),
    Column("la_code", String(8), nullable=True, index=True),
    Column("stage", String(64), nullable=False),
    Column("received_on", Date, nullable=True),
    Column("final_plan_due_on", Date, nullable=True),
    Column("as_of", Date, nullable=False),
    Column("open_alerts", Integer, nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
)
"""The latest ``CaseStatus`` of each case (the compacted ``ehcp.case-status.v1``)."""

case_advice: Final = Table(
    "case_advice",
    metadata,
    Column("case_id", String(_ID), primary_key=True),
    Column("advice_type", String(64), primary_key=True),
    Column("la_code", String(8), nullable=True, index=True),
    Column("regulation", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("request_id", String(_ID), nullable=True),
    Column("agency_system", String(200), nullable=True),
    Column("agency_value", String(200), nullable=True),
    Column("due_on", Date, nullable=True),
    Column("decline_reason", String(64), nullable=True),
    Column("contribution_ids", Text, nullable=False),  # JSON list of strings
)
"""Each case's advice items as in its latest ``CaseStatus`` (replaced with every new status)."""

alerts: Final = Table(
    "alerts",
    metadata,
    Column("event_id", String(_ID), primary_key=True),  # de-duplication: docs/contract.md
    Column("alert_id", String(400), nullable=False, index=True),
    Column("case_id", String(_ID), nullable=True, index=True),
    Column("la_code", String(8), nullable=True, index=True),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("advice_type", String(64), nullable=True),
    Column("agency_system", String(200), nullable=True),
    Column("agency_value", String(200), nullable=True),
    Column("due_on", Date, nullable=True),
    Column("days_overdue", Integer, nullable=False),
    Column("regulation", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
)
"""Every alert event once (by ``event_id``), in the order first read."""

advice: Final = Table(
    "advice",
    metadata,
    Column("event_id", String(_ID), primary_key=True),
    Column("contribution_id", String(_ID), nullable=False, index=True),
    Column("case_id", String(_ID), nullable=False, index=True),
    Column("la_code", String(8), nullable=True, index=True),
    Column("request_id", String(_ID), nullable=True),
    Column("advice_type", String(64), nullable=False),
    Column("agency_system", String(200), nullable=False),
    Column("agency_value", String(200), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("document_sha256", String(64), nullable=True),
    Column("document_size_bytes", BigInteger, nullable=True),
    Column("document_content_type", String(200), nullable=True),
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
)
"""Advice routed into its case (``ehcp.contributions-routed.v1``), without the child's identity."""

unrouted: Final = Table(
    "unrouted",
    metadata,
    Column("event_id", String(_ID), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("parked", Boolean, nullable=False),
    Column("contribution_id", String(_ID), nullable=False, index=True),
    Column("advice_type", String(64), nullable=False),
    Column("agency_system", String(200), nullable=False),
    Column("agency_value", String(200), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(32), nullable=False),
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
    Column("original_topic", String(249), nullable=False),
    Column("original_partition", Integer, nullable=False),
    Column("original_offset", BigInteger, nullable=False),
    Column("stage", String(200), nullable=False),
    Column("exception_class", String(400), nullable=False),
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

offsets: Final = Table(
    "projector_offsets",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
"""The next offset to read per topic partition, written in the same transaction as the rows."""
