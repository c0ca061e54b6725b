"""CSV batch import for education and social care: the same validation and events as the JSON API.

Each referrals or advice row becomes a ``ReferralIn`` or ``AdviceIn`` (so NHS numbers and UPNs are
checked exactly as over HTTP), then the same Avro record. Each casework-events row becomes the JSON
body ``POST /api/{education,social-care}/cases/{case_id}/events`` would receive and goes through
that endpoint's own checks and record building (``connectors.education.models.casework_event``),
so the row and the request give the same ``CaseworkEventRecorded`` event. Events are published
with acks=all. A row that fails is reported with its row number, column and reason (never the
value) and the rest carry on; ``dry_run`` validates without publishing. Event ids come from the
row's ids, so re-running an import after a failure publishes nothing twice downstream.

Columns (header row required):

- referrals: ``case_id, la_code, received_at, requested_by, nhs_number, upn, la_child_id,
  date_of_birth, year_group, vision_impairment, hearing_impairment, looked_after, areas_of_need,
  institution_system, institution_value, advice_providers`` where ``areas_of_need`` is
  ``;``-separated and ``advice_providers`` is ``ADVICE_TYPE=system|value`` pairs separated by ``;``.
- advice: ``contribution_id, advice_type, case_id, request_id, nhs_number, upn, la_child_id,
  date_of_birth, submitted_at``.
- casework-events: ``type, event_id, case_id`` and one column per field of the casework event
  format (docs/casework-events.md), named as the field. A row fills in the columns its ``type``
  uses and leaves the others blank; a filled-in column the type does not have is refused, as an
  unknown JSON field is. A blank cell means the field is not given (null). Booleans are
  ``true``/``false`` (also ``yes``/``no``, ``y``/``n``, ``1``/``0``). ``event_id`` is the event's
  own id, used as is (as over the JSON API). The agency kind decides the types allowed, by the
  JSON API's lists: social care may record ``LookedAfterStatusChanged`` (``occurred_on,
  looked_after``), ``TimescaleExceptionRecorded`` (``exception_id, ground, starts_on``, optional
  ``ends_on, request_id, occurred_on``) and ``TimescaleExceptionEnded`` (``exception_id,
  ends_on``). Example: docs/examples/casework-events-social-care.csv.
"""

from __future__ import annotations

import csv
import re
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, TextIO, Union, get_args, get_origin, get_type_hints

import pydantic

from connectors.education.models import (
    AdviceIn,
    ReferralIn,
    advice_record,
    casework_event,
    referral_record,
)
from connectors.ports import EventPublisher, Principal, PublishedEvent
from ehcp.casework.events import EVENT_TYPES
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import CONTRIBUTIONS, REFERRALS
from ehcp.errors import ValidationError

CASEWORK_EVENTS: Final = "casework-events"
#: What ``ehcp import`` can load.
IMPORT_KINDS: Final = ("referrals", "advice", CASEWORK_EVENTS)
TRUE: Final = {"true", "yes", "y", "1"}
FALSE: Final = {"false", "no", "n", "0"}
INTEGER: Final = re.compile(r"-?\d+")
CHILD_COLUMNS: Final = ("nhs_number", "upn", "la_child_id", "date_of_birth")


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row was not imported."""

    row: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    published: int = 0
    errors: list[RowError] = field(default_factory=list)


def _blank_to_none(row: dict[str, str]) -> dict[str, Any]:
    return {k.strip(): (v.strip() if v and v.strip() else None) for k, v in row.items() if k}


def _child(row: dict[str, Any]) -> dict[str, Any] | None:
    """The child columns that are filled in, or None if none are."""
    child = {c: row[c] for c in CHILD_COLUMNS if row.get(c)}
    return child or None


def referral_from_row(row: dict[str, Any]) -> ReferralIn:
    """Validate one referrals row."""
    providers = []
    for pair in (row.get("advice_providers") or "").split(";"):
        if pair.strip():
            advice_type, _, identifier = pair.partition("=")
            system, _, value = identifier.rpartition("|")
            providers.append(
                {
                    "advice_type": advice_type.strip(),
                    "agency": {"system": system.strip(), "value": value.strip()},
                }
            )
    child = _child(row) or {}
    child.update(
        {
            "year_group": row.get("year_group"),
            "vision_impairment": (row.get("vision_impairment") or "").lower() in TRUE,
            "hearing_impairment": (row.get("hearing_impairment") or "").lower() in TRUE,
            "looked_after": (row.get("looked_after") or "").lower() in TRUE,
        }
    )
    institution = None
    if row.get("institution_system") and row.get("institution_value"):
        institution = {"system": row["institution_system"], "value": row["institution_value"]}
    return ReferralIn.model_validate(
        {
            "case_id": row.get("case_id"),
            "la_code": row.get("la_code"),
            "received_at": row.get("received_at"),
            "requested_by": row.get("requested_by"),
            "child": child,
            "areas_of_need": [
                a.strip() for a in (row.get("areas_of_need") or "").split(";") if a.strip()
            ],
            "institution": institution,
            "advice_providers": providers,
        }
    )


def advice_from_row(row: dict[str, Any]) -> AdviceIn:
    """Validate one advice row."""
    return AdviceIn.model_validate(
        {
            "contribution_id": row.get("contribution_id"),
            "advice_type": row.get("advice_type"),
            "case_id": row.get("case_id"),
            "request_id": row.get("request_id"),
            "child": _child(row),
            "submitted_at": row.get("submitted_at"),
        }
    )


def _takes_null(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _cell(value: str, annotation: Any) -> Any:
    """A cell as the JSON value its field expects; text the field cannot take is left as text."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation is bool and value.lower() in TRUE | FALSE:
        return value.lower() in TRUE
    if annotation is int and INTEGER.fullmatch(value):
        return int(value)
    return value


