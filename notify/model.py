"""Subscriptions and alert transitions, and the checks on what an operator types (pure).

A *subscription* says who hears about which alerts and how: a recipient (a local authority's
officer or team, named by the LA code; or an agency's contact, named by the agency identifier),
a channel (an email address or a webhook endpoint), a filter (alert kinds, a minimum
severity, whether resolutions are wanted) and a cadence (at once, or a daily digest at a
chosen London time on working days).

An *alert transition* is one event on ``ehcp.alerts.v1``: an alert raised or resolved. Its
``event_id`` identifies it; a re-sent alert repeats the ``event_id`` (docs/contract.md).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from ehcp.errors import ValidationError
from ehcp.identifiers import (
    AGENCY_CODE_FORMATS,
    LA_CODE_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    SCHOOL_URN_SYSTEM,
    normalise_la_code,
)

# Re-exported: subscriptions and workspace accounts check addresses the same way.
from ehcp.mailbox import MAX_ADDRESS as MAX_ADDRESS
from ehcp.mailbox import parse_email as parse_email

#: The ``AlertKind`` symbols of ``schemas/alert/v1.avsc`` (a unit test keeps them equal).
ALERT_KINDS: Final = (
    "ADVICE_DUE_SOON",
    "ADVICE_OVERDUE",
    "ADVICE_NOT_REQUESTED",
    "DEADLINE_AT_RISK",
    "DEADLINE_MISSED",
    "CONTRIBUTION_UNROUTED",
    "OTHER",
)
#: The ``Severity`` symbols, least severe first.
SEVERITIES: Final = ("INFO", "WARNING", "CRITICAL")
#: What an agency is reminded of: its own advice, due soon or overdue.
REMINDER_KINDS: Final = ("ADVICE_DUE_SOON", "ADVICE_OVERDUE")

#: Short names an operator types for the agency identifier systems.
AGENCY_SYSTEMS: Final = {
    "ods": ODS_ORGANISATION_SYSTEM,
    "la": LA_CODE_SYSTEM,
    "urn": SCHOOL_URN_SYSTEM,
}
MAX_URL: Final = 2000
MAX_LABEL: Final = 200
_SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


class Channel(StrEnum):
    """How a subscription is told."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class RecipientKind(StrEnum):
    """Whose subscription it is."""

    LOCAL_AUTHORITY = "local_authority"
    AGENCY = "agency"
    #: A workspace user (``value`` is the user id): told by email at the account's address,
    #: read when sending; about their LA's cases (a case officer: their caseload only).
    USER = "user"


#: The ``system`` of a workspace user's recipient.
WORKSPACE_USER_SYSTEM: Final = "workspace-user"


@dataclass(frozen=True, slots=True)
class Recipient:
    """An LA (``system`` is the LA code system) or an agency, by identifier."""

    kind: RecipientKind
    system: str
    value: str

    def describe(self) -> str:
        """``la:999``, ``ods:RXX`` or ``user:<user id>``: how the CLI names it."""
        if self.kind is RecipientKind.USER:
            return f"user:{self.value}"
        short = {v: k for k, v in AGENCY_SYSTEMS.items()}.get(self.system, self.system)
        return f"{short}:{self.value}"


def user_recipient(user_id: str) -> Recipient:
    """A workspace user as a recipient."""
    return Recipient(RecipientKind.USER, WORKSPACE_USER_SYSTEM, user_id)


