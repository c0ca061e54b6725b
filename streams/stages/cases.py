"""The case stage: contract records in, the case's state and its consequences out (pure).

The ``process_cases`` agent hands it the case's stored state and one decoded record; it returns
the new state and the records to send. The stored state keeps each accepted input as its
casework event (:mod:`streams.stages.case_store`) plus the alerts already raised; every
evaluation calls :func:`ehcp.casework.engine.evaluate`, the same function ``ehcp case explain``
uses. Mapping records to casework is :mod:`streams.stages.case_mapping`; what a case sends is
:mod:`streams.stages.case_outputs`.

Idempotent: an input whose event id (or contribution id) was already applied changes nothing,
and every output has a deterministic event id, so a replay after a crash repeats nothing new.

Event time, not processing time: a case is evaluated as of the latest event date it has seen (a
``CaseTick`` from the alert timer moves it forward), so replaying the same events gives the
same dates and alerts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from ehcp.casework import events as ev
from ehcp.casework.engine import evaluate
from ehcp.casework.model import CaseAssessment
from ehcp.casework.policy import Policy
from ehcp.contract.avro import AvroCodec, default_codec
from ehcp.contract.records import (
    ADVICE_REQUESTED,
    ADVICE_SUBMITTED,
    CASE_TICK,
    CASEWORK_EVENT_RECORDED,
    REFERRAL_RECEIVED,
    TASK_STATUS_CHANGED,
    Emit,
    RefusedError,
    short_name,
)
from ehcp.contract.topics import ADVICE_REQUESTS
from ehcp.errors import CaseworkError, ContractError
from ehcp.identifiers import LA_CODE_SYSTEM
from streams.stages import case_outputs, case_store
from streams.stages.case_mapping import ACCEPTED, event_date, to_casework_event


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What one input did to a case."""

    state: dict[str, Any]
    changed: bool
    outputs: list[Emit] = field(default_factory=list)
    next_due: date | None = None


#: Cases whose stored inputs the processor keeps parsed, most recently used first out last.
PARSED_CASES = 4096


