"""Prometheus metrics of every component, and serving them only to a caller with the token.

One set of metric families (:func:`metrics`) is shared by the connectors, the workspace and the
stream worker; a ``component`` label tells them apart where several export the same family.
Labels carry only route templates, topic names, partitions, stage and error class names: never
a case id, a child key, an identifier or anything else about a child (docs/operations.md).

Processes: a metric lives in the process that counts it. Where several processes serve one
address (``EHCP_HTTP_WORKERS`` > 1) or a supervisor outlives its children (``ehcp worker``),
they count in files (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and
the serving process adds them up, so a scrape sees the whole, and counts survive a restarted
child.

Authentication: ``/metrics`` answers only a request with ``Authorization: Bearer
<EHCP_METRICS_TOKEN>``; with no token set it answers 404, as if it did not exist.
"""

from __future__ import annotations

import functools
import hmac
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import SecretStr

#: The environment variable prometheus-client reads (at import) for multiprocess mode.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Content type of the text exposition format.
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
#: Route label of a request that matched no route (its path is not used: it is input).
UNMATCHED: Final = "<unmatched>"


@dataclass(frozen=True)
class Metrics:
    """The metric families; see docs/operations.md for what each one means."""

    http_requests: Counter
    http_duration: Histogram
    events_published: Counter
    publish_failures: Counter
    events_consumed: Counter
    consumer_lag: Gauge
    dead_letters: Counter
    guard_trips: Counter


@functools.cache
def metrics() -> Metrics:
    """The process's metric families, made on first use (in the default registry)."""
    return Metrics(
        http_requests=Counter(
            "ehcp_http_requests", "HTTP requests answered, by route template and status.",
            ["component", "method", "route", "status"]),
        http_duration=Histogram(
            "ehcp_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["component", "method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)),
        events_published=Counter(
            "ehcp_events_published", "Events sent to Kafka, by topic (connectors and "
            "workspace: once acknowledged, acks=all; worker: handed to its producer).",
            ["component", "topic"]),
        publish_failures=Counter(
            "ehcp_publish_failures", "Events Kafka did not take (the caller got 503), by topic.",
            ["component", "topic"]),
        events_consumed=Counter(
            "ehcp_events_consumed", "Events read from Kafka, by topic.", ["component", "topic"]),
        consumer_lag=Gauge(
            "ehcp_consumer_lag",
            "Records on a partition not yet processed: its end offset minus the next offset "
            "to process (the worker: its committed offset).",
            ["component", "topic", "partition"], multiprocess_mode="livemostrecent"),
        dead_letters=Counter(
            "ehcp_dead_letters", "Input events the worker sent to the dead-letter topic, by "
            "stage and error class.", ["stage", "reason"]),
        guard_trips=Counter(
            "ehcp_worker_guard_trips", "Times a worker crashed itself on purpose to re-read "
            "input (streams/safety.py), by guard.", ["guard"]),
    )


def restarts_counter(registry: CollectorRegistry) -> Counter:
    """``ehcp_worker_restarts_total``, counted by the supervisor in its own registry."""
    return Counter("ehcp_worker_restarts", "Times the supervisor restarted a worker that exited "
                   "on its own (a crash or a guard).", registry=registry)


class _Default(Collector):
    """The process's default registry, as one collector of another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(extra: Iterable[Collector] = (), *,
                    multiprocess_dir: Path | None = None) -> CollectorRegistry:
    """The registry a scrape reads: this process's metrics, or (``multiprocess_dir`` given, or
    set in the environment) the files every process of the group writes; plus ``extra``."""
    registry = CollectorRegistry()  # no describe: a collector is first run at a scrape
    folder = multiprocess_dir or (Path(os.environ[MULTIPROC_ENV])
                                  if os.environ.get(MULTIPROC_ENV) else None)
    if folder is not None:
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]  # untyped in 0.26
    else:
        registry.register(_Default())
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text format."""
    return generate_latest(registry)


def authorised(authorization: str | None, token: SecretStr | None) -> bool:
    """True if the Authorization header carries the metrics token (constant-time compare).

    With no token configured nobody is authorised: metrics are off.
    """
    if token is None or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def fresh_multiprocess_dir(folder: Path) -> Path:
    """Empty ``folder`` (counts of an earlier run must not be added) and return it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    return folder


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr (the components log in JSON through structlog)."""


def _metrics_wsgi(registry: CollectorRegistry, token: SecretStr | None) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter([b"ok\n"])
        if path != "/metrics" or token is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return iter([b"not found\n"])
        if not authorised(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", "Bearer")])
            return iter([b"unauthorized\n"])
        body = exposition(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE),
                                  ("Content-Length", str(len(body)))])
        return iter([body])

    return app


class MetricsServer:
    """``/metrics`` (bearer token) and ``/healthz`` on their own address, in a daemon thread:
    for the stream worker, which serves no HTTP of its own."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 token: SecretStr | None) -> None:
        self._server = make_server(host, port, _metrics_wsgi(registry, token),
                                   ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                         name="metrics-server")

    @property
    def port(self) -> int:
        """The port it listens on (useful when asked for port 0)."""
        return int(self._server.server_port)

    def start(self) -> MetricsServer:
        """Start serving; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
