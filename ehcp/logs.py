"""Structured logging: structlog JSON lines, configured once by the composition root.

Never pass names, NHS numbers, dates of birth or document contents to a logger. As a safety net,
:func:`redact_personal_data` replaces the values of keys that could only hold such data, so a
mistake shows up as ``[redacted]`` instead of leaking.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

#: Keys whose values are personal data by construction.
FORBIDDEN_KEYS: Final = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "nhs_number",
        "date_of_birth",
        "dob",
        "birth_date",
        "upn",
        "uln",
        "content",
        "document",
        "data",
        "body",
        "child_identifiers",
        "identifiers",
    }
)
REDACTED: Final = "[redacted]"


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out values under personal-data keys."""
    for key in FORBIDDEN_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route structlog (and stdlib logging, e.g. Faust's and aiokafka's) to stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder([structlog.processors.CallsiteParameter.PROCESS]),
        redact_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[structlog.stdlib.add_log_level, *shared[1:]]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
