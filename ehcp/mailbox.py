"""Email addresses an operator types (pure): one plain mailbox, checked before it is stored.

Used by the notifier's subscriptions (``notify.model``) and by workspace accounts
(``ehcp.readmodel.people``), so an address is checked the same way wherever it is typed.
"""

from __future__ import annotations

import re
from typing import Final

from ehcp.errors import ValidationError

MAX_ADDRESS: Final = 254  # RFC 5321's path limit, less the angle brackets
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                     r"[A-Za-z]{2,63}$")


def parse_email(value: str) -> str:
    """A single plain mailbox ``local@domain.tld``; no display name, no line breaks.

    Raises:
        ValidationError: anything else (too long, no domain, a control character, two '@').
    """
    if len(value) > MAX_ADDRESS:
        raise ValidationError(f"an email address is at most {MAX_ADDRESS} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValidationError("an email address has no spaces or control characters")
    local, sep, domain = value.rpartition("@")
    if not sep or not _LOCAL_PART.match(local) or local.startswith(".") or ".." in local:
        raise ValidationError(f"not an email address: {value[:80]!r} (expected name@domain)")
    if not _DOMAIN.match(domain):
        raise ValidationError(f"not an email domain: {domain[:80]!r}")
    return f"{local}@{domain.lower()}"
