"""The routing stage: contributions and routing-index entries in, routed/unrouted records out.

Pure (no Kafka, Faust or logging): the agent passes the routing state stored under a child key and
one decoded record, and sends what comes back. See :mod:`ehcp.routing` for the matching rules.

The state under a key is the routing-index entries sent there, the contributions parked
there, and the contributions settled there (``settled``: released to their case, or decided by
a person), so a settled contribution is never routed or alerted again.

A person's decision on an unrouted contribution (``UnroutedDecided``, from the workspace's
unrouted queue) arrives on the contributions topic under the key of its ``ContributionUnrouted``,
that is, where the contribution is parked: the stage takes it out of the parked list, resolves its
``CONTRIBUTION_UNROUTED`` alert and, for ``ROUTED``, re-publishes the advice with the chosen case
id (keyed by the case id, so it is routed like advice naming its case). A contribution already
released when its case appeared is left alone: it is in its case once.

A child key holds the cases of that child; a case id holds the case's own
:data:`~ehcp.routing.CASE_ID_LINK` entry, so a contribution naming a case id that does not
exist (yet) is parked under the case id and released when the case's referral indexes it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ehcp.contract.avro import AvroCodec
from ehcp.contract.keys import identifiers_of, strongest_identifier
from ehcp.contract.records import ADVICE_SUBMITTED, CASE_CHILD_LINKED, UNROUTED_DECIDED, Emit
from ehcp.contract.topics import ALERTS, CONTRIBUTIONS, CONTRIBUTIONS_ROUTED, UNROUTED
from ehcp.errors import ContractError
from ehcp.routing import (
    CaseLink,
    NotRouted,
    Routed,
    UnroutedReason,
    add_link,
    hand_routed_event_id,
    route_by_case_id,
    route_by_child,
)

#: Settled contributions remembered per key (the newest): enough for every contribution about
#: one child, while the state stays small.
MAX_SETTLED = 500


def _settled_id(record: Mapping[str, Any]) -> str:
    """What identifies a contribution in ``settled``: the sender and its contribution id."""
    return f"{record['agency']['value']}|{record['contribution_id']}"


def _settle(state: Mapping[str, Any], *records: Mapping[str, Any]) -> list[str]:
    settled = [s for s in state.get("settled", []) if s not in {_settled_id(r) for r in records}]
    return [*settled, *(_settled_id(r) for r in records)][-MAX_SETTLED:]


@dataclass(frozen=True, slots=True)
class RoutingResult:
    """What the routing stage decided for one input."""

    state: dict[str, Any]
    outputs: list[Emit]
    summary: str


def _links(state: Mapping[str, Any]) -> list[CaseLink]:
    return [
        CaseLink(
            e["case_id"],
            e["identifier_system"],
            date.fromisoformat(e["date_of_birth"]),
            e["case_open"],
        )
        for e in state.get("links", [])
    ]


def _unrouted_alert(record: Mapping[str, Any], decision: NotRouted, status: str) -> dict[str, Any]:
    contribution_id = record["contribution_id"]
    alert_id = str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"unrouted|{record['agency']['value']}|{contribution_id}")
    )
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{alert_id}|{status}")),
        "alert_id": alert_id,
        "case_id": None,
        "kind": "CONTRIBUTION_UNROUTED",
        "status": status,
        "severity": "WARNING" if decision.park else "CRITICAL",
        "advice_type": record["advice_type"],
        "agency": dict(record["agency"]),
        "due_on": None,
        "days_overdue": 0,
        "regulation": "reg 6(1)",
        "message": f"{record['advice_type'].lower().replace('_', ' ')} advice {contribution_id} "
        f"is not in a case: {decision.detail}",
        "as_of": record["submitted_at"].date(),
    }


def decide(record: Mapping[str, Any], links: list[CaseLink]) -> Routed | NotRouted:
    """Where one ``AdviceSubmitted`` record goes, given the index entries under its child key."""
    if record.get("case_id"):
        return route_by_case_id(record["case_id"], links)
    best = strongest_identifier(identifiers_of(record.get("child_identifiers", [])))
    return route_by_child(best.system if best else None, record.get("child_date_of_birth"), links)


class RoutingProcessor:
    """Routes contributions to cases using the routing index kept per child key."""

    def __init__(self, codec: AvroCodec) -> None:
        self._codec = codec

    def handle(
        self, state: Mapping[str, Any] | None, key: str, name: str, record: dict[str, Any]
    ) -> RoutingResult:
        """Fold one input (a contribution or an index entry) into the routing state."""
        current: dict[str, Any] = {"links": [], "parked": []} if state is None else dict(state)
        if name == CASE_CHILD_LINKED:
            return self._on_link(current, record)
        if name == ADVICE_SUBMITTED:
            return self._on_contribution(current, key, record)
        if name == UNROUTED_DECIDED:
            return self._on_decision(current, key, record)
        raise ContractError(f"the routing stage does not take {name}")

    def _on_decision(self, state: dict[str, Any], key: str,
                     record: dict[str, Any]) -> RoutingResult:
        """A person routed (or discarded) an unrouted contribution: settle it once."""
        contribution = record["contribution"]
        decision, case_id = str(record["decision"]), str(record.get("case_id") or "")
        if decision not in ("ROUTED", "DISCARDED") or (decision == "ROUTED" and not case_id):
            raise ContractError(f"an unrouted decision {decision} without what it needs")
        if _settled_id(contribution) in state.get("settled", []):
            return RoutingResult(state, [], "already settled")
        outputs: list[Emit] = []
        if decision == "ROUTED" and case_id:
            routed = {**contribution, "case_id": case_id,
                      "event_id": hand_routed_event_id(record["unrouted_event_id"], case_id)}
            outputs.append(Emit(CONTRIBUTIONS, case_id, routed, case_id))
            detail = f"routed by hand to case {case_id}"
        else:
            detail = "discarded by hand"
        resolved = _unrouted_alert(
            contribution, NotRouted(UnroutedReason.OTHER, detail, park=True), "RESOLVED")
        outputs.append(Emit(ALERTS, key, resolved, contribution["contribution_id"]))
        parked = [p for p in state["parked"]
                  if p["contribution_id"] != contribution["contribution_id"]]
        new_state = {**state, "parked": parked, "settled": _settle(state, contribution)}
        return RoutingResult(new_state, outputs, f"decided by hand: {decision.lower()}")

    def _on_contribution(
        self, state: dict[str, Any], key: str, record: dict[str, Any]
    ) -> RoutingResult:
        if _settled_id(record) in state.get("settled", []):
            # Released to its case or decided by a person already: a repeat changes nothing.
            return RoutingResult(state, [], "already settled")
        decision = decide(record, _links(state))
        if isinstance(decision, Routed):
            routed = {**record, "case_id": decision.case_id}
            return RoutingResult(
                state,
                [Emit(CONTRIBUTIONS_ROUTED, decision.case_id, routed, decision.case_id)],
                "routed",
            )
        if any(p["contribution_id"] == record["contribution_id"] for p in state["parked"]):
            return RoutingResult(state, [], "already parked")
        outputs: list[Emit] = [
            Emit(
                UNROUTED,
                key,
                {
                    "event_id": str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"unrouted|{record['event_id']}")
                    ),
                    "reason": decision.reason.value,
                    "detail": decision.detail,
                    "parked": decision.park,
                    "contribution": record,
                },
                record["contribution_id"],
            ),
            Emit(
                ALERTS,
                key,
                _unrouted_alert(record, decision, "RAISED"),
                record["contribution_id"],
            ),
        ]
        if decision.park:
            raw = self._codec.encode(ADVICE_SUBMITTED, record)
            state = {
                **state,
                "parked": [
                    *state["parked"],
                    {
                        "contribution_id": record["contribution_id"],
                        "avro": base64.b64encode(raw).decode(),
                    },
                ],
            }
        return RoutingResult(state, outputs, decision.reason.value.lower())

    def _on_link(self, state: dict[str, Any], record: dict[str, Any]) -> RoutingResult:
        link = CaseLink(
            record["case_id"],
            record["identifier_system"],
            record["date_of_birth"],
            record["case_open"],
        )
        links = add_link(_links(state), link)
        outputs: list[Emit] = []
        still_parked = []
        released_records: list[dict[str, Any]] = []
        for parked in state["parked"]:
            _, contribution = self._codec.decode(base64.b64decode(parked["avro"]), ADVICE_SUBMITTED)
            decision = decide(contribution, links)
            if isinstance(decision, Routed):
                routed = {**contribution, "case_id": decision.case_id}
                outputs.append(
                    Emit(CONTRIBUTIONS_ROUTED, decision.case_id, routed, decision.case_id)
                )
                parked_decision = NotRouted(
                    UnroutedReason.NO_MATCHING_CASE, "routed once its case appeared", park=True
                )
                outputs.append(
                    Emit(
                        ALERTS,
                        decision.case_id,
                        _unrouted_alert(contribution, parked_decision, "RESOLVED"),
                        decision.case_id,
                    )
                )
                released_records.append(contribution)
            else:
                still_parked.append(parked)
        new_state = {
            "links": [
                {
                    "case_id": e.case_id,
                    "identifier_system": e.identifier_system,
                    "date_of_birth": e.date_of_birth.isoformat(),
                    "case_open": e.case_open,
                }
                for e in links
            ],
            "parked": still_parked,
        }
        if released_records or state.get("settled"):
            new_state["settled"] = _settle(state, *released_records)
        released = len(state["parked"]) - len(still_parked)
        return RoutingResult(new_state, outputs, f"linked; released {released}")
