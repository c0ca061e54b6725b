"""The routing stage over contract records: route, park, release, report; never drop."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ehcp.contract.avro import default_codec
from ehcp.contract.records import ADVICE_SUBMITTED, CASE_CHILD_LINKED, UNROUTED_DECIDED
from ehcp.contract.topics import ALERTS, CONTRIBUTIONS, CONTRIBUTIONS_ROUTED, UNROUTED
from ehcp.identifiers import NHS_NUMBER_SYSTEM
from ehcp.routing import CASE_ID_LINK, hand_routed_event_id
from streams.stages.routing import RoutingProcessor

NHS = "9434765919"
KEY = "child:abc"


def contribution(cid: str = "urn:uuid:1", case_id: str | None = None) -> dict[str, Any]:
    """Medical advice naming only the child's NHS number (or a case)."""
    return {
        "event_id": f"e-{cid}",
        "contribution_id": cid,
        "case_id": case_id,
        "request_id": None,
        "child_identifiers": [{"system": NHS_NUMBER_SYSTEM, "value": NHS}],
        "child_date_of_birth": None,
        "advice_type": "MEDICAL",
        "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "ZZ901"},
        "submitted_at": datetime(2026, 11, 2, 10, tzinfo=UTC),
        "channel": "FHIR",
        "document": None,
    }


def linked(case_id: str = "EHC-1") -> dict[str, Any]:
    """A routing-index entry for the child."""
    return {
        "event_id": f"l-{case_id}",
        "case_id": case_id,
        "identifier_system": NHS_NUMBER_SYSTEM,
        "date_of_birth": date(2016, 3, 14),
        "linked_at": datetime(2026, 10, 1, tzinfo=UTC),
        "case_open": True,
    }


def case_linked(case_id: str = "EHC-9") -> dict[str, Any]:
    """The routing-index entry the case stage sends under the case id when the case is referred."""
    return {**linked(case_id), "event_id": f"id-{case_id}", "identifier_system": CASE_ID_LINK}


def test_contribution_naming_a_case_is_routed_straight_there() -> None:
    """A contribution with the id of a referred case goes to the routed topic keyed by that case."""
    stage = RoutingProcessor(default_codec())
    indexed = stage.handle(None, "EHC-9", CASE_CHILD_LINKED, case_linked("EHC-9"))
    result = stage.handle(indexed.state, "EHC-9", ADVICE_SUBMITTED, contribution(case_id="EHC-9"))
    assert [(t, k) for t, k, _, _ in result.outputs] == [(CONTRIBUTIONS_ROUTED, "EHC-9")]


def test_contribution_naming_an_unknown_case_is_parked_with_an_alert_and_released_by_its_referral() -> None:
    """No case with that id: parked (NO_MATCHING_CASE) with a WARNING alert, no phantom case; the referral's entry releases it."""
    stage = RoutingProcessor(default_codec())
    first = stage.handle(None, "EHC-404", ADVICE_SUBMITTED, contribution(case_id="EHC-404"))
    assert [t for t, _, _, _ in first.outputs] == [UNROUTED, ALERTS]
    unrouted, alert = first.outputs[0][2], first.outputs[1][2]
    assert (unrouted["reason"], unrouted["parked"]) == ("NO_MATCHING_CASE", True)
    assert "case id" in unrouted["detail"]
    assert (alert["kind"], alert["status"], alert["severity"]) == (
        "CONTRIBUTION_UNROUTED", "RAISED", "WARNING")
    assert [p["contribution_id"] for p in first.state["parked"]] == ["urn:uuid:1"]
    other = stage.handle(first.state, "EHC-404", CASE_CHILD_LINKED, case_linked("EHC-405"))
    assert other.outputs == []
    released = stage.handle(other.state, "EHC-404", CASE_CHILD_LINKED, case_linked("EHC-404"))
    assert [(t, k) for t, k, _, _ in released.outputs] == [
        (CONTRIBUTIONS_ROUTED, "EHC-404"), (ALERTS, "EHC-404")]
    assert released.outputs[1][2]["status"] == "RESOLVED"
    assert released.state["parked"] == []


