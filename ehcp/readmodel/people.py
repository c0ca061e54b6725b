"""The workspace's people: user accounts, case assignments and sessions (SQLAlchemy Core).

They live in the read model's database (so a work tray can filter by officer in one query) but
in a :class:`~sqlalchemy.MetaData` of their own: ``ehcp workspace rebuild`` drops and rebuilds
the projected tables, never these (they are not made from Kafka, and rebuilding must not sign
everyone out or forget who holds which case).

What is stored: a user's LA and role, an argon2 hash of the password (never the password), the
TOTP secret (the second factor must be checked, so it cannot be hashed: keep the database
encrypted at rest and its access to the workspace), failed sign-ins and the lock-out, and
sessions by the SHA-256 of their token (a leaked table gives no usable cookie).

Password hashing and TOTP checking are the workspace's (``workspace/signin.py``); this module
only stores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ehcp.errors import ReadModelError, ValidationError
from ehcp.mailbox import MAX_ADDRESS, parse_email
from ehcp.readmodel.mapping import LIMITS

metadata: Final = MetaData()

USERNAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{2,63}$"


class Role(StrEnum):
    """What a workspace user may see and do, always within their own LA."""

    MANAGER = "manager"  # every case of the LA; the unrouted queue and the overview; can act
    CASE_OFFICER = "case_officer"  # the cases assigned to them (their caseload); can act
    READ_ONLY = "read_only"  # every case of the LA; cannot act

    @property
    def can_act(self) -> bool:
        """May record advice and casework events."""
        return self is not Role.READ_ONLY

    @property
    def sees_every_case(self) -> bool:
        """Sees every case of the LA (not only an assigned caseload)."""
        return self is not Role.CASE_OFFICER


users: Final = Table(
    "ws_users",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("la_code", String(LIMITS["la_code"]), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("totp_secret", String(64), nullable=False),
    Column("totp_last_step", BigInteger, nullable=True),  # a code is accepted once (no replay)
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_signins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

case_assignments: Final = Table(
    "ws_case_assignments",
    metadata,
    Column("case_id", String(LIMITS["case_id"]), primary_key=True),
    Column("user_id", String(36), ForeignKey("ws_users.user_id"), nullable=False, index=True),
)
"""Which case officer holds each case (one officer per case)."""

sessions: Final = Table(
    "ws_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("ws_users.user_id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

user_emails: Final = Table(
    "ws_user_emails",
    metadata,
    Column("user_id", String(36), ForeignKey("ws_users.user_id"), primary_key=True),
    Column("email", String(MAX_ADDRESS), nullable=False),
)
"""A user's work email address, where notifications they subscribe to are sent (a table of its
own, so databases made before it need no migration: ``create_all`` adds it)."""

unrouted_decisions: Final = Table(
    "ws_unrouted_decisions",
    metadata,
    Column("event_id", String(LIMITS["event_id"]), primary_key=True),  # ContributionUnrouted's
    Column("decision", String(16), nullable=False),  # "routed" or "discarded"
    Column("case_id", String(LIMITS["case_id"]), nullable=True),  # where it was routed
    Column("published_event_id", String(LIMITS["event_id"]), nullable=True),
    Column("user_id", String(36), ForeignKey("ws_users.user_id"), nullable=False),
    Column("la_code", String(LIMITS["la_code"]), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)
"""What a manager did with an unrouted contribution: it leaves the queue (kept across rebuild)."""


@dataclass(frozen=True, slots=True)
class User:
    """A workspace account as stored."""

    user_id: str
    username: str
    la_code: str
    role: Role
    password_hash: str
    totp_secret: str
    totp_last_step: int | None
    disabled: bool
    failed_signins: int
    locked_until: datetime | None

    def locked_at(self, now: datetime) -> bool:
        """Locked out at ``now``."""
        return self.locked_until is not None and _aware(self.locked_until) > now


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session: whose, and its CSRF token."""

    user: User
    csrf_token: str


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back naive (they were written as UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _user(row: Any) -> User:
    return User(
        user_id=row.user_id, username=row.username, la_code=row.la_code, role=Role(row.role),
        password_hash=row.password_hash, totp_secret=row.totp_secret,
        totp_last_step=row.totp_last_step, disabled=bool(row.disabled),
        failed_signins=int(row.failed_signins),
        locked_until=None if row.locked_until is None else _aware(row.locked_until),
    )


def create_people_tables(engine: Engine) -> None:
    """Create the people tables that do not exist yet (never drops anything)."""
    try:
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"cannot create the workspace's people tables: {exc}") from exc


