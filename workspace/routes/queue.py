"""The managers' unrouted queue: route a contribution into a case of the LA, or discard it.

Both are POSTs with the session's CSRF token, for managers only (another role: 403, audited).
Either publishes an ``UnroutedDecided`` where the worker parked the contribution
(:mod:`workspace.unrouted`): the worker then routes it into the case (ROUTED) or forgets it
(DISCARDED) and resolves its alert. Success shows only once Kafka has the decision; a case that is
not the manager's LA's (or does not exist) is refused with the same message and audited as a
refusal, and nothing is published. A discard whose record Kafka no longer keeps is recorded
here only (nothing is left to tell the worker about). Either decision is kept in
``ws_unrouted_decisions`` (the item leaves the queue, across rebuilds) and is an ``ActionTaken``
audit event naming the published decision.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from ehcp.contract.avro import AvroCodec
from ehcp.errors import BrokerError, PublishError, ValidationError
from ehcp.readmodel import people, views
from ehcp.schema_registry.codec import codec_for
from ehcp.settings import Settings
from workspace import unrouted
from workspace.audit import ActionKind, audit_action
from workspace.render import page
from workspace.security import (
    ClockDep,
    EngineDep,
    ManagerDep,
    NotFound,
    SettingsDep,
    audit_refusal,
    checked_form,
)

log = structlog.get_logger(__name__)
router = APIRouter()


def queue_page(request: Request, engine: Any, *, error: str | None = None,
               notice: str | None = None, status_code: int = 200) -> Response:
    """The queue, with a message above it."""
    return page(request, "queue.html", {"unrouted": views.unrouted_queue(engine),
                                        "dead_letters": views.dead_letter_queue(engine),
                                        "error": error, "notice": notice},
                status_code=status_code)


@router.get("/queue")
def queue(request: Request, session: ManagerDep, engine: EngineDep,
          done: str = "") -> Response:
    """Contributions matched to no case, and records the workers dead-lettered (managers)."""
    notice = {"routed": "Routed: the worker will add it to the case and resolve its alert.",
              "discarded": "Discarded: it has left the queue and its alert will be resolved."
              }.get(done)
    return queue_page(request, engine, notice=notice)


async def _queued(request: Request, session: people.SessionInfo, engine: Any,
                  event_id: str) -> views.UnroutedAt:
    found = await run_in_threadpool(views.unrouted_item, engine, event_id[:200])
    if found is None:
        await audit_refusal(request, session.user, "unrouted contribution not in the queue")
        raise NotFound()
    return found


def _codec(request: Request, settings: Settings) -> AvroCodec:
    """One codec per app (parsing the schemas, and the schema registry client's id cache)."""
    codec: AvroCodec | None = getattr(request.app.state, "codec", None)
    if codec is None:
        codec = request.app.state.codec = codec_for(settings)
    return codec


@router.post("/queue/{event_id}/route")
async def route(request: Request, event_id: str, session: ManagerDep, engine: EngineDep,
                clock: ClockDep, settings: SettingsDep) -> Response:
    """Re-publish the contribution with the chosen case id (one of the manager's LA's cases)."""
    try:
        form = await checked_form(request, session)
    except ValidationError as exc:
        return queue_page(request, engine, error=exc.message, status_code=400)
    item = await _queued(request, session, engine, event_id)
    sent = form.get("case_id")
    case_id = sent.strip()[:200] if isinstance(sent, str) else ""
    if not case_id:
        return queue_page(request, engine, status_code=422,
                          error="Enter the case reference to route it to.")
    if not await run_in_threadpool(views.may_see_case, engine, session.user.la_code, case_id):
        await audit_refusal(request, session.user, "route to a case not found or not the LA's")
        return queue_page(request, engine, status_code=422,
                          error="There is no case of yours with that reference. Nothing was "
                                "routed.")
    try:
        event, receipt = await _publish_decision(request, item, "ROUTED", case_id, session,
                                                 clock, settings)
    except ValidationError as exc:
        return queue_page(request, engine, status_code=422, error=f"{exc.message}.")
    except (PublishError, BrokerError):
        return queue_page(request, engine, status_code=503,
                          error="It could not be routed just now (Kafka is unavailable). "
                                "Nothing was routed; try again in a minute.")
    published = str(event.record["event_id"])
    await run_in_threadpool(
        lambda: people.decide_unrouted(
            engine, event_id=item.item.event_id, decision=people.UnroutedDecision.ROUTED,
            user=session.user, now=clock.now(), case_id=case_id, published_event_id=published))
    log.info("unrouted_routed_by_hand", case_id=case_id, user_id=session.user.user_id,
             unrouted_event_id=item.item.event_id, topic=receipt.topic,
             partition=receipt.partition, offset=receipt.offset)
    await audit_action(request, session.user, ActionKind.UNROUTED_ROUTED, case_id=case_id,
                       published_event_id=published, target_id=item.item.event_id)
    return RedirectResponse("/queue?done=routed", status_code=303)


@router.post("/queue/{event_id}/discard")
async def discard(request: Request, event_id: str, session: ManagerDep, engine: EngineDep,
                  clock: ClockDep, settings: SettingsDep) -> Response:
    """Take the contribution off the queue and tell the worker (recorded and audited; Kafka
    keeps the record)."""
    try:
        await checked_form(request, session)
    except ValidationError as exc:
        return queue_page(request, engine, error=exc.message, status_code=400)
    item = await _queued(request, session, engine, event_id)
    published: str | None = None
    try:
        event, _ = await _publish_decision(request, item, "DISCARDED", None, session, clock,
                                           settings)
        published = str(event.record["event_id"])
    except unrouted.RecordGone:
        pass  # nothing left in Kafka to tell the worker about: recorded here only
    except (PublishError, BrokerError):
        return queue_page(request, engine, status_code=503,
                          error="It could not be discarded just now (Kafka is unavailable). "
                                "Nothing changed; try again in a minute.")
    await run_in_threadpool(
        lambda: people.decide_unrouted(
            engine, event_id=item.item.event_id, decision=people.UnroutedDecision.DISCARDED,
            user=session.user, now=clock.now(), published_event_id=published))
    log.info("unrouted_discarded_by_hand", user_id=session.user.user_id,
             unrouted_event_id=item.item.event_id)
    await audit_action(request, session.user, ActionKind.UNROUTED_DISCARDED, case_id=None,
                       published_event_id=published, target_id=item.item.event_id)
    return RedirectResponse("/queue?done=discarded", status_code=303)


async def _publish_decision(request: Request, item: views.UnroutedAt, decision: str,
                            case_id: str | None, session: people.SessionInfo, clock: Any,
                            settings: Any) -> tuple[Any, Any]:
    """Read the queued record from Kafka and publish the decision under its key.

    Raises:
        RecordGone: the record is gone or is not the queued one.
        PublishError, BrokerError: Kafka is unavailable.
    """
    source: unrouted.UnroutedRecords = request.app.state.unrouted_records
    stored = await run_in_threadpool(source.record, item.partition, item.offset)
    event = unrouted.unrouted_decided(
        stored, unrouted_event_id=item.item.event_id, decision=decision, case_id=case_id,
        user_id=session.user.user_id, decided_at=clock.now(), codec=_codec(request, settings),
        pseudonym_key=settings.pseudonym_key_bytes())
    receipt = await request.app.state.publisher.publish(event)
    return event, receipt
