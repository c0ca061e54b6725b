"""Bounds on what the HTTP edge accepts (pure, no I/O): JSON nesting depth and string lengths.

A value beyond a bound is refused before anything is stored or published, so nothing
downstream (Avro records, Kafka messages, the stream workers) meets a megabyte-long identifier.
The bounds are documented in ``docs/fhir-profile.md`` and ``docs/api.md``; errors name where the
value is and never echo it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from ehcp.errors import LimitExceededError

#: Deepest JSON nesting accepted (an advice transaction Bundle with a contained Patient is ~10).
MAX_JSON_DEPTH: Final = 64
#: Identifiers and FHIR ids (FHIR R4 caps ``id`` at 64 characters).
ID_MAX: Final = 64
#: Codes and identifier values: ``code``, ``status``, ``contentType``, ``Identifier.value``.
CODE_MAX: Final = 128
#: URIs and references: ``system``, ``url``, ``reference``.
URI_MAX: Final = 1024
#: Free text: ``text``, ``display``, ``description``, ``statusReason.text``, anything else.
TEXT_MAX: Final = 4096
#: FHIR narrative XHTML (``text.div``): kept with the stored resource, never put on Kafka.
NARRATIVE_MAX: Final = 65536


def loads(body: bytes) -> Any:
    """Decode JSON, refusing nesting deeper than :data:`MAX_JSON_DEPTH`.

    Raises:
        LimitExceededError: (422) nested too deeply (including beyond Python's recursion limit).
        json.JSONDecodeError, UnicodeDecodeError: not UTF-8 JSON (the caller answers 400).
    """
    try:
        data = json.loads(body)
    except RecursionError as exc:
        raise _too_deep() from exc
    check_depth(data)
    return data


def _too_deep() -> LimitExceededError:
    return LimitExceededError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
                              issue_code="too-costly")


def check_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (checked without recursion).

    Raises:
        LimitExceededError: (422) nested too deeply.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def strings(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string value in decoded JSON with its path (keys and list indices), depth first."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))


def check_strings(data: Any, limit_for: Callable[[tuple[str | int, ...]], int | None],
                  location: Callable[[tuple[str | int, ...]], str]) -> None:
    """Refuse the first string longer than its bound.

    Call it on input whose keys are already known to the schema: ``location`` builds the error
    location from the path, and a key the sender made up must not be echoed.

    Args:
        data: decoded JSON.
        limit_for: the bound for the string at a path (None: unbounded here).
        location: the error location of a path (FHIRPath, JSON pointer).

    Raises:
        LimitExceededError: (422) naming the element, never its value.
    """
    for path, value in strings(data):
        limit = limit_for(path)
        if limit is not None and len(value) > limit:
            raise LimitExceededError(f"this element is longer than {limit} characters",
                                     location=location(path))


def json_pointer(path: tuple[str | int, ...]) -> str:
    """A path as a JSON pointer (RFC 6901), e.g. ``/child/nhs_number``."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)
