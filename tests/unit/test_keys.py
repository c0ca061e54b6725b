"""Kafka keys: pseudonymous child keys and the key of a contribution."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehcp.contract.keys import CHILD_KEY_PREFIX, child_key, contribution_key, strongest_identifier
from ehcp.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ULN_SYSTEM,
    UPN_SYSTEM,
    Identifier,
)

SECRET = b"test-pseudonym-key-not-for-production-0001"
OTHER_SECRET = b"test-pseudonym-key-not-for-production-0002"
NHS = Identifier(NHS_NUMBER_SYSTEM, "9434765919")
UPN = Identifier(UPN_SYSTEM, "B801200005001")
ULN = Identifier(ULN_SYSTEM, "9276308686")
LA_ID = Identifier(LA_CHILD_ID_SYSTEM, "886-000417")


def _as_record(identifier: Identifier) -> dict[str, str]:
    return {"system": identifier.system, "value": identifier.value}


def test_child_key_is_deterministic() -> None:
    """The same secret and identifier always give the same key, so a child's events meet."""
    assert child_key(SECRET, NHS) == child_key(SECRET, Identifier(NHS.system, NHS.value))


def test_child_key_is_the_truncated_hmac_of_system_and_value() -> None:
    """The key is "child:" plus the first 32 hex digits of HMAC-SHA256 over "system|value"."""
    digest = hmac.new(SECRET, f"{NHS.system}|{NHS.value}".encode(), hashlib.sha256).hexdigest()
    assert child_key(SECRET, NHS) == f"{CHILD_KEY_PREFIX}{digest[:32]}"


def test_child_key_depends_on_the_secret() -> None:
    """Another deployment's secret gives another key for the same child."""
    assert child_key(SECRET, NHS) != child_key(OTHER_SECRET, NHS)


def test_child_key_depends_on_the_system() -> None:
    """The same digits under two naming systems give two keys."""
    assert child_key(SECRET, NHS) != child_key(SECRET, Identifier(ULN_SYSTEM, NHS.value))


def test_child_key_is_not_a_plain_hash() -> None:
    """An unkeyed SHA-256 of the identifier, which anyone could compute, is not the key."""
    plain = hashlib.sha256(f"{NHS.system}|{NHS.value}".encode()).hexdigest()
    assert child_key(SECRET, NHS).removeprefix(CHILD_KEY_PREFIX) not in plain


@given(st.text(alphabet="0123456789", min_size=10, max_size=10),
       st.binary(min_size=16, max_size=64))
def test_child_key_never_contains_the_identifier_value(value: str, secret: bytes) -> None:
    """The key is the prefix and 32 hex digits, and the NHS number never appears in it."""
    key = child_key(secret, Identifier(NHS_NUMBER_SYSTEM, value))
    assert key.startswith(CHILD_KEY_PREFIX)
    assert len(key) == len(CHILD_KEY_PREFIX) + 32
    assert value not in key


def test_child_keys_of_real_looking_identifiers_hide_them() -> None:
    """None of the synthetic child's identifiers appears in any of its keys."""
    for identifier in (NHS, UPN, ULN, LA_ID):
        key = child_key(SECRET, identifier)
        assert identifier.value.lower() not in key
        assert identifier.value not in key


def test_contribution_key_prefers_the_case_id() -> None:
    """A contribution that names its case is keyed by the case id."""
    record = {"contribution_id": "RVV-ADV-1", "case_id": "EHC-886-2026-0042",
              "child_identifiers": [_as_record(NHS)]}
    assert contribution_key(SECRET, record) == "EHC-886-2026-0042"


def test_contribution_key_prefers_nhs_number_over_upn() -> None:
    """Without a case id the NHS number's child key is used, whatever the identifiers' order."""
    record = {"contribution_id": "RVV-ADV-1", "case_id": None,
              "child_identifiers": [_as_record(UPN), _as_record(NHS)]}
    assert contribution_key(SECRET, record) == child_key(SECRET, NHS)


def test_contribution_key_uses_upn_without_nhs_number() -> None:
    """Without a case id or NHS number the UPN's child key is used."""
    record = {"contribution_id": "SCH-ADV-7", "case_id": None,
              "child_identifiers": [_as_record(LA_ID), _as_record(UPN)]}
    assert contribution_key(SECRET, record) == child_key(SECRET, UPN)


def test_contribution_key_falls_back_to_the_contribution_id() -> None:
    """With no case id and no known identifier the key names the contribution, so it is kept."""
    record = {"contribution_id": "SCH-ADV-8", "case_id": None,
              "child_identifiers": [{"system": "https://example.org/other", "value": "x"}]}
    assert contribution_key(SECRET, record) == "contribution:SCH-ADV-8"


def test_contribution_key_treats_an_empty_case_id_as_absent() -> None:
    """An empty case id does not become the key; the child key is used instead."""
    record = {"contribution_id": "RVV-ADV-1", "case_id": "", "child_identifiers": [_as_record(NHS)]}
    assert contribution_key(SECRET, record) == child_key(SECRET, NHS)


@pytest.mark.parametrize(
    ("identifiers", "expected"),
    [
        ([LA_ID, ULN, UPN, NHS], NHS),
        ([LA_ID, ULN, UPN], UPN),
        ([LA_ID, ULN], ULN),
        ([LA_ID], LA_ID),
        ([], None),
    ],
)
def test_strongest_identifier_order(
    identifiers: list[Identifier], expected: Identifier | None
) -> None:
    """Routing prefers NHS number, then UPN, then ULN, then the LA's own child id."""
    assert strongest_identifier(identifiers) == expected
