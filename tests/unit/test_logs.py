"""The repeat filter that keeps a broker outage from flooding the logs, and where it is installed."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
import structlog

from ehcp.logs import RepeatedLogFilter, configure_logging, faust_logging_config


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger and structlog back as they were after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(name: str = "aiokafka.client", level: int = logging.ERROR,
            msg: str = "Unable connect to node with id %s: %s", args: tuple[object, ...] = (1, "refused"),
            ) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_the_first_error_of_a_kind_passes_and_repeats_within_the_interval_do_not() -> None:
    """A lost broker is logged once; the next 999 reconnection errors in the interval are dropped."""
    clock = FakeClock()
    f = RepeatedLogFilter(interval_s=60, clock=clock)
    passed = 0
    for i in range(1000):
        clock.now = i * 0.01
        passed += f.filter(_record(args=(1, f"attempt {i}")))
    assert passed == 1


def test_after_the_interval_one_repeat_passes_carrying_the_suppressed_count() -> None:
    """Once the interval is over the next repeat passes with the number dropped since the last one."""
    clock = FakeClock()
    f = RepeatedLogFilter(interval_s=60, clock=clock)
    assert f.filter(_record())
    for t in (1.0, 30.0, 59.9):
        clock.now = t
        assert not f.filter(_record())
    clock.now = 60.0
    later = _record()
    assert f.filter(later)
    assert later.suppressed == 3  # type: ignore[attr-defined]
    clock.now = 61.0
    assert not f.filter(_record())


def test_kinds_are_told_apart_by_logger_level_and_template_not_by_arguments() -> None:
    """Different templates, loggers or levels are separate kinds; different arguments are not."""
    f = RepeatedLogFilter(interval_s=60, clock=FakeClock())
    assert f.filter(_record(args=(1, "a")))
    assert not f.filter(_record(args=(2, "b")))
    assert f.filter(_record(msg='Unable connect to "%s:%s": %s', args=("h", 1, "x")))
    assert f.filter(_record(name="aiokafka.conn"))
    assert f.filter(_record(level=logging.WARNING))


@pytest.mark.parametrize(
    ("name", "level"),
    [("aiokafka.client", logging.INFO), ("streams.app", logging.ERROR), ("kafkaesque", logging.ERROR)],
)
def test_info_records_and_other_loggers_always_pass(name: str, level: int) -> None:
    """Only warnings and errors from the Kafka client loggers are rate limited."""
    f = RepeatedLogFilter(interval_s=60, clock=FakeClock())
    assert all(f.filter(_record(name=name, level=level)) for _ in range(5))


def test_configure_logging_installs_the_filter_on_the_root_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After configure_logging, 200 identical aiokafka errors print one JSON line."""
    configure_logging("INFO", json=True, repeat_interval_s=60)
    logger = logging.getLogger("aiokafka.client")
    for i in range(200):
        logger.error("Unable connect to node with id %s: %s", 1, f"refused {i}")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert json.loads(lines[0])["event"] == "Unable connect to node with id 1: refused 0"


def test_the_faust_worker_logging_config_keeps_the_filter(capsys: pytest.CaptureFixture[str]) -> None:
    """The dictConfig handed to faust.Worker builds the same filtered JSON handler."""
    logging.root.handlers.clear()  # what Faust's worker does before applying the config
    logging.config.dictConfig(faust_logging_config("INFO", json=True, repeat_interval_s=60))
    logger = logging.getLogger("kafka.net.manager")
    for _ in range(50):
        logger.error("Connection failed: %s", "KafkaConnectionError: 111 ECONNREFUSED")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert json.loads(lines[0])["level"] == "error"
