"""Metrics and readiness for the HTTP apps (the connectors and the workspace).

- :class:`HttpMetrics`: ASGI middleware counting every answer by route *template* (``/fhir/Task/
  {task_id}``, never the path a caller sent, which may hold ids) and status, and timing it.
- ``GET /metrics``: the Prometheus text format, only with ``Authorization: Bearer
  <EHCP_METRICS_TOKEN>`` (404 while no token is set, 401 for a wrong one).
- ``GET /readyz``: 200 when every readiness check passes, else 503 naming the failing checks
  (no data, no authentication, like ``/healthz``: load balancers probe it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ehcp.metrics import CONTENT_TYPE, UNMATCHED, authorised, exposition, metrics, scrape_registry
from ehcp.settings import Settings

log = structlog.get_logger(__name__)

#: One readiness check: True when the dependency is usable.
ReadinessCheck = Callable[[], Awaitable[bool]]

#: Methods counted by name; any other (caller-chosen) method is counted as "other".
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: A check that has not answered after this long counts as failing.
CHECK_TIMEOUT_S: Final = 5.0


class HttpMetrics:
    """ASGI middleware: ``ehcp_http_requests_total`` and ``ehcp_http_request_duration_seconds``."""

    def __init__(self, app: Any, component: str) -> None:
        self._app = app
        self._component = component

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler ends as a 500

        async def sending(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            route = route_template(scope)
            method = scope.get("method", "")
            method = method if method in _METHODS else "other"
            m = metrics()
            m.http_requests.labels(self._component, method, route, str(status)).inc()
            m.http_duration.labels(self._component, method, route).observe(
                time.perf_counter() - started)


def route_template(scope: Mapping[str, Any]) -> str:
    """The template of the route that answered (``/fhir/Task/{task_id}``), or :data:`UNMATCHED`.

    FastAPI puts the route of an included router on the scope with its path inside the router
    (``/Task/{task_id}``); the router's prefix is the part of the request path before what the
    route's pattern matches. The prefix is a constant of the app (no parameters), never input.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    pattern = getattr(route, "path_regex", None)
    path = str(scope.get("path", ""))
    if pattern is not None and not pattern.match(path):
        for cut in range(1, len(path)):
            if path[cut] == "/" and pattern.match(path[cut:]):
                return path[:cut] + template
    return template


def install(app: FastAPI, component: str, settings: Settings, *,
            checks: Mapping[str, ReadinessCheck] | None = None,
            collectors: Iterable[Collector] = ()) -> None:
    """Add the metrics middleware and the ``/metrics`` and ``/readyz`` routes to ``app``."""
    app.add_middleware(HttpMetrics, component=component)
    registry = scrape_registry(collectors)
    readiness = dict(checks or {})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        if not authorised(request.headers.get("authorization"), settings.metrics_token):
            return Response("unauthorized\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        body = await asyncio.to_thread(exposition, registry)  # collectors may query a database
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = await run_checks(readiness)
        ready = all(results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready",
             "checks": {name: "ok" if ok else "failing" for name, ok in results.items()}},
            status_code=200 if ready else 503)


async def run_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, bool]:
    """Every check's result; one that raises or takes over :data:`CHECK_TIMEOUT_S` fails."""

    async def one(name: str, check: ReadinessCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"
            log.warning("readiness_check_failed", check=name, error=type(exc).__name__)
            return False

    names = list(checks)
    results = await asyncio.gather(*(one(name, checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


def database_check(engine: Engine) -> ReadinessCheck:
    """A check that the database answers ``SELECT 1``."""

    def ping() -> bool:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    async def check() -> bool:
        return await asyncio.to_thread(ping)

    return check
