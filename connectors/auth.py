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
from typing import Annotated, Any, Final, Protocol

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connectors.ports import Principal
from ehcp.errors import AuthError, ConfigurationError, ValidationError
from ehcp.identifiers import (
    AGENCY_CODE_FORMATS,
    LA_CODE_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    SCHOOL_URN_SYSTEM,
)

TOKEN_PREFIX: Final = "ehcp_"  # noqa: S105 - a public prefix, not a secret

#: Scopes each agency kind gets. Least privilege: an agency may only write its own advice and
#: read its own requests; admin is for LA operators.
KIND_SCOPES: Final[dict[str, frozenset[str]]] = {
    "health": frozenset({"fhir:read", "fhir:write"}),
    "education": frozenset({"education:read", "education:write"}),
    "social_care": frozenset({"social_care:read", "social_care:write"}),
    # The LA's own case management system: reads its cases and their documents, writes nothing
    # (the LA's writes use an education credential named by the same LA code).
    "local_authority": frozenset({"cases:read", "documents:read"}),
    "admin": frozenset({"admin"}),
}
#: Advice types each agency kind may submit (AdviceType symbols of the Avro contract): the one
#: mapping, used when a credential is made (``ehcp agencies add``) and at every request (via
#: :meth:`Credential.principal`). Reg 6(1): health gives medical advice (c); the educational
#: psychologist's advice (d) comes from the LA's EP service, so education; social care gives
#: social care advice (e); education (the LA SEN team and schools) gives or gathers the rest,
#: including the family's own advice (a), which the LA collects. docs/security.md explains it.
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
    "local_authority": frozenset(),
    "admin": frozenset(),
}


#: Identifier systems each agency kind may be named by: health bodies by ODS code; education by
#: LA code (the SEN team) or school URN; social care, local authority and admin by LA code.
KIND_SYSTEMS: Final[dict[str, tuple[str, ...]]] = {
    "health": (ODS_ORGANISATION_SYSTEM,),
    "education": (LA_CODE_SYSTEM, SCHOOL_URN_SYSTEM),
    "social_care": (LA_CODE_SYSTEM,),
    "local_authority": (LA_CODE_SYSTEM,),
    "admin": (LA_CODE_SYSTEM,),
}


def allowed_advice_types(kind: str, restriction: Iterable[str] = ()) -> frozenset[str]:
    """The advice types a credential of ``kind`` may submit: the kind's, narrowed by a restriction.

    A restriction can only narrow: a type outside the kind's (MEDICAL for social care, say, in a
    credential stored before :func:`check_advice_types` existed) is never granted.
    """
    kind_types = KIND_ADVICE_TYPES.get(kind, frozenset())
    wanted = frozenset(restriction)
    return kind_types & wanted if wanted else kind_types


def check_advice_types(kind: str, advice_types: Iterable[str]) -> tuple[str, ...]:
    """Check a credential's advice-type restriction against its kind; return it sorted.

    Raises:
        ValidationError: (location ``advice_types``) a type the kind may not submit.
    """
    wanted = tuple(sorted(set(advice_types)))
    allowed = KIND_ADVICE_TYPES.get(kind, frozenset())
    refused = [t for t in wanted if t not in allowed]
    if refused:
        may = ", ".join(sorted(allowed)) or "no advice"
        raise ValidationError(
            f"an agency of kind {kind} may not submit {', '.join(refused)} advice; "
            f"it may submit: {may}",
            location="advice_types",
        )
    return wanted


def check_agency(kind: str, agency_system: str, agency_value: str) -> str:
    """Check that an agency identifier fits its kind and format; return the normalised code.

    Raises:
        ValidationError: (location ``system``) a system the kind is not named by, or (location
            ``agency``) a malformed ODS code, LA code or school URN.
    """
    systems = KIND_SYSTEMS.get(kind, ())
    if agency_system not in systems:
        raise ValidationError(
            f"an agency of kind {kind} is identified by {' or '.join(systems)}", location="system"
        )
    try:
        return AGENCY_CODE_FORMATS[agency_system](agency_value)
    except ValidationError as exc:
        raise ValidationError(exc.message, location="agency") from exc


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
        types = allowed_advice_types(self.kind, self.advice_types)
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
        ValidationError: the agency identifier does not fit the kind or its format
            (:func:`check_agency`), or an advice type the kind may not submit
            (:func:`check_advice_types`).
    """
    if kind not in KIND_SCOPES:
        raise ConfigurationError(f"unknown agency kind {kind!r}; use one of {sorted(KIND_SCOPES)}")
    agency_value = check_agency(kind, agency_system, agency_value)
    advice_types = check_advice_types(kind, advice_types)
    credential_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{credential_id}_{secrets.token_urlsafe(32)}"
    credential = Credential(
        credential_id=credential_id,
        token_sha256=_hash(token),
        agency_system=agency_system,
        agency_value=agency_value,
        kind=kind,
        advice_types=advice_types,
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


#: Declares the bearer scheme in the OpenAPI document (Swagger UI's Authorize button). It
#: checks nothing itself (``auto_error=False``): :func:`require_scope` does, with this module's
#: 401 and 403 answers.
BEARER_SCHEME: Final = HTTPBearer(
    auto_error=False,
    scheme_name="agencyToken",
    bearerFormat="ehcp_<credential id>_<secret>",
    description="A token from `ehcp agencies add` (docs/onboarding.md).",
)


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, which must carry ``scope``.

    The app keeps its credential store in ``request.app.state.credentials``.

    Raises:
        AuthError: 401 without a valid token, 403 without the scope.
    """

    async def dependency(  # async: no threadpool hop per request
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)] = None,
    ) -> Principal:
        principal = authenticate(request.app.state.credentials, bearer_token(request))
        if not principal.allows(scope):
            raise AuthError(f"this credential may not use {scope}", status=403)
        return principal

    return dependency


def require_any_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, which must carry one of ``scopes``.

    For a route two kinds of credential may use (a FHIR read by the submitting trust or by the
    LA); the handler then branches on the principal.

    Raises:
        AuthError: 401 without a valid token, 403 with none of the scopes.
    """

    async def dependency(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)] = None,
    ) -> Principal:
        principal = authenticate(request.app.state.credentials, bearer_token(request))
        if not any(principal.allows(scope) for scope in scopes):
            raise AuthError(f"this credential may not use {' or '.join(scopes)}", status=403)
        return principal

    return dependency
