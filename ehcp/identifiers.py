"""Child identifiers and their check digits (pure, no I/O).

Sources (see ``shared/domain/statutory-rules.md`` section 5):

- NHS number: 10 digits, weights 10..2 on digits 1-9, ``11 - (sum mod 11)``; 11 means 0 and
  10 means the number can never be valid.
- UPN (DfE Unique Pupil Number): 13 characters, check letter first; the sum of value x position
  over positions 2-13, mod 23, mapped to the 23-letter alphabet without I, O and S. A temporary
  UPN ends in a letter valued by the same table.
- ULN (Unique Learner Number): 10 digits, first non-zero; weights 10..1 over all digits, the sum
  mod 11 must be 10.

There is no national FHIR naming system for UPN and ULN, so the project defines its own URIs.

Agency codes have no check digit, only a format:

- ODS organisation code (NHS Organisation Data Service): 3 to 6 letters and digits, upper case
  (NHS trusts and ICBs have 3, e.g. ``RBZ``; independent providers and trust sites 5; GP
  practices 6, e.g. ``A81001``). Which codes exist only ODS itself can say.
- DfE LA code: 3 digits (``201`` City of London).
- School URN (DfE Unique Reference Number, Get Information about Schools): 6 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ehcp.errors import InvalidIdentifierError

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
ODS_ORGANISATION_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
ODS_SITE_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-site-code"
UPN_SYSTEM: Final = "https://ehcp-exchange.org/Id/upn"
ULN_SYSTEM: Final = "https://ehcp-exchange.org/Id/uln"
LA_CHILD_ID_SYSTEM: Final = "https://ehcp-exchange.org/Id/la-child-id"
LA_CODE_SYSTEM: Final = "https://ehcp-exchange.org/Id/la-code"
SCHOOL_URN_SYSTEM: Final = "https://ehcp-exchange.org/Id/school-urn"

_UPN_LETTERS: Final = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: I, O and S are never used
# ASCII digits only, and \Z rather than $ (which also matches before a trailing newline).
_NHS_RE: Final = re.compile(r"[0-9]{10}\Z")
_UPN_RE: Final = re.compile(rf"[{_UPN_LETTERS}][0-9]{{11}}[0-9{_UPN_LETTERS}]\Z")
_ULN_RE: Final = re.compile(r"[1-9][0-9]{9}\Z")
_ODS_RE: Final = re.compile(r"[A-Z0-9]{3,6}\Z")
_LA_CODE_RE: Final = re.compile(r"[0-9]{3}\Z")
_URN_RE: Final = re.compile(r"[0-9]{6}\Z")


def nhs_number_check_digit(first_nine: str) -> int | None:
    """Return the Modulus 11 check digit for nine NHS-number digits, or None if none exists."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(value: str) -> bool:
    """True if ``value`` is ten digits whose last digit is the Modulus 11 check digit."""
    if not _NHS_RE.match(value):
        return False
    return nhs_number_check_digit(value[:9]) == int(value[9])


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces people write NHS numbers with ("943 476 5919") and validate.

    Raises:
        InvalidIdentifierError: if the number is not ten digits or fails its check digit.
    """
    compact = value.replace(" ", "")
    if not _NHS_RE.match(compact):
        raise InvalidIdentifierError("NHS number must be 10 digits")
    if not is_valid_nhs_number(compact):
        raise InvalidIdentifierError("NHS number fails its Modulus 11 check digit")
    return compact


def _upn_value(char: str) -> int:
    return int(char) if char.isdigit() else _UPN_LETTERS.index(char)


def upn_check_letter(body: str) -> str:
    """Return the check letter for the 12 characters of a UPN after its check letter."""
    total = sum(_upn_value(c) * pos for pos, c in enumerate(body, start=2))
    return _UPN_LETTERS[total % 23]


def is_valid_upn(value: str) -> bool:
    """True if ``value`` is a well-formed permanent or temporary UPN with the right check letter."""
    if not _UPN_RE.match(value):
        return False
    return upn_check_letter(value[1:]) == value[0]


def normalise_upn(value: str) -> str:
    """Upper-case and validate a UPN.

    Raises:
        InvalidIdentifierError: if the format or the check letter is wrong.
    """
    upper = value.strip().upper()
    if not _UPN_RE.match(upper):
        raise InvalidIdentifierError(
            "UPN must be a check letter, 11 digits and a digit or letter (13 characters)"
        )
    if not is_valid_upn(upper):
        raise InvalidIdentifierError("UPN fails its check letter")
    return upper


def is_valid_uln(value: str) -> bool:
    """True if ``value`` is a 10-digit ULN whose weighted sum mod 11 is 10."""
    if not _ULN_RE.match(value):
        return False
    total = sum(int(d) * w for d, w in zip(value, range(10, 0, -1), strict=True))
    return total % 11 == 10


def normalise_ods_code(value: str) -> str:
    """Upper-case and check the format of an ODS organisation code.

    Raises:
        InvalidIdentifierError: if it is not 3 to 6 ASCII letters and digits.
    """
    upper = value.upper()
    if not _ODS_RE.match(upper):
        raise InvalidIdentifierError("an ODS organisation code is 3 to 6 letters and digits")
    return upper


def normalise_la_code(value: str) -> str:
    """Check a DfE LA code.

    Raises:
        InvalidIdentifierError: if it is not three ASCII digits.
    """
    if not _LA_CODE_RE.match(value):
        raise InvalidIdentifierError("a DfE LA code is 3 digits")
    return value


def normalise_school_urn(value: str) -> str:
    """Check a school URN.

    Raises:
        InvalidIdentifierError: if it is not six ASCII digits.
    """
    if not _URN_RE.match(value):
        raise InvalidIdentifierError("a school URN is 6 digits")
    return value


#: The agency identifier systems whose codes have a known format, with their checks.
AGENCY_CODE_FORMATS: Final = {
    ODS_ORGANISATION_SYSTEM: normalise_ods_code,
    LA_CODE_SYSTEM: normalise_la_code,
    SCHOOL_URN_SYSTEM: normalise_school_urn,
}


@dataclass(frozen=True, slots=True)
class Identifier:
    """An identifier with its naming system, as FHIR and the Avro contract carry it."""

    system: str
    value: str


_VALIDATORS: Final = {
    NHS_NUMBER_SYSTEM: (is_valid_nhs_number, "NHS number fails its format or Modulus 11 check"),
    UPN_SYSTEM: (is_valid_upn, "UPN fails its format or check letter"),
    ULN_SYSTEM: (is_valid_uln, "ULN fails its format or check digit"),
}


def validate_identifier(identifier: Identifier) -> Identifier:
    """Check an identifier whose system has a check digit; others pass through unchanged.

    Raises:
        InvalidIdentifierError: if a checked identifier fails.
    """
    rule = _VALIDATORS.get(identifier.system)
    if rule is not None and not rule[0](identifier.value):
        raise InvalidIdentifierError(rule[1])
    return identifier
