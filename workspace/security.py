"""Who is asking: the session cookie, CSRF on every POST, roles, and refusals (audited).

Every page and API route declares one of the ``Annotated`` dependencies at the bottom; none
works without a live session. A page asked for without one redirects to the sign-in form; a
POST whose CSRF token does not match its session is refused with 403 and changes nothing.

Refusals of a signed-in user (another LA's case, a role that may not do this) are audit events
(``AccessRefused`` on ``ehcp.audit.v1``, written in the background by the connectors'
:class:`~connectors.audit.AuditTrail`, spooled if Kafka does not take them), with the user's id
in place of a credential id. Another LA's case, or a case outside a case officer's caseload,
is answered as "not found" (404), exactly like a case that does not exist.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from sqlalchemy import Engine
from starlette.datastructures import FormData

from connectors.audit import AuditTrail
from ehcp.clock import Clock
from ehcp.errors import AuthError, ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.readmodel import people
from ehcp.settings import Settings
from workspace.signin import token_digest

SESSION_COOKIE: Final = "ehcp_ws_session"
SIGNIN_CSRF_COOKIE: Final = "ehcp_ws_signin"
CSRF_FIELD: Final = "csrf_token"
#: Form fields other than a file are short; more than this many is not one of our forms.
MAX_FORM_FIELDS: Final = 20
MAX_FIELD_BYTES: Final = 16 * 1024
#: Room for a form's fields and multipart framing (besides a file upload's document).
MAX_FORM_OVERHEAD: Final = 64 * 1024


class SignInNeeded(AuthError):
    """No live session: a page redirects to the sign-in form."""

    def __init__(self) -> None:
        super().__init__("sign in first", status=401)


class NotAForm(ValidationError):
    """A POST whose body is not a form at all (so it carries no CSRF token either)."""


class NotFound(AuthError):
    """Not there, or not the reader's to see (never told apart)."""

    def __init__(self) -> None:
        super().__init__("not found", status=404)


def audit_credential(user: people.User) -> str:
    """The id an audit event names a workspace user by (never a user name)."""
    return f"workspace-user:{user.user_id}"


async def audit_refusal(request: Request, user: people.User | None, reason: str,
                        la_code: str | None = None) -> None:
    """Start writing an ``AccessRefused`` audit event; never waits for Kafka."""
    trail: AuditTrail = request.app.state.audit
    clock: Clock = request.app.state.clock
    await trail.refused({
        "event_id": str(uuid.uuid4()),
        "credential_id": audit_credential(user) if user else "workspace-user:unknown",
        "agency": {"system": LA_CODE_SYSTEM, "value": (user.la_code if user else la_code) or ""},
        "method": request.method,
        "path": request.url.path,
        "reason": reason[:300],
        "refused_at": clock.now(),
    })


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_engine(request: Request) -> Engine:
    """The read model's database (people tables included)."""
    return _engine(request)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    """The app's clock."""
    clock: Clock = request.app.state.clock
    return clock


def session_of(request: Request) -> people.SessionInfo | None:
    """The live session named by the request's cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    settings = get_settings(request)
    return people.live_session(
        _engine(request), token_digest(token), get_clock(request).now(),
        idle=timedelta(seconds=settings.workspace_session_idle_s),
        absolute=timedelta(seconds=settings.workspace_session_max_s))


def current_session(request: Request) -> people.SessionInfo:
    """The caller's live session.

    Raises:
        SignInNeeded: none (the page redirects to sign-in).
    """
    found = session_of(request)
    if found is None:
        raise SignInNeeded()
    request.state.session = found
    return found


async def read_form(request: Request) -> FormData:
    """The posted form, parsed within bounds (one file at most, short fields, a declared length
    no larger than a document plus :data:`MAX_FORM_OVERHEAD` for a file upload, or
    :data:`MAX_FORM_OVERHEAD` for any other form), so a huge body is refused before it is read.

    Raises:
        ValidationError: not a form, too large, or more fields than any of our forms has.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise NotAForm("send the form as a browser does (a form post)")
    declared = request.headers.get("content-length", "")
    limit = MAX_FORM_OVERHEAD + (get_settings(request).max_document_bytes
                                 if kind == "multipart/form-data" else 0)
    if not declared.isdigit() or int(declared) > limit:
        raise ValidationError("the form is too large (or its length is not given)")
    try:
        return await request.form(max_files=1, max_fields=MAX_FORM_FIELDS,
                                  max_part_size=MAX_FIELD_BYTES)
    except Exception as exc:  # starlette raises its own HTTPException/MultiPartException
        raise ValidationError("the form could not be read") from exc


async def checked_form(request: Request,
                       session: Annotated[people.SessionInfo, Depends(current_session)]
                       ) -> FormData:
    """The posted form, once its CSRF token matches the session's.

    Raises:
        AuthError: (403) no form, or a missing or wrong CSRF token; audited; nothing changes.
        ValidationError: (400) a form too big or malformed to read.
    """
    try:
        form: FormData | None = await read_form(request)
    except NotAForm:
        form = None  # no form at all carries no token either
    sent = None if form is None else form.get(CSRF_FIELD)
    if form is None or not isinstance(sent, str) \
            or not secrets.compare_digest(sent, session.csrf_token):
        await audit_refusal(request, session.user, "missing or wrong CSRF token")
        raise AuthError("This form has expired or did not come from this site. Reload the page "
                        "and try again.", status=403)
    return form


def require_role(*allowed: people.Role) -> Callable[..., Awaitable[people.SessionInfo]]:
    """A dependency: the session, if its user's role is one of ``allowed`` (else 403, audited)."""

    async def check(request: Request,
                    session: Annotated[people.SessionInfo, Depends(current_session)]
                    ) -> people.SessionInfo:
        if session.user.role not in allowed:
            await audit_refusal(request, session.user,
                                f"role {session.user.role.value} may not use this page")
            raise AuthError("Your role does not allow this.", status=403)
        return session

    return check


def caseload_of(session: people.SessionInfo) -> str | None:
    """The user id whose caseload narrows what they see (case officers), or None."""
    return None if session.user.role.sees_every_case else session.user.user_id


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[people.SessionInfo, Depends(current_session)]
ActorDep = Annotated[people.SessionInfo, Depends(require_role(
    people.Role.MANAGER, people.Role.CASE_OFFICER))]
ManagerDep = Annotated[people.SessionInfo, Depends(require_role(people.Role.MANAGER))]
FormDep = Annotated[FormData, Depends(checked_form)]


def cookie_options(settings: Settings) -> dict[str, Any]:
    """The session cookie's flags: HttpOnly, SameSite=Strict, Secure unless plain-http dev."""
    return {"httponly": True, "samesite": "strict", "secure": not settings.workspace_plain_http,
            "path": "/"}
