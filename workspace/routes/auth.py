"""Signing in and out.

The sign-in form has no session yet, so its CSRF protection is a double-submit token: a random
value in a SameSite=Strict cookie and in the form, which must match. A refused sign-in shows one
message whatever was wrong; a lock-out is an audit event.
"""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from workspace.render import page
from workspace.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    ClockDep,
    EngineDep,
    FormDep,
    SettingsDep,
    audit_refusal,
    cookie_options,
    read_form,
    session_of,
)
from workspace.signin import PUBLIC_REFUSAL, SignInRefused, sign_in, token_digest

log = structlog.get_logger(__name__)
router = APIRouter()


def _signin_page(request: Request, settings: Any, error: str | None = None,
                 status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(request, "signin.html", {"signin_csrf": token, "error": error},
                    status_code=status_code)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, max_age=1800, **cookie_options(settings))
    return response


@router.get("/signin")
def signin_form(request: Request, settings: SettingsDep) -> Response:
    """The sign-in form (or the work tray, if already signed in)."""
    if session_of(request) is not None:
        return RedirectResponse("/tray", status_code=303)
    return _signin_page(request, settings)


@router.post("/signin")
async def signin(request: Request, engine: EngineDep, settings: SettingsDep,
                 clock: ClockDep) -> Response:
    """Check user name, password and code; open a session and go to the work tray."""
    form = await read_form(request)
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not isinstance(sent, str) or not cookie or not secrets.compare_digest(sent, cookie):
        return _signin_page(request, settings, "The form expired. Please sign in again.", 403)
    fields = {name: form.get(name) for name in ("username", "password", "code")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        return _signin_page(request, settings, "Enter your user name, password and code.", 400)
    try:
        opened = await run_in_threadpool(
            sign_in, engine, settings, clock, username=str(fields["username"]).strip().lower(),
            password=str(fields["password"]), code=str(fields["code"]))
    except SignInRefused as exc:
        log.warning("workspace_signin_refused", reason=exc.reason,
                    user_id=exc.user.user_id if exc.user else None)
        if exc.locked_now or exc.reason == "account locked":
            await audit_refusal(request, exc.user, f"sign-in refused: {exc.reason}")
        return _signin_page(request, settings, PUBLIC_REFUSAL, 401)
    log.info("workspace_signed_in", user_id=opened.user.user_id)
    response = RedirectResponse("/tray", status_code=303)
    response.set_cookie(SESSION_COOKIE, opened.token,
                        max_age=settings.workspace_session_max_s, **cookie_options(settings))
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, form: FormDep, engine: EngineDep) -> Response:
    """End the session."""
    from ehcp.readmodel.people import end_session

    end_session(engine, token_digest(request.cookies.get(SESSION_COOKIE, "")))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
