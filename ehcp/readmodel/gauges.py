"""Gauges read from the read model at scrape time: open alerts and overdue advice.

Totals only (no LA, no case in a label): what an operator alerts on is "the number of overdue
advice items jumped" or "alerts stopped being resolved", not which child.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from ehcp.clock import Clock
from ehcp.readmodel import tables as t
from ehcp.readmodel.views import today

log = structlog.get_logger(__name__)


def alert_totals(engine: Engine, clock: Clock) -> tuple[int, int]:
    """(open alerts over every case, open advice items past their due date) in the read model."""
    with engine.connect() as conn:
        open_alerts = conn.execute(select(func.coalesce(func.sum(t.cases.c.open_alerts), 0)))
        overdue = conn.execute(
            select(func.coalesce(func.sum(t.tray_counts.c.open_items), 0))
            .where(t.tray_counts.c.due_on < today(clock)))
        return int(open_alerts.scalar_one()), int(overdue.scalar_one())


class ReadModelGauges(Collector):
    """``ehcp_alerts_open`` and ``ehcp_advice_overdue``, queried on each scrape.

    If the read model cannot be read, the gauges are left out of the scrape (an alerting rule
    on their absence fires) and ``ehcp_read_model_up`` is 0.
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        """The gauges (called by the registry on each scrape)."""
        up = GaugeMetricFamily("ehcp_read_model_up",
                               "1 if the read model answered the last scrape's queries.")
        try:
            open_alerts, overdue = alert_totals(self._engine, self._clock)
        except SQLAlchemyError as exc:
            log.warning("metrics_read_model_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("ehcp_alerts_open", "Open alerts over every case in the read "
                                "model (the sum of each case's open alerts).", value=open_alerts)
        yield GaugeMetricFamily("ehcp_advice_overdue", "Open advice items past their due date "
                                "(requested or overdue) over every case in the read model.",
                                value=overdue)
