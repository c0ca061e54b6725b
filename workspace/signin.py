"""Sign-in: argon2 password hashes, a TOTP second factor, lock-out, and new sessions.

The use case :func:`sign_in` is plain Python over the people store and an injected clock, so
the HTTP handler only reads the form and sets the cookie. A wrong user name, a wrong password,
a wrong or replayed code and a disabled or locked account all give the same answer to the
caller (:class:`SignInRefused` with one public message), so the form tells an attacker nothing;
the reason is kept for the audit event and the log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine

from ehcp.clock import Clock
from ehcp.errors import AuthError
from ehcp.readmodel import people
from ehcp.settings import Settings

#: argon2id with argon2-cffi's defaults (RFC 9106's second recommended option).
_HASHER: Final = PasswordHasher()
#: Verified when the user name is unknown, so that case takes as long as a wrong password.
_DUMMY_HASH: Final = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024
TOTP_ISSUER: Final = "EHCP Exchange workspace"
PUBLIC_REFUSAL: Final = "The user name, password or code is not right, or the account is locked."


class SignInRefused(AuthError):
    """Sign-in refused; ``reason`` is for the audit trail, never shown to the user."""

    def __init__(self, reason: str, *, user: people.User | None = None,
                 locked_now: bool = False) -> None:
        super().__init__(PUBLIC_REFUSAL, status=401)
        self.reason = reason
        self.user = user
        self.locked_now = locked_now


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``.

    Raises:
        ValueError: shorter than :data:`MIN_PASSWORD_LENGTH`.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def new_totp_secret() -> str:
    """A random base32 TOTP secret (160 bits, RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app enrols from (as a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def totp_code(secret: str, clock: Clock) -> str:
    """The current code for ``secret`` (for tests and the demo)."""
    return str(pyotp.TOTP(secret).at(clock.now()))


def _matching_step(secret: str, code: str, clock: Clock) -> int | None:
    """The 30-second time step whose code ``code`` is, allowing one step of clock drift."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = clock.now()
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return int(candidate)
    return None


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: the cookie's token (shown once) and the CSRF token."""

    token: str
    csrf_token: str
    user: people.User


def token_digest(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(engine: Engine, settings: Settings, clock: Clock, *, username: str, password: str,
            code: str) -> NewSession:
    """Check the password and the TOTP code; open a session.

    Raises:
        SignInRefused: anything wrong (one public message; the reason for the audit trail).
    """
    now = clock.now()
    if len(password) > MAX_PASSWORD_LENGTH:  # never hand argon2 a megabyte to hash
        raise SignInRefused("password over the length limit")
    user = people.find_user(engine, username) if len(username) <= 64 else None
    if user is None:
        _password_ok(_DUMMY_HASH, password)
        raise SignInRefused("unknown user name")
    if user.locked_at(now):
        raise SignInRefused("account locked", user=user)
    if user.disabled:
        raise SignInRefused("account disabled", user=user)
    step = _matching_step(user.totp_secret, code.strip(), clock)
    if not _password_ok(user.password_hash, password) or step is None:
        locked = people.record_failed_signin(
            engine, user.user_id, now, max_failures=settings.workspace_lockout_failures,
            lockout=timedelta(seconds=settings.workspace_lockout_s))
        raise SignInRefused("wrong password or code", user=user, locked_now=locked)
    if not people.record_signin(engine, user.user_id, step):
        raise SignInRefused("code already used", user=user)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    people.create_session(engine, token_sha256=token_digest(token), user_id=user.user_id,
                          csrf_token=csrf, now=now)
    return NewSession(token=token, csrf_token=csrf, user=user)
