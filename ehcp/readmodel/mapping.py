"""Records to rows: what each projected topic's record becomes in the read model (pure).

No database and no Kafka here: :func:`rows_for` takes one record as read (:class:`Source`) and
the codec, and returns the :class:`Row` values the store writes. The store fills in each row's
``la_code`` from the case's owner, because the owner comes from another topic (the referral).

A record that cannot be mapped (not Avro, an unknown schema, the wrong record type) becomes a
``PROJECTION_ERROR`` row, so one bad record never stops the projection.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from ehcp.contract.avro import AvroCodec
from ehcp.contract.topics import (
    ALERTS,
    CASE_STATUS,
    CONTRIBUTIONS_ROUTED,
    DEAD_LETTER,
    DEAD_LETTER_ERROR_PREFIX,
    REFERRALS,
    UNROUTED,
    TopicSpec,
)
from ehcp.errors import ContractError
from ehcp.readmodel.pseudonyms import child_search_key

#: The topics the read model is built from. Referrals give each case its owning LA.
PROJECTED_TOPICS: Final[tuple[TopicSpec, ...]] = (
    REFERRALS,
    CASE_STATUS,
    ALERTS,
    CONTRIBUTIONS_ROUTED,
    UNROUTED,
    DEAD_LETTER,
)


#: Longest value of each bounded text column (the tables are declared with these lengths).
#: A record with a longer value is refused as a projection error: PostgreSQL would refuse the
#: whole batch (SQLite does not check lengths), and a projector must not stop on one record.
LIMITS: Final[Mapping[str, int]] = {
    "case_id": 200, "event_id": 200, "contribution_id": 200, "request_id": 200,
    "alert_id": 400, "la_code": 8, "status_la_code": 8, "stage": 64, "advice_type": 64,
    "regulation": 64,
    "status": 32, "kind": 64, "severity": 16, "agency_system": 200, "agency_value": 200,
    "decline_reason": 64, "channel": 32, "reason": 64, "document_sha256": 64,
    "document_content_type": 200, "institution_system": 200, "institution_value": 200,
}
#: The same for a case's statutory dates (``case_dates``): limit names and their regulations
#: come from the casework engine and grow with it, so they get room of their own.
CASE_DATE_LIMITS: Final[Mapping[str, int]] = {
    **LIMITS, "name": 100, "regulation": 400, "status": 32,
}
#: Dead letters are kept whatever they hold: their header fields are cut to these lengths.
DEAD_LETTER_LIMITS: Final[Mapping[str, int]] = {
    "original_topic": 249, "stage": 200, "exception_class": 400,
}


@dataclass(frozen=True, slots=True)
class Source:
    """One Kafka record as read: where it is and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0


class Kind(StrEnum):
    """What a row is, and so how the store writes it."""

    CASE_OWNER = "case_owner"  # insert once: the first referral wins
    CHILD_SEARCH_KEY = "child_search_key"  # insert once, only for the owning LA's referral
    CASE_STATUS = "case_status"  # upsert the case; replace its advice items
    CASE_REMOVED = "case_removed"  # a tombstone on the compacted case-status topic
    ALERT = "alert"  # insert once by event_id
    ADVICE = "advice"  # insert once by event_id
    UNROUTED = "unrouted"  # insert once by event_id
    DEAD_LETTER = "dead_letter"  # insert once by (partition, offset)
    PROJECTION_ERROR = "projection_error"  # insert once by (topic, partition, offset)


@dataclass(frozen=True, slots=True)
class Row:
    """A row to write (without ``la_code``, which the store looks up) and, for a case, its items."""

    kind: Kind
    values: Mapping[str, Any]
    items: Sequence[Mapping[str, Any]] = field(default=())
    dates: Sequence[Mapping[str, Any]] = field(default=())  # a case's statutory dates (v3)