def add_user(engine: Engine, *, username: str, la_code: str, role: Role, password_hash: str,
             totp_secret: str, now: datetime) -> User:
    """Store a new account.

    Raises:
        ValidationError: the user name is taken.
    """
    values = {
        "user_id": str(uuid.uuid4()), "username": username, "la_code": la_code,
        "role": role.value, "password_hash": password_hash, "totp_secret": totp_secret,
        "totp_last_step": None, "disabled": False, "failed_signins": 0, "locked_until": None,
        "created_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(users).values(**values))
    except IntegrityError as exc:
        raise ValidationError("that user name is taken", location="username") from exc
    found = find_user(engine, username)
    if found is None:  # pragma: no cover - just written in the same database
        raise ReadModelError("the new account was not stored")
    return found


def find_user(engine: Engine, username: str) -> User | None:
    """The account with this user name, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    return None if row is None else _user(row)


def get_user(engine: Engine, user_id: str) -> User | None:
    """The account with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.user_id == user_id)).first()
    return None if row is None else _user(row)


def list_users(engine: Engine, la_code: str | None = None) -> list[User]:
    """Every account (of one LA), by user name."""
    query = select(users).order_by(users.c.username)
    if la_code is not None:
        query = query.where(users.c.la_code == la_code)
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(query)]


def reset_credentials(engine: Engine, username: str, *, password_hash: str,
                      totp_secret: str) -> bool:
    """Give an account a new password hash and TOTP secret; end its sessions; unlock it.

    Returns:
        False if there is no such account.
    """
    with engine.begin() as conn:
        row = conn.execute(select(users.c.user_id).where(users.c.username == username)).first()
        if row is None:
            return False
        conn.execute(update(users).where(users.c.user_id == row.user_id).values(
            password_hash=password_hash, totp_secret=totp_secret, totp_last_step=None,
            failed_signins=0, locked_until=None, disabled=False))
        conn.execute(delete(sessions).where(sessions.c.user_id == row.user_id))
    return True


def set_disabled(engine: Engine, username: str, disabled: bool = True) -> bool:
    """Disable (or enable) an account; a disabled account's sessions end at once.

    Returns:
        False if there is no such account.
    """
    with engine.begin() as conn:
        row = conn.execute(select(users.c.user_id).where(users.c.username == username)).first()
        if row is None:
            return False
        conn.execute(update(users).where(users.c.user_id == row.user_id)
                     .values(disabled=disabled))
        if disabled:
            conn.execute(delete(sessions).where(sessions.c.user_id == row.user_id))
    return True


def set_email(engine: Engine, username: str, email: str | None) -> bool:
    """Give an account its work email address (None: remove it).

    The address is checked (:func:`ehcp.mailbox.parse_email`: one plain ``name@domain``).

    Returns:
        False if there is no such account.

    Raises:
        ValidationError: not a plain email address.
    """
    checked = None if email is None else parse_email(email.strip())
    with engine.begin() as conn:
        row = conn.execute(select(users.c.user_id).where(users.c.username == username)).first()
        if row is None:
            return False
        conn.execute(delete(user_emails).where(user_emails.c.user_id == row.user_id))
        if checked is not None:
            conn.execute(insert(user_emails).values(user_id=row.user_id, email=checked))
    return True


def email_of(engine: Engine, user_id: str) -> str | None:
    """The account's work email address, or None."""
    with engine.connect() as conn:
        found = conn.execute(select(user_emails.c.email).where(
            user_emails.c.user_id == user_id)).scalar_one_or_none()
    return None if found is None else str(found)


