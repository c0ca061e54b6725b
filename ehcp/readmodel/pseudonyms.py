"""Keyed pseudonyms of child identifiers, for searching cases by a child's identifier (pure).

The read model never stores a child's NHS number, UPN or other identifier. For the work tray's
"search by child identifier" it stores, per case, the HMAC-SHA256 of each normalised identifier
under the deployment's pseudonym key (``Settings.pseudonym_key_bytes``); the search box computes
the same HMAC of what is typed. Without the key the pseudonyms cannot be reversed by hashing
every 10-digit number. A context label keeps these values apart from the Kafka child keys
(:func:`ehcp.contract.keys.child_key`), which use the same key for another purpose.

The identifier's naming system is left out on purpose: the person searching types a number
without saying whether it is an NHS number or a UPN, and the formats do not overlap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

#: Domain separation from the routing keys made with the same secret.
CONTEXT: Final = b"ehcp-readmodel-child-search|"
#: Longest normalised identifier searched or stored (a UPN is 13, an NHS number 10 characters).
MAX_IDENTIFIER: Final = 64

_SEPARATORS: Final = re.compile(r"[\s\-./]+")


def normalise_child_identifier(text: str) -> str:
    """What is compared: spaces, hyphens, dots and slashes removed, letters in upper case.

    ``"943 476 5919"`` and ``"943-476-5919"`` give ``"9434765919"``; ``"b801200005001"`` gives
    ``"B801200005001"``.
    """
    return _SEPARATORS.sub("", text).upper()


def child_search_key(pseudonym_key: bytes, identifier: str) -> str | None:
    """The stored and searched pseudonym of one identifier (64 hex digits), or None for text
    that is empty or longer than :data:`MAX_IDENTIFIER` once normalised."""
    normalised = normalise_child_identifier(identifier)
    if not normalised or len(normalised) > MAX_IDENTIFIER:
        return None
    return hmac.new(pseudonym_key, CONTEXT + normalised.encode(), hashlib.sha256).hexdigest()
