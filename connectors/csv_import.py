"""CSV batch import for education and social care: the same validation and events as the JSON API.

Each referrals or advice row becomes a ``ReferralIn`` or ``AdviceIn`` (so NHS numbers and UPNs are
checked exactly as over HTTP), then the same Avro record. Each casework-events row becomes the JSON
body ``POST /api/{education,social-care}/cases/{case_id}/events`` would receive and goes through
that endpoint's own checks and record building (``connectors.education.models.casework_event``),
so the row and the request give the same ``CaseworkEventRecorded`` event. Events are published
with acks=all. A row that fails is reported with its row number, column and reason (never the
value) and the rest carry on; ``dry_run`` validates without publishing. Event ids come from the
row's ids, so re-running an import after a failure publishes nothing twice downstream.

A header naming a column the kind does not have (a misspelt ``nhs_no``) refuses the whole file
with one error on row 1 naming the columns, before any row is read: every row would otherwise
silently lose that data. A yes/no cell that is not ``true``/``false`` (also ``yes``/``no``,
``y``/``n``, ``1``/``0``; blank means no) is a row error. Referral rows also get the API's
checks beyond the model (:func:`connectors.education.models.check_referral`).

The columns of each kind are defined here once (:data:`REFERRAL_COLUMNS`, :data:`ADVICE_COLUMNS`,
:func:`casework_columns`) and listed in docs/csv-import.md, which a unit test checks against
:func:`columns_markdown` so the two cannot drift.

Over 400 lines on purpose: the column tables of all three kinds and the one row loop that applies
them live together, so every kind gets the same header, cell and error handling.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO, Union, get_args, get_origin, get_type_hints

import pydantic

from connectors.education.models import (
    CASEWORK_EVENT_TYPES,
    AdviceIn,
    ReferralIn,
    advice_record,
    casework_event,
    check_referral,
    referral_record,
)
from connectors.ports import EventPublisher, Principal, PublishedEvent
from ehcp.casework.events import EVENT_TYPES
from ehcp.clock import Clock
from ehcp.contract.cloudevents import event_type
from ehcp.contract.keys import contribution_key
from ehcp.contract.topics import CONTRIBUTIONS, REFERRALS
from ehcp.errors import ConfigurationError, ValidationError

CASEWORK_EVENTS: Final = "casework-events"
#: What ``ehcp import`` can load.
IMPORT_KINDS: Final = ("referrals", "advice", CASEWORK_EVENTS)
TRUE: Final = {"true", "yes", "y", "1"}
FALSE: Final = {"false", "no", "n", "0"}
INTEGER: Final = re.compile(r"-?\d+")
CHILD_COLUMNS: Final = ("nhs_number", "upn", "la_child_id", "date_of_birth")
YES_NO: Final = "`true`/`false` (also `yes`/`no`, `y`/`n`, `1`/`0`); blank means false"
#: The columns of a referrals CSV and what each holds (docs/csv-import.md is checked against it).
REFERRAL_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("case_id", "the LA's EHC case reference"),
    ("la_code", "DfE three-digit LA code: must be `--agency`"),
    ("received_at", "when the request was received: ISO 8601 with a UTC offset; not in the future"),
    ("requested_by", "`PARENT`, `YOUNG_PERSON`, `SCHOOL_OR_SETTING`, `HEALTH`, `SOCIAL_CARE` "
     "or `OTHER`"),
    ("nhs_number", "10 digits, Modulus 11 check digit"),
    ("upn", "Unique Pupil Number, check letter first"),
    ("la_child_id", "the LA's own id for the child (at least one of the three ids is required)"),
    ("date_of_birth", "`YYYY-MM-DD`; not in the future"),
    ("year_group", "National Curriculum year, reception = 0 (-3 to 14)"),
    ("vision_impairment", YES_NO),
    ("hearing_impairment", YES_NO),
    ("looked_after", YES_NO),
    ("areas_of_need", "`;`-separated: `COMMUNICATION_AND_INTERACTION`, `COGNITION_AND_LEARNING`, "
     "`SOCIAL_EMOTIONAL_AND_MENTAL_HEALTH`, `SENSORY_AND_PHYSICAL`"),
    ("institution_system", "identifier system of the child's setting (with `institution_value`)"),
    ("institution_value", "identifier of the child's setting, e.g. a school URN"),
    ("advice_providers", "`ADVICE_TYPE=system\\|value` pairs separated by `;`"),
)
#: The columns of an advice CSV and what each holds.
ADVICE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("contribution_id", "your id for this piece of advice (3 to 128 characters)"),
    ("advice_type", "an advice type `--agency-kind` may submit, e.g. `EDUCATIONAL`"),
    ("case_id", "the EHC case reference (give this, `request_id` or the child)"),
    ("request_id", "the LA's advice request id being answered"),
    ("nhs_number", "10 digits, Modulus 11 check digit"),
    ("upn", "Unique Pupil Number, check letter first"),
    ("la_child_id", "the LA's own id for the child"),
    ("date_of_birth", "`YYYY-MM-DD` (with at least one of the child's ids)"),
    ("submitted_at", "ISO 8601 with a UTC offset"),
)


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


def casework_columns() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each casework event type some agency kind may import: (required, optional) columns.

    Besides ``type``; ``event_id`` and ``case_id`` are among the required columns. A column is
    optional if its field has a default or takes null (a blank cell).
    """
    importable = sorted(set().union(*CASEWORK_EVENT_TYPES.values()))
    out = {}
    for name in importable:
        cls = EVENT_TYPES[name]
        fields = dataclasses.fields(cls)
        hints = get_type_hints(cls)
        required = tuple(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and not _takes_null(hints[f.name])
        )
        out[name] = (required, tuple(f.name for f in fields if f.name not in required))
    return out