def casework_body_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON body the casework events endpoint would receive for one casework-events row.

    Every filled-in cell becomes the field its column names, so a column the event type does not
    have is refused just as an unknown JSON field is. A blank cell is left out, or given as null
    where the field takes null. The endpoint's own checks then judge the body.
    """
    cls = EVENT_TYPES.get(row.get("type") or "")
    hints = get_type_hints(cls) if cls is not None else {}
    body: dict[str, Any] = {}
    for column, value in row.items():
        annotation = hints.get(column)
        if value is not None:
            body[column] = _cell(value, annotation)
        elif annotation is not None and _takes_null(annotation):
            body[column] = None
    return body


def casework_event_from_row(row: dict[str, Any], principal: Principal) -> PublishedEvent:
    """Validate one casework-events row and build its event with the JSON API's own code.

    Raises:
        ValidationError: located at the column at fault (blank for a rule between fields).
    """
    case_id = row.get("case_id")
    if case_id is None:  # over HTTP the case id is in the path, so it is never missing
        raise ValidationError("case_id is required", location="case_id")
    try:
        return casework_event(case_id, casework_body_from_row(row), principal)
    except ValidationError as exc:  # the API locates by JSON pointer ("/ground"); CSV by column
        raise ValidationError(exc.message, location=(exc.location or "").lstrip("/")) from exc


def _errors(exc: pydantic.ValidationError) -> Iterator[tuple[str, str]]:
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        column = loc[1] if loc[:1] == ["child"] and len(loc) > 1 else (loc[0] if loc else "")
        yield column, err["msg"]


def events_for(
    kind: str, rows: Iterable[dict[str, str]], principal: Principal, pseudonym_key: bytes
) -> Iterator[tuple[int, PublishedEvent | None, list[RowError]]]:
    """Validate rows of one kind one by one: (row number, event or None, errors)."""
    for number, raw in enumerate(rows, start=2):  # row 1 is the header
        row = _blank_to_none(raw)
        try:
            if kind == CASEWORK_EVENTS:
                yield number, casework_event_from_row(row, principal), []
            elif kind == "referrals":
                referral = referral_from_row(row)
                if referral.la_code != principal.agency_value:
                    raise ValidationError("la_code is not this agency's LA", location="la_code")
                record = referral_record(referral)
                schema = REFERRALS.value_schema or ""
                yield (
                    number,
                    PublishedEvent(
                        REFERRALS.name,
                        referral.case_id,
                        schema,
                        record,
                        event_type(schema),
                        referral.case_id,
                    ),
                    [],
                )
            else:
                advice = advice_from_row(row)
                if advice.advice_type.value not in principal.advice_types:
                    raise ValidationError(
                        "this agency may not submit this advice type", location="advice_type"
                    )
                if advice.case_id is None and advice.child is None and advice.request_id is None:
                    raise ValidationError(
                        "give case_id, request_id or the child", location="case_id"
                    )
                record = advice_record(
                    advice, principal.agency_system, principal.agency_value, "CSV_IMPORT"
                )
                schema = CONTRIBUTIONS.value_schema or ""
                yield (
                    number,
                    PublishedEvent(
                        CONTRIBUTIONS.name,
                        contribution_key(pseudonym_key, record),
                        schema,
                        record,
                        event_type(schema),
                        advice.case_id or advice.contribution_id,
                    ),
                    [],
                )
        except pydantic.ValidationError as exc:
            yield number, None, [RowError(number, c, m) for c, m in _errors(exc)]
        except ValidationError as exc:
            yield number, None, [RowError(number, exc.location or "", exc.message)]


async def import_csv(
    kind: str,
    handle: TextIO,
    principal: Principal,
    pseudonym_key: bytes,
    publisher: EventPublisher,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Import a referrals, advice or casework-events CSV; publish valid rows unless ``dry_run``."""
    if kind not in IMPORT_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(IMPORT_KINDS)}", location="kind")
    report = ImportReport()
    for _, event, errors in events_for(kind, csv.DictReader(handle), principal, pseudonym_key):
        report.rows += 1
        report.errors.extend(errors)
        if event is not None and not dry_run:
            await publisher.publish(event)
            report.published += 1
        progress(1)
    return report
