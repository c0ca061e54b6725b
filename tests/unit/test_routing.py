"""Routing contributions to cases: the pure matching rules (ehcp.routing)."""

from __future__ import annotations

from datetime import date

import pytest

from ehcp.identifiers import LA_CHILD_ID_SYSTEM, NHS_NUMBER_SYSTEM, UPN_SYSTEM
from ehcp.routing import CaseLink, NotRouted, Routed, UnroutedReason, add_link, route_by_child

DOB = date(2016, 3, 14)


def link(
    case_id: str, system: str = NHS_NUMBER_SYSTEM, dob: date = DOB, open_: bool = True
) -> CaseLink:
    """An index entry for the test child."""
    return CaseLink(case_id, system, dob, open_)


def test_nhs_number_alone_routes_to_the_one_open_case() -> None:
    """An NHS number without a date of birth matches its single open case."""
    assert route_by_child(NHS_NUMBER_SYSTEM, None, [link("C1")]) == Routed("C1")


def test_date_of_birth_must_agree_when_given() -> None:
    """A date of birth that disagrees with the case is refused, not routed."""
    decision = route_by_child(NHS_NUMBER_SYSTEM, date(2016, 3, 15), [link("C1")])
    assert isinstance(decision, NotRouted)
    assert decision.reason is UnroutedReason.DATE_OF_BIRTH_MISMATCH
    assert not decision.park


def test_weaker_identifiers_need_the_date_of_birth() -> None:
    """A UPN or LA child id without a date of birth is not enough to route."""
    decision = route_by_child(UPN_SYSTEM, None, [link("C1", UPN_SYSTEM)])
    assert isinstance(decision, NotRouted)
    assert decision.reason is UnroutedReason.OTHER
    assert route_by_child(UPN_SYSTEM, DOB, [link("C1", UPN_SYSTEM)]) == Routed("C1")


def test_no_case_yet_parks_the_contribution() -> None:
    """With no open case for the child, the contribution is parked to wait for it."""
    decision = route_by_child(NHS_NUMBER_SYSTEM, None, [link("C0", open_=False)])
    assert decision == NotRouted(
        UnroutedReason.NO_MATCHING_CASE, "no open case for this child yet; parked", park=True
    )


def test_two_open_cases_are_ambiguous() -> None:
    """Two open cases for one child make the match ambiguous: unrouted, not guessed."""
    decision = route_by_child(NHS_NUMBER_SYSTEM, None, [link("C1"), link("C2")])
    assert isinstance(decision, NotRouted)
    assert decision.reason is UnroutedReason.AMBIGUOUS_MATCH


def test_links_of_another_identifier_system_do_not_match() -> None:
    """An index entry made from an LA child id does not route an NHS-number contribution."""
    decision = route_by_child(NHS_NUMBER_SYSTEM, None, [link("C1", LA_CHILD_ID_SYSTEM)])
    assert isinstance(decision, NotRouted)


@pytest.mark.parametrize("repeat", [1, 3])
def test_add_link_is_idempotent(repeat: int) -> None:
    """Adding the same link again keeps one entry; a newer entry for the case replaces the old."""
    links: list[CaseLink] = []
    for _ in range(repeat):
        links = add_link(links, link("C1"))
    assert links == [link("C1")]
    assert add_link(links, link("C1", open_=False)) == [link("C1", open_=False)]