def known_columns(kind: str) -> frozenset[str]:
    """Every column a CSV of ``kind`` may have."""
    if kind == "referrals":
        return frozenset(name for name, _ in REFERRAL_COLUMNS)
    if kind == "advice":
        return frozenset(name for name, _ in ADVICE_COLUMNS)
    columns = {"type"}
    for required, optional in casework_columns().values():
        columns.update(required, optional)
    return frozenset(columns)


def columns_markdown(kind: str) -> str:
    """The Markdown table of ``kind``'s columns, as docs/csv-import.md shows it."""
    if kind == CASEWORK_EVENTS:
        lines = ["| type | may be imported by | columns (besides `type`) | optional columns |",
                 "|---|---|---|---|"]
        for name, (required, optional) in casework_columns().items():
            kinds = ", ".join(k for k, allowed in sorted(CASEWORK_EVENT_TYPES.items())
                              if name in allowed)
            lines.append(f"| `{name}` | {kinds} | {', '.join(f'`{c}`' for c in required)} | "
                         f"{', '.join(f'`{c}`' for c in optional) or '-'} |")
    else:
        spec = REFERRAL_COLUMNS if kind == "referrals" else ADVICE_COLUMNS
        lines = ["| column | holds |", "|---|---|"]
        lines += [f"| `{name}` | {meaning} |" for name, meaning in spec]
    return "\n".join(lines) + "\n"


def _yes_no(row: dict[str, Any], column: str) -> bool:
    """A yes/no cell; blank is no. Anything else (``maybe``) is an error, never a silent no.

    Raises:
        ValidationError: located at the column, without its value.
    """
    value = (row.get(column) or "").lower()
    if value and value not in TRUE | FALSE:
        raise ValidationError(
            "must be true or false (also yes/no, y/n, 1/0; blank means false)", location=column
        )
    return value in TRUE


