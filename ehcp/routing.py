"""Routing a contribution to its EHC case (pure, no I/O).

Rules, in order:

1. The sender named the case (``case_id``): route there once the case exists. The case stage
   indexes every case under its own id (a :data:`CASE_ID_LINK` entry keyed by the case id, sent
   with the referral); a contribution naming a case id with no such entry (a typo, or advice
   that arrived before the referral) is parked (``NO_MATCHING_CASE``) and released when the
   entry arrives, exactly like advice for a child with no case yet.
2. Otherwise match the child: the contribution is keyed by its strongest identifier (NHS number,
   then UPN, ULN, LA child id) and compared with the routing index built from referrals.
   - An NHS number has a national Modulus 11 check digit and is unique, so it matches alone; if
     the sender also gives a date of birth it must agree.
   - Any other identifier also needs the date of birth, and it must agree.
   - Exactly one open case: routed. More than one open case: ``AMBIGUOUS_MATCH``, unrouted.
   - No case yet: parked (``NO_MATCHING_CASE``) and applied when the case appears, because
     agencies do not send in order. It is reported unrouted meanwhile; nothing is dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from ehcp.identifiers import NHS_NUMBER_SYSTEM

#: The ``identifier_system`` of the routing-index entry that says a case id exists (keyed by the
#: case id itself, not a child key; it is never a child identifier).
CASE_ID_LINK: Final = "https://ehcp-exchange.org/Id/case-id"

#: Namespace of the event ids of advice routed by hand (the connectors' event namespace, so the
#: ids stay those the workspace gave before the routing stage did the re-publishing).
_HAND_ROUTED: Final = uuid.UUID("6b1f4a53-2f0e-4e0c-9d43-7d4b1d1c7e21")


def hand_routed_event_id(unrouted_event_id: str, case_id: str) -> str:
    """The event id of advice a person routed into ``case_id``: one event however often the same
    queued contribution is routed to the same case."""
    return str(uuid.uuid5(_HAND_ROUTED, f"routed-by-hand|{unrouted_event_id}|{case_id}"))


class UnroutedReason(StrEnum):
    """Why a contribution is not (yet) in a case (symbols of the Avro UnroutedReason enum)."""

    NO_MATCHING_CASE = "NO_MATCHING_CASE"
    AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"
    DATE_OF_BIRTH_MISMATCH = "DATE_OF_BIRTH_MISMATCH"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class CaseLink:
    """A routing index entry: this child identifier belongs to this case."""

    case_id: str
    identifier_system: str
    date_of_birth: date
    case_open: bool = True


@dataclass(frozen=True, slots=True)
class Routed:
    """The contribution belongs to ``case_id``."""

    case_id: str


@dataclass(frozen=True, slots=True)
class NotRouted:
    """The contribution is not routed; ``park`` says whether to retry when a case appears."""

    reason: UnroutedReason
    detail: str
    park: bool


Decision = Routed | NotRouted


def route_by_case_id(case_id: str, links: list[CaseLink]) -> Decision:
    """Decide where a contribution naming ``case_id`` goes, from the links under that case id."""
    if any(link.identifier_system == CASE_ID_LINK and link.case_id == case_id for link in links):
        return Routed(case_id)
    return NotRouted(
        UnroutedReason.NO_MATCHING_CASE, "no case with this case id has been referred yet; parked",
        park=True,
    )


def route_by_child(
    identifier_system: str | None, date_of_birth: date | None, links: list[CaseLink]
) -> Decision:
    """Decide where a contribution without a case id goes, from the links under its child key."""
    if identifier_system is None:
        return NotRouted(
            UnroutedReason.OTHER, "no case id and no known child identifier", park=False
        )
    if identifier_system != NHS_NUMBER_SYSTEM and date_of_birth is None:
        return NotRouted(
            UnroutedReason.OTHER,
            "identifiers other than the NHS number need the date of birth to match",
            park=False,
        )
    open_links = [
        link for link in links if link.case_open and link.identifier_system == identifier_system
    ]
    if not open_links:
        return NotRouted(
            UnroutedReason.NO_MATCHING_CASE, "no open case for this child yet; parked", park=True
        )
    if date_of_birth is not None:
        agreeing = [link for link in open_links if link.date_of_birth == date_of_birth]
        if not agreeing:
            return NotRouted(
                UnroutedReason.DATE_OF_BIRTH_MISMATCH,
                "the date of birth does not agree with the case",
                park=False,
            )
        open_links = agreeing
    case_ids = sorted({link.case_id for link in open_links})
    if len(case_ids) > 1:
        return NotRouted(
            UnroutedReason.AMBIGUOUS_MATCH,
            f"{len(case_ids)} open cases match this child",
            park=False,
        )
    return Routed(case_ids[0])


def add_link(links: list[CaseLink], link: CaseLink) -> list[CaseLink]:
    """The index entries after ``link`` (idempotent; a newer entry for a case replaces the old)."""
    kept = [
        existing
        for existing in links
        if not (
            existing.case_id == link.case_id
            and existing.identifier_system == link.identifier_system
        )
    ]
    return [*kept, link]
