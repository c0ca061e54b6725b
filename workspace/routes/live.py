"""New alerts without reloading: a server-sent event stream of the user's LA's alerts.

The stream starts after every alert already stored (the page shows those) and polls the read
model every :data:`POLL_S` seconds for alerts the projector has added since; each is sent as
one ``alert`` event whose data is JSON (no personal data: case id, kind, advice type, agency
code, due date, days overdue, message). The session is checked again at every poll, so a
signed-out or disabled user's stream ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ehcp.readmodel import views
from workspace.security import ClockDep, EngineDep, SessionDep, caseload_of, session_of

router = APIRouter()
POLL_S: Final = 2.0
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_S: Final = 15.0


@router.get("/events/alerts")
async def alert_stream(request: Request, session: SessionDep, engine: EngineDep,
                       clock: ClockDep) -> StreamingResponse:
    """``text/event-stream`` of new alerts for the user's LA (a case officer's caseload)."""
    cursor = await run_in_threadpool(views.alert_cursor, engine)
    poll_s: float = getattr(request.app.state, "live_poll_s", POLL_S)

    async def events() -> AsyncIterator[str]:
        nonlocal cursor
        idle = 0.0
        yield "retry: 5000\n\n"
        while not await request.is_disconnected():
            if await run_in_threadpool(session_of, request) is None:
                yield "event: signed-out\ndata: {}\n\n"
                return
            found, cursor = await run_in_threadpool(
                views.alerts_after, engine, session.user.la_code, clock, cursor,
                caseload_of=caseload_of(session))
            for alert in found:
                data = {
                    "case_id": alert.case_id, "kind": alert.kind, "status": alert.status,
                    "severity": alert.severity, "advice_type": alert.advice_type,
                    "agency": alert.agency_value,
                    "due_on": alert.due_on.isoformat() if alert.due_on else None,
                    "days_overdue": alert.days_overdue, "message": alert.message,
                    "regulation": alert.regulation,
                }
                yield f"event: alert\nid: {alert.event_id}\ndata: {json.dumps(data)}\n\n"
            idle = 0.0 if found else idle + poll_s
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll_s)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