def referral_from_row(row: dict[str, Any]) -> ReferralIn:
    """Validate one referrals row.

    Raises:
        ValidationError: a yes/no column holds something else.
        pydantic.ValidationError: the row does not fit ``ReferralIn``.
    """
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
            "vision_impairment": _yes_no(row, "vision_impairment"),
            "hearing_impairment": _yes_no(row, "hearing_impairment"),
            "looked_after": _yes_no(row, "looked_after"),
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
    kind: str,
    rows: Iterable[dict[str, str]],
    principal: Principal,
    pseudonym_key: bytes | None,
    now: datetime,
) -> Iterator[tuple[int, PublishedEvent | None, list[RowError]]]:
    """Validate rows of one kind one by one: (row number, event or None, errors).

    Args:
        kind: one of :data:`IMPORT_KINDS`.
        rows: the CSV rows as dicts (header row excluded).
        principal: whose data this is.
        pseudonym_key: keys advice naming only the child; None for a dry run, whose events are
            never published (such an event is then keyed by its contribution id).
        now: the import's clock, for the referral date checks.
    """
    for number, raw in enumerate(rows, start=2):  # row 1 is the header
        row = _blank_to_none(raw)
        try:
            if kind == CASEWORK_EVENTS:
                yield number, casework_event_from_row(row, principal), []
            elif kind == "referrals":
                referral = referral_from_row(row)
                if referral.la_code != principal.agency_value:
                    raise ValidationError("la_code is not this agency's LA", location="la_code")
                try:
                    check_referral(referral, now)
                except ValidationError as exc:  # located by JSON pointer; CSV by column
                    column = (exc.location or "").rsplit("/", 1)[-1]
                    raise ValidationError(exc.message, location=column) from exc
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
                key = (
                    contribution_key(pseudonym_key, record)
                    if pseudonym_key is not None
                    else f"contribution:{advice.contribution_id}"
                )
                yield (
                    number,
                    PublishedEvent(
                        CONTRIBUTIONS.name,
                        key,
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


def unknown_columns(kind: str, header: Iterable[str] | None) -> list[str]:
    """The header's columns that ``kind`` does not have, in header order."""
    known = known_columns(kind)
    return [name.strip() for name in header or () if name.strip() not in known]


async def import_csv(
    kind: str,
    handle: TextIO,
    principal: Principal,
    pseudonym_key: bytes | None,
    publisher: EventPublisher | None,
    *,
    clock: Clock,
    dry_run: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Import a referrals, advice or casework-events CSV; publish valid rows unless ``dry_run``.

    A header with unknown columns refuses the file: one error on row 1 naming them, no row read.

    Args:
        kind: one of :data:`IMPORT_KINDS`.
        handle: the CSV text, header row first.
        principal: whose data this is (agency, kind, advice types).
        pseudonym_key: needed to publish; a dry run needs none.
        publisher: where valid rows go; a dry run needs none.
        clock: the current time, for the referral date checks.
        dry_run: validate every row, publish nothing.
        progress: called with 1 after each row.

    Raises:
        ValidationError: ``kind`` is unknown.
        ConfigurationError: publishing without a pseudonym key or a publisher.
    """
    if kind not in IMPORT_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(IMPORT_KINDS)}", location="kind")
    if not dry_run and (pseudonym_key is None or publisher is None):
        raise ConfigurationError("publishing an import needs the pseudonym key and a publisher")
    report = ImportReport()
    reader = csv.DictReader(handle)
    unknown = unknown_columns(kind, reader.fieldnames)
    if unknown:
        report.errors.append(RowError(1, ", ".join(unknown), (
            f"unknown column(s) for {kind}; the file was not imported "
            "(columns: docs/csv-import.md)")))
        return report
    now = clock.now()
    for _, event, errors in events_for(kind, reader, principal, pseudonym_key, now):
        report.rows += 1
        report.errors.extend(errors)
        if event is not None and not dry_run and publisher is not None:
            await publisher.publish(event)
            report.published += 1
        progress(1)
    return report