def test_early_contribution_is_parked_then_released_when_its_case_appears() -> None:
    """Advice before its case is parked and reported; the index entry releases it into the case."""
    stage = RoutingProcessor(default_codec())
    first = stage.handle(None, KEY, ADVICE_SUBMITTED, contribution())
    assert [t for t, _, _, _ in first.outputs] == [UNROUTED, ALERTS]
    assert first.outputs[0][2]["parked"] is True
    assert first.outputs[1][2]["status"] == "RAISED"
    assert len(first.state["parked"]) == 1

    again = stage.handle(first.state, KEY, ADVICE_SUBMITTED, contribution())
    assert again.outputs == [], "a repeat of a parked contribution changes nothing"

    released = stage.handle(first.state, KEY, CASE_CHILD_LINKED, linked())
    routed = [o for o in released.outputs if o[0] == CONTRIBUTIONS_ROUTED]
    assert [(k, r["case_id"], r["contribution_id"]) for _, k, r, _ in routed] == [
        ("EHC-1", "EHC-1", "urn:uuid:1")
    ]
    resolved = [o for o in released.outputs if o[0] == ALERTS]
    assert resolved[0][2]["status"] == "RESOLVED"
    assert resolved[0][2]["alert_id"] == first.outputs[1][2]["alert_id"]
    assert released.state["parked"] == []


def test_contribution_after_its_case_is_routed_by_nhs_number() -> None:
    """Once the index knows the child, advice naming only the NHS number joins the case."""
    stage = RoutingProcessor(default_codec())
    state = stage.handle(None, KEY, CASE_CHILD_LINKED, linked()).state
    result = stage.handle(state, KEY, ADVICE_SUBMITTED, contribution("urn:uuid:2"))
    assert [(t, k) for t, k, _, _ in result.outputs] == [(CONTRIBUTIONS_ROUTED, "EHC-1")]


def test_ambiguous_contribution_is_reported_not_parked() -> None:
    """Two open cases for the child: the contribution is reported unrouted with the reason."""
    stage = RoutingProcessor(default_codec())
    state = stage.handle(None, KEY, CASE_CHILD_LINKED, linked("EHC-1")).state
    state = stage.handle(state, KEY, CASE_CHILD_LINKED, linked("EHC-2")).state
    result = stage.handle(state, KEY, ADVICE_SUBMITTED, contribution("urn:uuid:3"))
    unrouted = result.outputs[0][2]
    assert unrouted["reason"] == "AMBIGUOUS_MATCH"
    assert unrouted["parked"] is False
    assert result.outputs[1][2]["severity"] == "CRITICAL"
    assert result.state["parked"] == []


def decided(decision: str = "ROUTED", case_id: str | None = "EHC-7",
            cid: str = "urn:uuid:1") -> dict[str, Any]:
    """A person's UnroutedDecided on the queued contribution ``cid``."""
    return {"event_id": f"d-{cid}", "unrouted_event_id": f"u-{cid}", "decision": decision,
            "case_id": case_id, "decided_by": "user-1",
            "decided_at": datetime(2026, 11, 3, 9, tzinfo=UTC), "contribution": contribution(cid)}


def _parked_for_a_child_with_no_case() -> tuple[RoutingProcessor, dict[str, Any]]:
    stage = RoutingProcessor(default_codec())
    first = stage.handle(None, KEY, ADVICE_SUBMITTED, contribution())
    assert [p["contribution_id"] for p in first.state["parked"]] == ["urn:uuid:1"]
    return stage, first.state


def test_routed_by_hand_is_republished_to_its_case_and_its_alert_resolved() -> None:
    """The decision takes the contribution out of the parked list, sends it with the case id
    (keyed by the case, routed like advice naming its case) and resolves the unrouted alert."""
    stage, parked = _parked_for_a_child_with_no_case()
    raised = stage.handle(None, KEY, ADVICE_SUBMITTED, contribution()).outputs[1][2]
    result = stage.handle(parked, KEY, UNROUTED_DECIDED, decided())
    assert [(t, k) for t, k, _, _ in result.outputs] == [(CONTRIBUTIONS, "EHC-7"), (ALERTS, KEY)]
    advice, alert = result.outputs[0][2], result.outputs[1][2]
    assert advice["case_id"] == "EHC-7"
    assert advice["event_id"] == hand_routed_event_id("u-urn:uuid:1", "EHC-7")
    assert (alert["alert_id"], alert["status"]) == (raised["alert_id"], "RESOLVED")
    assert "routed by hand to case EHC-7" in alert["message"]
    assert result.state["parked"] == []
    default_codec().encode(UNROUTED_DECIDED, decided())  # the record fits its schema