class CaseProcessor:
    """Folds contract records into a case and works out what follows.

    It keeps the parsed casework events of the cases it handled last (up to
    :data:`PARSED_CASES`), so an input parses only itself, not every input its case had before.
    A case's stored inputs only grow and each has a unique id, so their count and the last id
    tell whether the parsed list is still the case's.
    """

    def __init__(self, pseudonym_key: bytes, policy: Policy, codec: AvroCodec) -> None:
        self._key = pseudonym_key
        self._policy = policy
        self._codec = codec
        self._parsed: OrderedDict[str, tuple[int, str | None, list[ev.CaseEvent]]] = (
            OrderedDict()
        )

    def _events(self, case_id: str, state: Mapping[str, Any]) -> list[ev.CaseEvent]:
        """The case's casework events, parsed once per input while the case stays cached."""
        inputs = state.get("inputs", [])
        last = inputs[-1]["id"] if inputs else None
        cached = self._parsed.get(case_id)
        if cached is not None and cached[0] == len(inputs) and cached[1] == last:
            self._parsed.move_to_end(case_id)
            return cached[2]
        events = case_store.stored_casework_events(state, self._codec)
        self._remember(case_id, inputs, events)
        return events

    def _remember(
        self, case_id: str, inputs: list[dict[str, Any]], events: list[ev.CaseEvent]
    ) -> None:
        self._parsed[case_id] = (len(inputs), inputs[-1]["id"] if inputs else None, events)
        self._parsed.move_to_end(case_id)
        if len(self._parsed) > PARSED_CASES:
            self._parsed.popitem(last=False)

    def _assess_case(self, case_id: str, state: Mapping[str, Any]) -> CaseAssessment | None:
        events = self._events(case_id, state)
        if not events:
            return None
        return evaluate(list(events), date.fromisoformat(state["as_of"]), self._policy)

    @classmethod
    def default(cls, pseudonym_key: bytes) -> CaseProcessor:
        """A processor with the default policy and the project's schemas."""
        return cls(pseudonym_key, Policy(), default_codec())

    def casework_events(self, state: Mapping[str, Any]) -> list[ev.CaseEvent]:
        """The case's inputs as casework events (what ``ehcp case explain`` would be given)."""
        return case_store.stored_casework_events(state, self._codec)

    def assess(self, state: Mapping[str, Any]) -> CaseAssessment | None:
        """Evaluate the case as of its latest event date (None before any casework event)."""
        events = self.casework_events(state)
        if not events:
            return None
        return evaluate(events, date.fromisoformat(state["as_of"]), self._policy)

    def next_due(self, state: Mapping[str, Any]) -> date | None:
        """The next date on which the case's alerts change with no new event.

        Stored with the case since each input works it out (``next_due``); only a case stored
        before then is evaluated for it.
        """
        if "next_due" in state:
            return date.fromisoformat(state["next_due"]) if state["next_due"] else None
        assessment = self.assess(state)
        return assessment.next_change_on if assessment else None

    def on_event(
        self, state: Mapping[str, Any] | None, case_id: str, name: str, record: dict[str, Any]
    ) -> CaseOutcome:
        """Apply one record to the case and return the new state and the records to send.

        Raises:
            ContractError: a record of another type, for another case than its key, recorded
                by another LA than the case's, or one the casework domain refuses.
            RefusedError: advice an LA submitted for another LA's case, or a request's status
                changed by another body than the one it was sent to (carries its alert).
        """
        if name not in ACCEPTED:
            raise ContractError(f"the case stage does not take {name}")
        if not record.get("case_id") or record.get("case_id") != case_id:
            raise ContractError("the record's case id does not match its Kafka key")
        current: dict[str, Any] = dict(state or case_store.new_case())
        dedupe_id = record.get("contribution_id") or record["event_id"]
        if dedupe_id in current["seen"]:
            return CaseOutcome(current, changed=False, next_due=self.next_due(current))
        if name == CASEWORK_EVENT_RECORDED:
            self._check_la(current, record["recorded_by"], "casework event recorded")
        if name == ADVICE_SUBMITTED:
            self._check_advice_agency(current, case_id, record)
        if name == TASK_STATUS_CHANGED:
            self._check_request_owner(current, case_id, record)
        event_day = event_date(name, record)
        as_of = max(
            filter(None, [current["as_of"] and date.fromisoformat(current["as_of"]), event_day])
        )
        current["as_of"] = as_of.isoformat()
        current["seen"] = [*current["seen"], dedupe_id]
        event: ev.CaseEvent | None = None
        if name != CASE_TICK:
            try:
                event = to_casework_event(name, record)  # fail fast on what the domain refuses
            except CaseworkError as exc:
                raise ContractError(f"{short_name(name)} refused: {exc}") from exc
            if isinstance(event, ev.PlanTransferred):
                self._check_transfer(current, event)
            if event is not None:
                events = self._events(case_id, current)
                current = case_store.with_input(current, dedupe_id, event)
                self._remember(case_id, current["inputs"], [*events, event])
        if name == REFERRAL_RECEIVED and case_store.case_la_code(current, self._codec) is None:
            current["la_code"] = str(record["la_code"])  # the first referral's LA owns the case
        if name == CASEWORK_EVENT_RECORDED and isinstance(event, ev.PlanTransferred):
            # Reg 15(3)(a): from the transfer the new LA maintains the plan; the case, its
            # history and its advice move with it, and only the new LA may record on it.
            current["la_code"] = event.to_la
        outputs: list[Emit] = []
        assessment = self._assess_case(case_id, current)
        if name == REFERRAL_RECEIVED:
            opened = case_outputs.open_case(record, assessment, self._policy, self._key)
            outputs += opened
            current["id_linked"] = True
            if self._apply_own_requests(case_id, current, opened):
                assessment = self._assess_case(case_id, current)
        elif not current.get("id_linked") and case_store.case_la_code(current, self._codec):
            # A case referred before cases were indexed by id: index it on this input (any
            # kind, a timer tick too), so advice naming it is routed, not parked for good.
            received = assessment.received_on if assessment and assessment.received_on else as_of
            outputs.append(
                case_outputs.case_id_link(
                    case_id, received, datetime.combine(received, time(), tzinfo=UTC)
                )
            )
            current["id_linked"] = True
        next_due = assessment.next_change_on if assessment else None
        if assessment is not None:
            outputs += case_outputs.alert_changes(current, assessment)
            outputs.append(case_outputs.status_record(
                current, assessment, case_store.case_la_code(current, self._codec)))
        current["next_due"] = next_due.isoformat() if next_due else None
        return CaseOutcome(current, changed=True, outputs=outputs, next_due=next_due)

    def _check_transfer(self, state: Mapping[str, Any], event: ev.PlanTransferred) -> None:
        """Refuse a transfer from another LA than the case's owner (the recorder is checked too).

        Raises:
            ContractError: the transfer is dead-lettered with this reason.
        """
        owner = case_store.case_la_code(state, self._codec)
        if owner is not None and event.from_la != owner:
            raise ContractError(
                f"plan transfer from LA {event.from_la}, but the case belongs to LA {owner}")

    def _apply_own_requests(
        self, case_id: str, state: dict[str, Any], emits: list[Emit]
    ) -> bool:
        """Fold the advice requests a referral sends into the case at once; True if any.

        They come back on ``ehcp.advice-requests.v1`` (the case stage reads that topic for
        requests sent by others too), where their event ids are then already in ``seen``: the
        read-back changes nothing, sends nothing and stores nothing, instead of one evaluation,
        one case status and one stored state per request. The stored events are the ones the
        read-back would have added (the request record, mapped as when it is read).
        """
        folded = False
        for emit in emits:
            if emit.topic != ADVICE_REQUESTS or emit.record["event_id"] in state["seen"]:
                continue
            request = dict(emit.record)
            event = to_casework_event(ADVICE_REQUESTED, request)
            sent_on = event_date(ADVICE_REQUESTED, request)
            state["as_of"] = max(date.fromisoformat(state["as_of"]), sent_on).isoformat()
            state["seen"] = [*state["seen"], request["event_id"]]
            if event is not None:
                events = self._events(case_id, state)
                state.update(case_store.with_input(state, request["event_id"], event))
                self._remember(case_id, state["inputs"], [*events, event])
            folded = True
        return folded

    def _check_la(self, state: Mapping[str, Any], by: Mapping[str, Any], what: str) -> None:
        """Refuse a record made by another LA than the one that owns the case.

        Only LA codes are compared: a school (URN) may serve children of any LA and a health
        body (ODS code) answers for whichever case it was asked about.

        Raises:
            ContractError: the record is dead-lettered with this reason.
        """
        if by["system"] != LA_CODE_SYSTEM:
            return  # a school recording its own term dates, for example
        owner = case_store.case_la_code(state, self._codec)
        if owner is not None and by["value"] != owner:
            raise ContractError(f"{what} by LA {by['value']}, but the case belongs to LA {owner}")

    def _check_advice_agency(
        self, state: Mapping[str, Any], case_id: str, record: Mapping[str, Any]
    ) -> None:
        """Refuse advice an LA submitted for another LA's case, with an alert for staff.

        Raises:
            RefusedError: dead-lettered with the reason; a CRITICAL ``CONTRIBUTION_UNROUTED``
                alert is sent first.
        """
        try:
            self._check_la(state, record["agency"], "advice submitted")
        except ContractError as exc:
            alert = case_outputs.refused_contribution_alert(case_id, record, str(exc))
            raise RefusedError(str(exc), [alert]) from exc

    def _check_request_owner(
        self, state: Mapping[str, Any], case_id: str, record: Mapping[str, Any]
    ) -> None:
        """Refuse a request's status change made by another body than the one it was sent to.

        The owner of a ``TaskStatusChanged`` is the body that changed the status (its ODS code,
        school URN or LA code); only the body asked may accept, decline or complete a request.
        Codes are compared case-insensitively (ODS codes are upper-cased when stored). A change
        naming a request the case does not hold (yet) is not checked here.

        Raises:
            RefusedError: dead-lettered with the reason; a CRITICAL alert is sent first.
        """
        request_id = record["request_id"]
        asked: ev.AdviceRequested | ev.AdviceDelegated | None = next(
            (e for e in self.casework_events(state)
             if (isinstance(e, ev.AdviceRequested) and e.request_id == request_id)
             or (isinstance(e, ev.AdviceDelegated) and e.part_id == request_id)), None)
        if asked is None:
            return
        owner = record["owner"]
        system, _, value = asked.agency_id.rpartition("|")
        if owner["system"] == system and str(owner["value"]).upper() == value.upper():
            return
        reason = (f"advice request {request_id} was sent to {asked.agency_id}, but its status "
                  f"was changed by {owner['system']}|{owner['value']}")
        advice_type = (asked.advice_type.value if isinstance(asked, ev.AdviceRequested)
                       else ev.AdviceType.MEDICAL.value)
        alert = case_outputs.refused_status_change_alert(case_id, record, advice_type, reason)
        raise RefusedError(reason, [alert])
