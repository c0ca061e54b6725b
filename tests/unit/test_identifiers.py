"""Check digits of child identifiers: NHS number (Modulus 11), UPN (check letter), ULN (mod 11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehcp.errors import InvalidIdentifierError
from ehcp.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ULN_SYSTEM,
    UPN_SYSTEM,
    Identifier,
    is_valid_nhs_number,
    is_valid_uln,
    is_valid_upn,
    nhs_number_check_digit,
    normalise_nhs_number,
    normalise_upn,
    upn_check_letter,
    validate_identifier,
)

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
DIGITS = "0123456789"


# --- NHS number -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9434765919", "9434765870", "4010232137"])
def test_valid_nhs_numbers(value: str) -> None:
    """Published synthetic NHS numbers pass the Modulus 11 check."""
    assert is_valid_nhs_number(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1234567890", id="wrong-check-digit"),
        pytest.param("9434765918", id="check-digit-off-by-one"),
        pytest.param("943476591", id="nine-digits"),
        pytest.param("94347659190", id="eleven-digits"),
        pytest.param("943 476 5919", id="spaces"),
        pytest.param("943476591A", id="letter"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_nhs_numbers(value: str) -> None:
    """Numbers with the wrong check digit or the wrong shape are not NHS numbers."""
    assert not is_valid_nhs_number(value)


def test_nhs_number_whose_check_would_be_ten_is_never_valid() -> None:
    """A prefix whose Modulus 11 check is 10 has no check digit: no tenth digit makes it valid."""
    prefix = next(f"{n:09d}" for n in range(10**6) if nhs_number_check_digit(f"{n:09d}") is None)
    assert not any(is_valid_nhs_number(prefix + d) for d in DIGITS)


def test_normalise_nhs_number_removes_spaces() -> None:
    """The spaced form people write, 943 476 5919, normalises to ten digits."""
    assert normalise_nhs_number("943 476 5919") == "9434765919"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1234567890", "check digit"), ("94347659", "10 digits"), ("943-476-5919", "10 digits")],
)
def test_normalise_nhs_number_refuses_invalid(value: str, reason: str) -> None:
    """Normalising an invalid NHS number raises InvalidIdentifierError saying why."""
    with pytest.raises(InvalidIdentifierError, match=reason):
        normalise_nhs_number(value)


@given(st.text(alphabet=DIGITS, min_size=9, max_size=9))
def test_every_prefix_with_its_check_digit_is_valid(prefix: str) -> None:
    """Any nine digits followed by their check digit (when one exists) form a valid NHS number."""
    check = nhs_number_check_digit(prefix)
    if check is None:
        assert not any(is_valid_nhs_number(prefix + d) for d in DIGITS)
    else:
        assert is_valid_nhs_number(f"{prefix}{check}")


@given(
    st.text(alphabet=DIGITS, min_size=9, max_size=9).filter(
        lambda p: nhs_number_check_digit(p) is not None
    ),
    st.integers(0, 9),
    st.integers(1, 9),
)
def test_changing_one_digit_of_an_nhs_number_makes_it_invalid(
    prefix: str, position: int, shift: int
) -> None:
    """Modulus 11 catches every single-digit error in a valid NHS number."""
    valid = f"{prefix}{nhs_number_check_digit(prefix)}"
    changed = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1:]
    assert not is_valid_nhs_number(changed)


@given(
    st.text(alphabet=DIGITS, min_size=9, max_size=9).filter(
        lambda p: nhs_number_check_digit(p) is not None
    ),
    st.integers(0, 8),
)
def test_swapping_adjacent_digits_of_an_nhs_number_is_caught(prefix: str, position: int) -> None:
    """Swapping two different adjacent digits of a valid NHS number makes it invalid."""
    valid = f"{prefix}{nhs_number_check_digit(prefix)}"
    a, b = valid[position], valid[position + 1]
    swapped = valid[:position] + b + a + valid[position + 2:]
    assert is_valid_nhs_number(swapped) == (a == b)


# --- UPN --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["B801200005001"])
def test_valid_upns(value: str) -> None:
    """A permanent UPN with the right check letter is valid."""
    assert is_valid_upn(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("A801200005001", id="wrong-check-letter"),
        pytest.param("B801200005002", id="last-digit-changed"),
        pytest.param("I801200005001", id="letter-I-never-used"),
        pytest.param("B80120000500", id="twelve-characters"),
        pytest.param("b801200005001", id="lower-case"),
        pytest.param("B8012000050O1", id="letter-in-digits"),
    ],
)
def test_invalid_upns(value: str) -> None:
    """UPNs with the wrong check letter or shape are invalid (lower case before normalising)."""
    assert not is_valid_upn(value)


def test_normalise_upn_upper_cases_and_strips() -> None:
    """A UPN typed in lower case with spaces around it normalises to the canonical form."""
    assert normalise_upn(" b801200005001 ") == "B801200005001"


def test_normalise_upn_refuses_a_wrong_check_letter() -> None:
    """Normalising a UPN with the wrong check letter raises InvalidIdentifierError."""
    with pytest.raises(InvalidIdentifierError, match="check letter"):
        normalise_upn("A801200005001")


upn_bodies = st.tuples(
    st.text(alphabet=DIGITS, min_size=11, max_size=11),
    st.sampled_from(DIGITS + UPN_LETTERS),
).map("".join)


@given(upn_bodies)
def test_every_upn_body_with_its_check_letter_is_valid(body: str) -> None:
    """Permanent and temporary UPN bodies prefixed by their check letter are valid."""
    assert is_valid_upn(upn_check_letter(body) + body)


@given(upn_bodies, st.integers(1, 11), st.integers(1, 9))
def test_changing_one_digit_of_a_upn_makes_it_invalid(body: str, position: int, shift: int) -> None:
    """The mod 23 check letter catches every single-digit error in the UPN's eleven digits."""
    valid = upn_check_letter(body) + body
    changed = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1:]
    assert not is_valid_upn(changed)