def record_failed_signin(engine: Engine, user_id: str, now: datetime, *, max_failures: int,
                         lockout: timedelta) -> bool:
    """Count one failed sign-in; lock the account when the count reaches ``max_failures``.

    Returns:
        True if this failure locked the account.
    """
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.user_id == user_id)
                     .values(failed_signins=users.c.failed_signins + 1))
        count = int(conn.execute(select(users.c.failed_signins)
                                 .where(users.c.user_id == user_id)).scalar_one())
        if count >= max_failures:
            conn.execute(update(users).where(users.c.user_id == user_id)
                         .values(failed_signins=0, locked_until=now + lockout))
            return True
    return False


def record_signin(engine: Engine, user_id: str, totp_step: int) -> bool:
    """Clear the failure count and use up the TOTP time step, unless it was used already.

    Returns:
        False if that time step (or a later one) was used before: a replayed code.
    """
    with engine.begin() as conn:
        done = conn.execute(update(users).where(
            users.c.user_id == user_id,
            or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < totp_step),
        ).values(totp_last_step=totp_step, failed_signins=0, locked_until=None))
        return bool(done.rowcount)


def assign_case(engine: Engine, case_id: str, user_id: str) -> None:
    """Give a case to a case officer (replacing whoever held it)."""
    with engine.begin() as conn:
        conn.execute(delete(case_assignments).where(case_assignments.c.case_id == case_id))
        conn.execute(insert(case_assignments).values(case_id=case_id, user_id=user_id))


def caseload(engine: Engine, user_id: str) -> list[str]:
    """The case ids assigned to a user."""
    with engine.connect() as conn:
        return [str(r.case_id) for r in conn.execute(
            select(case_assignments.c.case_id).where(case_assignments.c.user_id == user_id)
            .order_by(case_assignments.c.case_id))]


def officers(engine: Engine, la_code: str) -> list[User]:
    """The LA's active case officers (for the work tray's officer filter)."""
    return [u for u in list_users(engine, la_code)
            if u.role is Role.CASE_OFFICER and not u.disabled]


def create_session(engine: Engine, *, token_sha256: str, user_id: str, csrf_token: str,
                   now: datetime) -> None:
    """Store a new session."""
    with engine.begin() as conn:
        conn.execute(insert(sessions).values(
            token_sha256=token_sha256, user_id=user_id, csrf_token=csrf_token,
            created_at=now, last_seen_at=now))


def live_session(engine: Engine, token_sha256: str, now: datetime, *, idle: timedelta,
                 absolute: timedelta) -> SessionInfo | None:
    """The session and its (enabled) user, touched; None if unknown, expired or disabled.

    An expired session is deleted.
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(sessions, users).join(users, users.c.user_id == sessions.c.user_id)
            .where(sessions.c.token_sha256 == token_sha256)).first()
        if row is None:
            return None
        expired = (_aware(row.last_seen_at) + idle <= now
                   or _aware(row.created_at) + absolute <= now)
        if expired or row.disabled:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))
            return None
        conn.execute(update(sessions).where(sessions.c.token_sha256 == token_sha256)
                     .values(last_seen_at=now))
        return SessionInfo(user=_user(row), csrf_token=row.csrf_token)


def end_session(engine: Engine, token_sha256: str) -> None:
    """Forget a session (sign out)."""
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))


def purge_sessions(engine: Engine, now: datetime, *, idle: timedelta,
                   absolute: timedelta) -> int:
    """Delete every expired session; return how many."""
    with engine.begin() as conn:
        done = conn.execute(delete(sessions).where(or_(
            sessions.c.last_seen_at <= now - idle, sessions.c.created_at <= now - absolute)))
        return int(done.rowcount)



class UnroutedDecision(StrEnum):
    """What a manager did with an unrouted contribution."""

    ROUTED = "routed"
    DISCARDED = "discarded"


def decide_unrouted(engine: Engine, *, event_id: str, decision: UnroutedDecision,
                    user: User, now: datetime, case_id: str | None = None,
                    published_event_id: str | None = None) -> bool:
    """Record a decision on an unrouted contribution; False if one is already recorded."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(unrouted_decisions).values(
                event_id=event_id, decision=decision.value, case_id=case_id,
                published_event_id=published_event_id, user_id=user.user_id,
                la_code=user.la_code, decided_at=now))
    except IntegrityError:
        return False
    return True
