"""Agency credentials: bearer tokens, stored hashed, scoped per agency.

A token reads ``ehcp_<credential id>_<secret>``; only the SHA-256 of the whole token is stored
(tokens carry 256 random bits, so a slow password hash buys nothing). Credentials are created and
revoked with ``ehcp agencies ...`` and kept in a JSON file (path from settings). Handlers depend on
:func:`require_scope`, which answers 401 without a valid token and 403 without the scope.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from fastapi import Request

from connectors.ports import Principal
from ehcp.errors import AuthError, ConfigurationError

TOKEN_PREFIX: Final = "ehcp_"  # noqa: S105 - a public prefix, not a secret

#: Scopes each agency kind gets. Least privilege: an agency may only write its own advice and
#: read its own requests; admin is for LA operators.
KIND_SCOPES: Final[dict[str, frozenset[str]]] = {
    "health": frozenset({"fhir:read", "fhir:write"}),
    "education": frozenset({"education:read", "education:write"}),
    "social_care": frozenset({"social_care:read", "social_care:write"}),
    "admin": frozenset({"admin"}),
}
#: Advice types each agency kind may submit (AdviceType symbols of the Avro contract).
KIND_ADVICE_TYPES: Final[dict[str, frozenset[str]]] = {
    "health": frozenset({"MEDICAL"}),
    "education": frozenset(
        {
            "EDUCATIONAL",
            "PARENT_OR_YOUNG_PERSON",
            "PSYCHOLOGICAL",
            "OTHER_LA",
            "PREPARATION_FOR_ADULTHOOD",
            "FAMILY_REQUESTED",
            "VISION_HEARING_SPECIALIST",
            "VIRTUAL_SCHOOL_HEAD",
        }
    ),
    "social_care": frozenset({"SOCIAL_CARE"}),
    "admin": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """A stored credential: everything but the secret."""

    credential_id: str
    token_sha256: str
    agency_system: str
    agency_value: str
    kind: str
    revoked: bool = False
    advice_types: tuple[str, ...] = field(default=())

    def principal(self) -> Principal:
        """The principal a request authenticated with this credential acts as."""
        types = frozenset(self.advice_types) or KIND_ADVICE_TYPES[self.kind]
        return Principal(
            credential_id=self.credential_id,
            agency_system=self.agency_system,
            agency_value=self.agency_value,
            kind=self.kind,
            scopes=KIND_SCOPES[self.kind],
            advice_types=types,
        )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CredentialStore(Protocol):
    """Looks credentials up by id."""

    def get(self, credential_id: str) -> Credential | None:
        """The credential with this id, or None."""
        ...


def authenticate(store: CredentialStore, token: str) -> Principal:
    """Check a bearer token and return its principal.

    Raises:
        AuthError: (401) if the token is malformed, unknown, wrong or revoked.
    """
    if not token.startswith(TOKEN_PREFIX) or token.count("_") < 2:
        raise AuthError("invalid bearer token")
    credential_id = token[len(TOKEN_PREFIX) :].split("_", 1)[0]
    credential = store.get(credential_id)
    if credential is None or credential.revoked:
        raise AuthError("invalid bearer token")
    if not hmac.compare_digest(credential.token_sha256, _hash(token)):
        raise AuthError("invalid bearer token")
    return credential.principal()


def new_credential(
    agency_system: str, agency_value: str, kind: str, advice_types: Iterable[str] = ()
) -> tuple[Credential, str]:
    """Make a credential and its token. The token is shown once and never stored.

    Raises:
        ConfigurationError: if ``kind`` is not a known agency kind.
    """
    if kind not in KIND_SCOPES:
        raise ConfigurationError(f"unknown agency kind {kind!r}; use one of {sorted(KIND_SCOPES)}")
    credential_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{credential_id}_{secrets.token_urlsafe(32)}"
    credential = Credential(
        credential_id=credential_id,
        token_sha256=_hash(token),
        agency_system=agency_system,
        agency_value=agency_value,
        kind=kind,
        advice_types=tuple(sorted(advice_types)),
    )
    return credential, token


@dataclass
class InMemoryCredentialStore:
    """Credential store for tests."""

    credentials: dict[str, Credential] = field(default_factory=dict)

    def get(self, credential_id: str) -> Credential | None:
        """The credential with this id, or None."""
        return self.credentials.get(credential_id)

    def add(self, credential: Credential) -> None:
        """Store a credential."""
        self.credentials[credential.credential_id] = credential


class FileCredentialStore:
    """Credentials in a JSON file (mode 0600), re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime: float | None = None
        self._cache: dict[str, Credential] = {}

    def _load(self) -> dict[str, Credential]:
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            raw: list[dict[str, Any]] = json.loads(self._path.read_text())
            self._cache = {
                c["credential_id"]: Credential(
                    **{**c, "advice_types": tuple(c.get("advice_types", ()))}
                )
                for c in raw
            }
            self._mtime = mtime
        return self._cache

    def get(self, credential_id: str) -> Credential | None:
        """The credential with this id, or None."""
        return self._load().get(credential_id)

    def all(self) -> list[Credential]:
        """Every credential, revoked ones included."""
        return list(self._load().values())

    def save(self, credentials: Iterable[Credential]) -> None:
        """Atomically replace the file with ``credentials``."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".credentials")
        with os.fdopen(fd, "w") as handle:
            json.dump([asdict(c) for c in credentials], handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._path)
        self._mtime = None


def bearer_token(request: Request) -> str:
    """The bearer token of a request.

    Raises:
        AuthError: (401) if the Authorization header is missing or not a bearer token.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("missing bearer token (Authorization: Bearer <token>)")
    return token.strip()


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, which must carry ``scope``.

    The app keeps its credential store in ``request.app.state.credentials``.

    Raises:
        AuthError: 401 without a valid token, 403 without the scope.
    """

    async def dependency(request: Request) -> Principal:  # async: no threadpool hop per request
        principal = authenticate(request.app.state.credentials, bearer_token(request))
        if not principal.allows(scope):
            raise AuthError(f"this credential may not use {scope}", status=403)
        return principal

    return dependency
