"""The JSON-lines event format: one event per line, ``{"type": "<EventName>", ...fields}``.

Dates are ISO ``YYYY-MM-DD``; datetimes ISO 8601 with an offset (``2025-01-06T09:30:00+00:00``
or ``...Z``); enums by member name; optional fields may be omitted or ``null``. Blank lines and
lines starting with ``#`` are skipped. See ``docs/casework-events.md``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin, get_type_hints

from ehcp.casework.events import EVENT_TYPES, CaseEvent
from ehcp.errors import CaseworkError, ValidationError

__all__ = ["dump_event", "dumps", "event_to_dict", "parse_event", "parse_lines"]


class _FieldError(Exception):
    """Internal: a field value could not be converted (always re-raised as ValidationError)."""


def _convert(value: Any, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if value is None:
            if len(options) < len(get_args(annotation)):
                return None
            raise _FieldError("must not be null")
        return _convert(value, options[0])
    if value is None:
        raise _FieldError("must not be null")
    if annotation is bool:
        if not isinstance(value, bool):
            raise _FieldError("must be true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError("must be an integer")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise _FieldError("must be a string")
        return value
    if annotation is datetime:
        if not isinstance(value, str):
            raise _FieldError("must be an ISO 8601 datetime string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _FieldError("must be an ISO 8601 datetime") from exc
        if parsed.tzinfo is None:
            raise _FieldError("must carry a UTC offset (e.g. +00:00 or Z)")
        return parsed
    if annotation is date:
        if not isinstance(value, str) or len(value) != 10:
            raise _FieldError("must be an ISO date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise _FieldError("must be an ISO date YYYY-MM-DD") from exc
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if not isinstance(value, str) or value not in annotation.__members__:
            names = ", ".join(annotation.__members__)
            raise _FieldError(f"must be one of {names}")
        return annotation[value]
    raise _FieldError(f"has an unsupported type {annotation!r}")  # a programming error


_SHAPES: dict[type, tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]] = {}


def _shape(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    """An event class's resolved type hints and fields (resolving them took most of a parse)."""
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = (
            get_type_hints(cls),
            {f.name: f for f in dataclasses.fields(cls)},
        )
    return shape


def parse_event(data: Any, *, line: int | None = None) -> CaseEvent:
    """Build one event from its decoded JSON object.

    Raises:
        ValidationError: naming the line (if given) and the field at fault.
    """
    where = f"line {line}: " if line is not None else ""
    if not isinstance(data, dict):
        raise ValidationError(f"{where}an event must be a JSON object", location=f"line {line}")
    type_name = data.get("type")
    cls = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ValidationError(
            f"{where}field 'type': unknown event type {type_name!r}",
            location=f"line {line}/type",
        )
    hints, fields = _shape(cls)
    unknown = sorted(set(data) - set(fields) - {"type"})
    if unknown:
        raise ValidationError(
            f"{where}{type_name}: unknown field '{unknown[0]}'",
            location=f"line {line}/{unknown[0]}",
        )
    kwargs: dict[str, Any] = {}
    for name, spec in fields.items():
        has_default = (
            spec.default is not dataclasses.MISSING
            or spec.default_factory is not dataclasses.MISSING
        )
        if name not in data:
            if has_default:
                continue
            raise ValidationError(
                f"{where}{type_name}: field '{name}' is required", location=f"line {line}/{name}"
            )
        try:
            kwargs[name] = _convert(data[name], hints[name])
        except _FieldError as exc:
            raise ValidationError(
                f"{where}{type_name}: field '{name}' {exc}", location=f"line {line}/{name}"
            ) from exc
    try:
        return cls(**kwargs)
    except CaseworkError as exc:
        raise ValidationError(f"{where}{type_name}: {exc}", location=f"line {line}") from exc


def parse_lines(lines: Iterable[str]) -> list[CaseEvent]:
    """Parse JSON-lines text (an open file or a list of lines) into events.

    Raises:
        ValidationError: on the first bad line, naming its number and field.
    """
    events: list[CaseEvent] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"line {number}: not valid JSON ({exc.msg})", location=f"line {number}"
            ) from exc
        events.append(parse_event(data, line=number))
    return events


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def event_to_dict(event: CaseEvent) -> dict[str, Any]:
    """The JSON object for one event, ``type`` first; optional fields are left out when None."""
    result: dict[str, Any] = {"type": type(event).__name__}
    for spec in dataclasses.fields(event):
        value = getattr(event, spec.name)
        if value is None and spec.default is None:
            continue
        result[spec.name] = _plain(value)
    return result


def dump_event(event: CaseEvent) -> str:
    """One event as a single JSON line (no trailing newline)."""
    return json.dumps(event_to_dict(event), ensure_ascii=False)


def dumps(events: Iterable[CaseEvent]) -> str:
    """Events as JSON-lines text, one per line, ending with a newline."""
    return "".join(f"{dump_event(e)}\n" for e in events)


def iter_dump(events: Iterable[CaseEvent]) -> Iterator[str]:
    """Yield each event as a JSON line with its newline."""
    for event in events:
        yield f"{dump_event(event)}\n"