def _identifier(value: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    return str(value["system"]), str(value["value"])


def _utc(value: datetime) -> datetime:
    """A timestamp in UTC (fastavro gives aware datetimes; a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _position(source: Source) -> dict[str, int]:
    return {"kafka_partition": source.partition, "kafka_offset": source.offset}


def _case_status(source: Source, record: Mapping[str, Any]) -> Row:
    case_id = str(record["case_id"])
    items = []
    for item in record["advice"]:
        system, value = _identifier(item.get("agency"))
        items.append({
            "case_id": case_id,
            "advice_type": str(item["advice_type"]),
            "regulation": str(item["regulation"]),
            "status": str(item["status"]),
            "request_id": item.get("request_id"),
            "agency_system": system,
            "agency_value": value,
            "due_on": item.get("due_on"),
            "decline_reason": item.get("decline_reason"),
            "contribution_ids": json.dumps(list(item.get("contribution_ids") or [])),
        })
    # v3: every limit the engine works out. Null (a v1/v2 writer) is told apart from an empty
    # list, so readers fall back to the dates older statuses carried.
    written = record.get("statutory_dates")
    dates = [{
        "case_id": case_id,
        "position": position,
        "name": str(due["name"]),
        "due_on": due["due_on"],
        "status": str(due["status"]),
        "completed_on": due.get("completed_on"),
        "regulation": str(due["regulation"]),
        "rule_text": str(due.get("rule_text") or ""),
        "clock_started_on": due.get("clock_started_on"),
        "excused": bool(due.get("excused")),
        "exception_ids": json.dumps(list(due.get("exception_ids") or [])),
    } for position, due in enumerate(written or [])]
    exceptions_apply = record.get("exceptions_apply")
    values = {
        "case_id": case_id,
        "stage": str(record["stage"]),
        "received_on": record.get("received_on"),
        "final_plan_due_on": record.get("final_plan_due_on"),
        "as_of": record["as_of"],
        "open_alerts": int(record.get("open_alerts") or 0),
        "decided_to_assess_on": record.get("decided_to_assess_on"),
        "final_plan_issued_on": record.get("final_plan_issued_on"),
        "exceptions_apply": None if exceptions_apply is None else bool(exceptions_apply),
        "has_statutory_dates": written is not None,
        # v4: the LA owning the case as the worker wrote it (None before v4). The store takes it
        # out of the row and files the case, and everything of it, under that LA.
        "status_la_code": record.get("la_code"),
        **_position(source),
    }
    return Row(Kind.CASE_STATUS, values, tuple(items), tuple(dates))


def _alert(source: Source, record: Mapping[str, Any]) -> Row:
    system, value = _identifier(record.get("agency"))
    return Row(Kind.ALERT, {
        "event_id": str(record["event_id"]),
        "alert_id": str(record["alert_id"]),
        "case_id": record.get("case_id"),
        "kind": str(record["kind"]),
        "status": str(record["status"]),
        "severity": str(record["severity"]),
        "advice_type": record.get("advice_type"),
        "agency_system": system,
        "agency_value": value,
        "due_on": record.get("due_on"),
        "days_overdue": int(record.get("days_overdue") or 0),
        "regulation": str(record["regulation"]),
        "message": str(record["message"]),
        "as_of": record["as_of"],
        **_position(source),
    })


def _contribution(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an ``AdviceSubmitted`` the workspace shows (never the child's identity)."""
    system, value = _identifier(record["agency"])
    return {
        "contribution_id": str(record["contribution_id"]),
        "advice_type": str(record["advice_type"]),
        "agency_system": system,
        "agency_value": value,
        "submitted_at": _utc(record["submitted_at"]),
        "channel": str(record["channel"]),
    }


def _advice(source: Source, record: Mapping[str, Any]) -> Row:
    if not record.get("case_id"):
        raise ContractError("routed advice without a case_id")
    document = record.get("document") or {}
    return Row(Kind.ADVICE, {
        "event_id": str(record["event_id"]),
        "case_id": str(record["case_id"]),
        "request_id": record.get("request_id"),
        **_contribution(record),
        "document_sha256": document.get("sha256"),
        "document_size_bytes": document.get("size_bytes"),
        "document_content_type": document.get("content_type"),
        **_position(source),
    })


def _unrouted(source: Source, record: Mapping[str, Any]) -> Row:
    return Row(Kind.UNROUTED, {
        "event_id": str(record["event_id"]),
        "reason": str(record["reason"]),
        "detail": str(record["detail"]),
        "parked": bool(record["parked"]),
        **_contribution(record["contribution"]),
        **_position(source),
    })


def _dead_letter(source: Source) -> Row:
    errors = {
        name[len(DEAD_LETTER_ERROR_PREFIX):]: value.decode(errors="replace")
        for name, value in source.headers
        if name.startswith(DEAD_LETTER_ERROR_PREFIX)
    }

    def number(name: str) -> int:
        try:
            return int(errors.get(name, "-1"))
        except ValueError:
            return -1

    return Row(Kind.DEAD_LETTER, {
        **_position(source),
        "key": source.key,
        "value": source.value,
        "headers": json.dumps(
            [[name, base64.b64encode(value).decode()] for name, value in source.headers]
        ),
        "original_topic": _text(errors.get("topic", ""), DEAD_LETTER_LIMITS["original_topic"]),
        "original_partition": number("partition"),
        "original_offset": number("offset"),
        "stage": _text(errors.get("stage", ""), DEAD_LETTER_LIMITS["stage"]),
        "exception_class": _text(errors.get("exception.class.name", ""),
                                 DEAD_LETTER_LIMITS["exception_class"]),
        "exception_message": _text(errors.get("exception.message", "")),
        "timestamp_ms": source.timestamp_ms,
    })


def _error(source: Source, exc: Exception) -> Row:
    return Row(Kind.PROJECTION_ERROR, {
        "topic": source.topic,
        "kafka_partition": source.partition,
        "kafka_offset": source.offset,
        "error_class": type(exc).__name__,
        "error": _text(str(exc), 2000),
    })


def rows_for(source: Source, codec: AvroCodec, pseudonym_key: bytes | None = None) -> list[Row]:
    """The rows one record becomes; a record that cannot be mapped becomes a projection error.

    Records of topics the read model does not project give no rows. With ``pseudonym_key`` a
    referral also gives the keyed pseudonyms of its child identifiers (:mod:`.pseudonyms`).
    """
    try:
        rows = _rows(source, codec, pseudonym_key)
        for row in rows:
            if row.kind is not Kind.DEAD_LETTER:
                for values in (row.values, *row.items):
                    _check_storable(values)
                for values in row.dates:
                    _check_storable(values, CASE_DATE_LIMITS)
        return rows
    except (ContractError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [_error(source, exc)]


def _check_storable(values: Mapping[str, Any], limits: Mapping[str, int] = LIMITS) -> None:
    """Refuse text every database cannot store: over its column's length, or holding NUL.

    Raises:
        ContractError: naming the field (never its value, which may be personal data).
    """
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise ContractError(f"{name} holds a nul character")
        limit = limits.get(name)
        if limit is not None and len(value) > limit:
            raise ContractError(f"{name} is longer than {limit} characters")


def _text(value: str, limit: int | None = None) -> str:
    """Dead-letter text as a database stores it: NUL replaced, cut to ``limit``."""
    value = value.replace("\x00", "\ufffd")
    return value if limit is None else value[:limit]


def _referral(record: Mapping[str, Any], pseudonym_key: bytes | None) -> list[Row]:
    """The case's owner and school, and a keyed pseudonym of each child identifier (never the
    identifier): the store keeps them only if this referral's LA owns the case."""
    case_id, la_code = str(record["case_id"]), str(record["la_code"])
    school_system, school = _identifier(record.get("institution"))
    rows = [Row(Kind.CASE_OWNER, {"case_id": case_id, "la_code": la_code,
                                  "institution_system": school_system,
                                  "institution_value": school})]
    if pseudonym_key is not None:
        keys = {child_search_key(pseudonym_key, str(i["value"]))
                for i in record["child"]["identifiers"]}
        rows.extend(Row(Kind.CHILD_SEARCH_KEY, {"case_id": case_id, "la_code": la_code,
                                                "search_key": key})
                    for key in sorted(k for k in keys if k is not None))
    return rows


def _rows(source: Source, codec: AvroCodec, pseudonym_key: bytes | None) -> list[Row]:
    if source.topic == DEAD_LETTER.name:
        return [_dead_letter(source)]
    spec = next((s for s in PROJECTED_TOPICS if s.name == source.topic), None)
    if spec is None:
        return []
    if source.value is None:
        if spec is CASE_STATUS and source.key is not None:
            return [Row(Kind.CASE_REMOVED, {"case_id": source.key.decode()})]
        raise ContractError("a record without a value on a topic that is not compacted")
    _, record = codec.decode(source.value, expected=spec.value_schema)
    if spec is REFERRALS:
        return _referral(record, pseudonym_key)
    if spec is CASE_STATUS:
        return [_case_status(source, record)]
    if spec is ALERTS:
        return [_alert(source, record)]
    if spec is CONTRIBUTIONS_ROUTED:
        return [_advice(source, record)]
    return [_unrouted(source, record)]