def test_after_a_decision_the_case_appearing_routes_and_alerts_nothing() -> None:
    """The child's case appears later: nothing is released again, no alert; a repeat of the
    decision or of the contribution changes nothing either."""
    stage, parked = _parked_for_a_child_with_no_case()
    done = stage.handle(parked, KEY, UNROUTED_DECIDED, decided())
    appeared = stage.handle(done.state, KEY, CASE_CHILD_LINKED, linked("EHC-1"))
    assert appeared.outputs == []
    assert stage.handle(appeared.state, KEY, UNROUTED_DECIDED, decided()).outputs == []
    again = stage.handle(appeared.state, KEY, ADVICE_SUBMITTED, contribution())
    assert (again.outputs, again.summary) == ([], "already settled")
    other = stage.handle(appeared.state, KEY, ADVICE_SUBMITTED, contribution("urn:uuid:2"))
    assert [(t, k) for t, k, _, _ in other.outputs] == [(CONTRIBUTIONS_ROUTED, "EHC-1")]


def test_a_decision_after_the_case_released_it_is_not_routed_twice() -> None:
    """Released when its case appeared, then routed by hand from a stale queue: it stays once."""
    stage, parked = _parked_for_a_child_with_no_case()
    released = stage.handle(parked, KEY, CASE_CHILD_LINKED, linked("EHC-1"))
    assert [t for t, _, _, _ in released.outputs] == [CONTRIBUTIONS_ROUTED, ALERTS]
    late = stage.handle(released.state, KEY, UNROUTED_DECIDED, decided())
    assert (late.outputs, late.summary) == ([], "already settled")


def test_discarded_by_hand_resolves_the_alert_and_routes_nothing() -> None:
    """A discard resolves the alert and forgets the parked contribution, sending no advice."""
    stage, parked = _parked_for_a_child_with_no_case()
    result = stage.handle(parked, KEY, UNROUTED_DECIDED, decided("DISCARDED", None))
    assert [(t, r["status"]) for t, _, r, _ in result.outputs] == [(ALERTS, "RESOLVED")]
    assert result.state["parked"] == []
    assert stage.handle(result.state, KEY, CASE_CHILD_LINKED, linked("EHC-1")).outputs == []


def test_a_not_parked_contribution_routed_by_hand_is_sent_to_its_case() -> None:
    """An ambiguous match is not parked; the person's decision still routes it and resolves."""
    stage = RoutingProcessor(default_codec())
    state: dict[str, Any] | None = None
    for case_id in ("EHC-1", "EHC-2"):
        state = stage.handle(state, KEY, CASE_CHILD_LINKED, linked(case_id)).state
    ambiguous = stage.handle(state, KEY, ADVICE_SUBMITTED, contribution())
    assert ambiguous.outputs[0][2]["reason"] == "AMBIGUOUS_MATCH"
    result = stage.handle(ambiguous.state, KEY, UNROUTED_DECIDED, decided(case_id="EHC-2"))
    assert [(t, k) for t, k, _, _ in result.outputs] == [(CONTRIBUTIONS, "EHC-2"), (ALERTS, KEY)]


def test_a_decision_without_its_case_or_of_an_unknown_kind_is_refused() -> None:
    """ROUTED without a case id, or a decision symbol this version does not know: bad data."""
    import pytest

    from ehcp.errors import ContractError

    stage, parked = _parked_for_a_child_with_no_case()
    for bad in (decided(case_id=None), decided("UNKNOWN")):
        with pytest.raises(ContractError):
            stage.handle(parked, KEY, UNROUTED_DECIDED, bad)