# --- ULN --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9276308686"])
def test_valid_ulns(value: str) -> None:
    """A ULN whose weighted digit sum is 10 mod 11 is valid."""
    assert is_valid_uln(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("9276308687", id="last-digit-changed"),
        pytest.param("0276308686", id="leading-zero"),
        pytest.param("927630868", id="nine-digits"),
        pytest.param("927630868A", id="letter"),
    ],
)
def test_invalid_ulns(value: str) -> None:
    """ULNs with a broken check or shape are invalid."""
    assert not is_valid_uln(value)


def _uln_from(prefix: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(prefix, range(10, 1, -1), strict=True))
    last = (10 - total) % 11
    return None if last == 10 else f"{prefix}{last}"


uln_prefixes = st.tuples(
    st.sampled_from("123456789"), st.text(alphabet=DIGITS, min_size=8, max_size=8)
).map("".join)


@given(uln_prefixes)
def test_every_uln_prefix_with_its_check_digit_is_valid(prefix: str) -> None:
    """Nine digits (first non-zero) completed by the mod 11 rule form a valid ULN."""
    uln = _uln_from(prefix)
    if uln is None:
        assert not any(is_valid_uln(prefix + d) for d in DIGITS)
    else:
        assert is_valid_uln(uln)


@given(uln_prefixes.filter(lambda p: _uln_from(p) is not None), st.integers(0, 9),
       st.integers(1, 9))
def test_changing_one_digit_of_a_uln_makes_it_invalid(
    prefix: str, position: int, shift: int
) -> None:
    """The mod 11 rule catches every single-digit error in a valid ULN."""
    valid = _uln_from(prefix)
    assert valid is not None
    changed = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1:]
    assert not is_valid_uln(changed)


# --- validate_identifier ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "identifier",
    [
        Identifier(NHS_NUMBER_SYSTEM, "9434765919"),
        Identifier(UPN_SYSTEM, "B801200005001"),
        Identifier(ULN_SYSTEM, "9276308686"),
        Identifier(LA_CHILD_ID_SYSTEM, "any local id"),
    ],
)
def test_validate_identifier_passes_valid_and_unchecked(identifier: Identifier) -> None:
    """Valid checked identifiers, and identifiers of systems without a check, pass unchanged."""
    assert validate_identifier(identifier) is identifier


@pytest.mark.parametrize(
    ("identifier", "reason"),
    [
        (Identifier(NHS_NUMBER_SYSTEM, "1234567890"), "NHS number"),
        (Identifier(UPN_SYSTEM, "A801200005001"), "UPN"),
        (Identifier(ULN_SYSTEM, "9276308687"), "ULN"),
    ],
)
def test_validate_identifier_refuses_failed_checks(identifier: Identifier, reason: str) -> None:
    """A checked identifier that fails raises InvalidIdentifierError naming its kind."""
    with pytest.raises(InvalidIdentifierError, match=reason):
        validate_identifier(identifier)


# --- input that only looks like digits ---------------------------------------------------------

@pytest.mark.parametrize(
    "value",
    [
        pytest.param("9434765919\n", id="trailing-newline"),
        pytest.param("\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669",
                     id="arabic-indic-digits"),
        pytest.param("\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19",
                     id="fullwidth-digits"),
    ],
)
def test_nhs_number_is_ascii_digits_only(value: str) -> None:
    """Only the ten ASCII digits form an NHS number, so one child never gets two child keys."""
    assert not is_valid_nhs_number(value)
    with pytest.raises(InvalidIdentifierError):
        normalise_nhs_number(value)


@pytest.mark.parametrize(
    "identifier",
    [
        Identifier(ULN_SYSTEM, "9276308686\n"),
        Identifier(UPN_SYSTEM, "B801200005001\n"),
        Identifier(UPN_SYSTEM, "B\u0668\u0660\u0661200005001"),
    ],
    ids=["uln-trailing-newline", "upn-trailing-newline", "upn-arabic-indic-digits"],
)
def test_identifier_that_only_looks_valid_is_refused_not_crashing(identifier: Identifier) -> None:
    """A ULN or UPN with a trailing newline or non-ASCII digits raises InvalidIdentifierError."""
    with pytest.raises(InvalidIdentifierError):
        validate_identifier(identifier)
