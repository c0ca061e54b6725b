"""Structured logging: structlog JSON lines, configured once by the composition root.

Never pass names, NHS numbers, dates of birth or document contents to a logger. As a safety net,
:func:`redact_personal_data` replaces the values of keys that could only hold such data, so a
mistake shows up as ``[redacted]`` instead of leaking.

The Kafka clients log every failed reconnection attempt: a broker outage of ten seconds made about a
thousand ``Unable connect to node`` ERROR lines per process. :class:`RepeatedLogFilter`, on the
one stderr handler, lets the first warning or error of each kind from those libraries through and
then at most one per interval, carrying the number suppressed in between.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
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
#: Loggers whose repeated warnings and errors are rate limited (and their children).
NOISY_LOGGERS: Final = ("aiokafka", "kafka")


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank out values under personal-data keys."""
    for key in FORBIDDEN_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


@dataclass(slots=True)
class _Repeats:
    last_passed: float
    suppressed: int = 0


class RepeatedLogFilter(logging.Filter):
    """Passes a repeated library warning or error once, then at most once per interval.

    Records are grouped by logger, level and message template (``record.msg`` before ``%``
    formatting), so "Unable connect to node with id %s: %s" is one kind whatever the node and
    error. The first record of a kind passes; later ones pass only ``interval_s`` after the last
    one that passed, with ``suppressed`` (how many were dropped in between) added to the record.
    Records below WARNING and records from other loggers always pass. Thread safe: kafka-python
    logs from its own network thread.
    """

    def __init__(
        self,
        interval_s: float = 60.0,
        loggers: Iterable[str] = NOISY_LOGGERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Rate-limit ``loggers`` (and their children) to one record per kind per ``interval_s``."""
        super().__init__()
        self.interval_s = interval_s
        self._loggers = tuple(loggers)
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Repeats] = {}
        self._lock = threading.Lock()

    def _noisy(self, name: str) -> bool:
        return any(name == n or name.startswith(n + ".") for n in self._loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit ``record``; False to drop it as a repeat."""
        if record.levelno < logging.WARNING or not self._noisy(record.name):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is None:
                self._kinds[kind] = _Repeats(now)
                return True
            if now - seen.last_passed < self.interval_s:
                seen.suppressed += 1
                return False
            record.suppressed = seen.suppressed
            seen.last_passed, seen.suppressed = now, 0
            return True


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder([structlog.processors.CallsiteParameter.PROCESS]),
        redact_personal_data,
    ]


def _renderer(json: bool) -> Any:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def stderr_handler(json: bool = True, repeat_interval_s: float = 60.0) -> logging.Handler:
    """The stdlib handler: structlog's rendering on stderr, with the :class:`RepeatedLogFilter`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=_renderer(json),
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.ExtraAdder(allow=("suppressed",)),
                *_shared_processors()[1:],
            ],
        )
    )
    handler.addFilter(RepeatedLogFilter(repeat_interval_s))
    return handler


def configure_logging(
    level: str = "INFO", json: bool = True, repeat_interval_s: float = 60.0
) -> None:
    """Route structlog (and stdlib logging, e.g. Faust's and aiokafka's) to stderr.

    Args:
        level: the lowest level logged.
        json: JSON lines (True) or console rendering (False).
        repeat_interval_s: a repeated warning or error from the Kafka client libraries is
            logged once, then at most once per this many seconds (see :class:`RepeatedLogFilter`).
    """
    structlog.configure(
        processors=[*_shared_processors(), structlog.processors.format_exc_info, _renderer(json)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [stderr_handler(json, repeat_interval_s)]
    root.setLevel(level.upper())


def faust_logging_config(
    level: str = "INFO", json: bool = True, repeat_interval_s: float = 60.0
) -> dict[str, Any]:
    """A ``logging_config`` for ``faust.Worker``: the same handler as :func:`configure_logging`.

    Faust's worker clears the root logger's handlers and, unless given a configuration, installs
    its own text handler, which would drop the JSON rendering and the repeat filter.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "ehcp": {
                "()": f"{__name__}.stderr_handler",
                "json": json,
                "repeat_interval_s": repeat_interval_s,
            }
        },
        "root": {"level": level.upper(), "handlers": ["ehcp"]},
    }