@dataclass(frozen=True, slots=True)
class UserScope:
    """What a workspace user may hear about, as the account stands when an alert is routed.

    Attributes:
        la_code: the user's LA: only its cases.
        caseload_only: a case officer: only the cases assigned to them.
        active: False for a disabled account (told nothing).
    """

    la_code: str
    caseload_only: bool
    active: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who hears about what, how and when.

    Attributes:
        subscription_id: a random id given when it was made.
        recipient: the LA or agency it belongs to (decides which alerts it may hear about).
        channel: email or webhook.
        address: the email address or the webhook URL.
        kinds: the alert kinds it hears about (never empty).
        min_severity: the least severity it hears about.
        include_resolved: also told when an alert is resolved.
        digest_at: None: told at once; else a daily digest at this London time, working days.
        label: the operator's note (a team's name); no personal data.
        created_ms: when it was made (epoch ms); it hears only about later transitions.
        webhook_secret: ``whsec_...`` for webhooks (never logged or printed after creation).
    """

    subscription_id: str
    recipient: Recipient
    channel: Channel
    address: str
    kinds: frozenset[str]
    min_severity: str
    include_resolved: bool
    digest_at: time | None
    label: str
    created_ms: int
    webhook_secret: str | None = None

    def __repr__(self) -> str:
        # The secret must never reach a log line or a traceback through repr().
        return (f"Subscription({self.subscription_id!r}, {self.recipient.describe()}, "
                f"{self.channel.value})")


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One alert event (raised or resolved), with the case's owning LA where known.

    Only what an ``Alert`` carries: no child identifiers, names or dates of birth exist here.
    """

    event_id: str
    alert_id: str
    case_id: str | None
    kind: str
    status: str
    severity: str
    advice_type: str | None
    agency_system: str | None
    agency_value: str | None
    due_on: date | None
    days_overdue: int
    regulation: str
    message: str
    as_of: date
    recorded_ms: int
    la_code: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], recorded_ms: int,
                    la_code: str | None = None) -> AlertTransition:
        """From a decoded ``Alert`` record and its Kafka timestamp."""
        agency = record.get("agency") or {}
        return cls(
            event_id=str(record["event_id"]),
            alert_id=str(record["alert_id"]),
            case_id=record.get("case_id"),
            kind=str(record["kind"]),
            status=str(record["status"]),
            severity=str(record["severity"]),
            advice_type=record.get("advice_type"),
            agency_system=agency.get("system"),
            agency_value=agency.get("value"),
            due_on=record.get("due_on"),
            days_overdue=int(record.get("days_overdue") or 0),
            regulation=str(record["regulation"]),
            message=str(record["message"]),
            as_of=record["as_of"],
            recorded_ms=recorded_ms,
            la_code=la_code,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings), stored with a delivery."""
        return {
            "event_id": self.event_id, "alert_id": self.alert_id, "case_id": self.case_id,
            "kind": self.kind, "status": self.status, "severity": self.severity,
            "advice_type": self.advice_type, "agency_system": self.agency_system,
            "agency_value": self.agency_value,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "days_overdue": self.days_overdue, "regulation": self.regulation,
            "message": self.message, "as_of": self.as_of.isoformat(),
            "recorded_ms": self.recorded_ms, "la_code": self.la_code,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertTransition:
        """The inverse of :meth:`to_json`."""
        return cls(**{
            **data,
            "due_on": date.fromisoformat(data["due_on"]) if data.get("due_on") else None,
            "as_of": date.fromisoformat(data["as_of"]),
        })


# -- checks on operator input ---------------------------------------------------------------

def parse_recipient(la_code: str | None, agency: str | None) -> Recipient:
    """The recipient from ``--la CODE`` or ``--agency SYSTEM:CODE`` (exactly one).

    Raises:
        ValidationError: neither or both given, an unknown system, or a code of the wrong form.
    """
    if (la_code is None) == (agency is None):
        raise ValidationError("name exactly one recipient: --la CODE or --agency SYSTEM:CODE")
    if la_code is not None:
        return Recipient(RecipientKind.LOCAL_AUTHORITY, LA_CODE_SYSTEM,
                         normalise_la_code(la_code.strip()))
    short, sep, code = (agency or "").partition(":")
    system = AGENCY_SYSTEMS.get(short.strip().lower())
    if not sep or system is None:
        raise ValidationError(
            f"--agency must be SYSTEM:CODE with SYSTEM one of {', '.join(AGENCY_SYSTEMS)} "
            "(e.g. ods:RXX01)")
    return Recipient(RecipientKind.AGENCY, system, AGENCY_CODE_FORMATS[system](code.strip()))


def parse_webhook_url(value: str, *, allow_http: bool = False) -> str:
    """An absolute https URL (http only with ``allow_http``), with a host and no credentials.

    Raises:
        ValidationError: a relative URL, another scheme, user:password@, or over 2000 chars.
    """
    if len(value) > MAX_URL:
        raise ValidationError(f"a webhook URL is at most {MAX_URL} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValidationError("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        raise ValidationError(f"not a URL: {value[:80]!r} ({exc})") from exc
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError(
            f"a webhook URL must start with https:// (got {parts.scheme or 'no'} scheme)"
            + ("" if allow_http else "; EHCP_NOTIFY_WEBHOOK_ALLOW_HTTP allows http for tests"))
    if not parts.hostname:
        raise ValidationError("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("a webhook URL must not carry a user name or password")
    if parts.fragment:
        raise ValidationError("a webhook URL has no #fragment")
    del port
    return value


def is_loopback(url: str) -> bool:
    """True for a URL whose host is a loopback address or ``localhost``."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_secret(value: str) -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 to 64 bytes of base64.

    Raises:
        ValidationError: another form, or too short to be safe.
    """
    if not _SECRET.match(value):
        raise ValidationError("a webhook secret is whsec_ followed by base64")
    try:
        key = base64.b64decode(value[len("whsec_"):], validate=True)
    except ValueError as exc:
        raise ValidationError("a webhook secret is whsec_ followed by base64") from exc
    if not 24 <= len(key) <= 64:
        raise ValidationError("a webhook secret holds 24 to 64 bytes")
    return value


def parse_kinds(values: Iterable[str], recipient: Recipient) -> frozenset[str]:
    """Alert kinds (case-insensitive); none given means every kind the recipient may hear.

    An agency hears only reminders about its own advice (due soon, overdue).

    Raises:
        ValidationError: an unknown kind, or a kind an agency is not told about.
    """
    allowed = REMINDER_KINDS if recipient.kind is RecipientKind.AGENCY else ALERT_KINDS
    chosen = {v.strip().upper() for v in values if v.strip()}
    unknown = sorted(k for k in chosen if k not in ALERT_KINDS)
    if unknown:
        raise ValidationError(
            f"unknown alert kind {', '.join(repr(k[:40]) for k in unknown)}; "
            f"known: {', '.join(ALERT_KINDS)}")
    refused = sorted(chosen - set(allowed))
    if refused:
        raise ValidationError(
            f"an agency is reminded only of {', '.join(REMINDER_KINDS)}, not {', '.join(refused)}")
    return frozenset(chosen or allowed)


def parse_severity(value: str) -> str:
    """A severity name (case-insensitive).

    Raises:
        ValidationError: not one of INFO, WARNING, CRITICAL.
    """
    upper = value.strip().upper()
    if upper not in SEVERITIES:
        raise ValidationError(
            f"unknown severity {value[:40]!r}; known: {', '.join(SEVERITIES)}")
    return upper


def parse_digest_time(value: str | None) -> time | None:
    """``HH:MM`` (24-hour, London time) or None for immediate.

    Raises:
        ValidationError: not a time of day in that form.
    """
    if value is None:
        return None
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value.strip())
    if not match:
        raise ValidationError(f"a digest time is HH:MM, 00:00 to 23:59 (got {value[:20]!r})")
    return time(int(match.group(1)), int(match.group(2)))


def parse_label(value: str) -> str:
    """The operator's note: at most 200 printable characters.

    Raises:
        ValidationError: longer, or with control characters.
    """
    if len(value) > MAX_LABEL:
        raise ValidationError(f"a label is at most {MAX_LABEL} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("a label has no control characters")
    return value


# -- FHIR rest-hook subscriptions (trusts) -----------------------------------------------------

#: A rest-hook delivery's channel name in the delivery log.
REST_HOOK: Final = "rest-hook"
MAX_HEADERS: Final = 10
MAX_HEADER: Final = 1000
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
#: Headers the sender sets itself; a subscription may not replace them.
_RESERVED_HEADERS: Final = frozenset({
    "host", "content-type", "content-length", "transfer-encoding", "connection",
    "user-agent", "expect", "upgrade", "te", "trailer", "keep-alive"})


@dataclass(frozen=True, slots=True)
class FhirSubscription:
    """A trust's FHIR R4 Subscription: its new and changed Tasks PUT to its endpoint.

    Attributes:
        subscription_id: the Subscription's logical id (random).
        owner_ods: the ODS code whose Tasks it hears about (the credential's own).
        endpoint: ``channel.endpoint``; each Task is PUT to ``{endpoint}/Task/{id}``.
        headers: ``channel.header`` as (name, value) pairs, sent with every call; never logged,
            and never shown again (they usually hold the trust's own credential).
        reason: ``Subscription.reason``.
        created_ms: when it was made (epoch ms); it hears only about later changes.
        credential_id: the credential that made it (for the audit trail; not a permission).
    """

    subscription_id: str
    owner_ods: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    reason: str
    created_ms: int
    credential_id: str

    def __repr__(self) -> str:
        return f"FhirSubscription({self.subscription_id!r}, ods:{self.owner_ods})"


def parse_rest_hook_header(value: str) -> tuple[str, str]:
    """One ``channel.header`` entry, ``Name: value``.

    Raises:
        ValidationError: not ``Name: value``, too long, a line break or control character, or a
            header the sender sets itself (Host, Content-Type, ...).
    """
    if len(value) > MAX_HEADER:
        raise ValidationError(f"a channel.header is at most {MAX_HEADER} characters")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise ValidationError("a channel.header has no line breaks or control characters")
    name, sep, rest = value.partition(":")
    if not sep or not _HEADER_NAME.match(name.strip()) or name != name.strip():
        raise ValidationError("a channel.header is 'Name: value' (a header name, a colon)")
    if name.lower() in _RESERVED_HEADERS or name.lower().startswith("webhook-"):
        raise ValidationError(f"channel.header may not set {name[:40]!r}")
    return name, rest.strip()
