"""The contract's record names, the ``Emit`` a stage returns, and builders shared by producers.

Every Avro record name (``org.ehcpexchange.events.*``) is spelled here once; the topic
catalogue, the stages and the connectors import it from here. A stage says what to send as
:class:`Emit` values (topic spec, key, record, CloudEvents subject), so the agent sends to the
spec it is given instead of looking a topic name up again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ehcp.casework.events import ADVICE_REGULATION, AdviceType
from ehcp.casework.rules.advice import advice_due_on
from ehcp.errors import ContractError

if TYPE_CHECKING:
    from ehcp.contract.topics import TopicSpec

NS: Final = "org.ehcpexchange.events"

REFERRAL_RECEIVED: Final = f"{NS}.ReferralReceived"
ADVICE_REQUESTED: Final = f"{NS}.AdviceRequested"
CASEWORK_EVENT_RECORDED: Final = f"{NS}.CaseworkEventRecorded"
TASK_STATUS_CHANGED: Final = f"{NS}.TaskStatusChanged"
ADVICE_SUBMITTED: Final = f"{NS}.AdviceSubmitted"
CASE_CHILD_LINKED: Final = f"{NS}.CaseChildLinked"
CONTRIBUTION_UNROUTED: Final = f"{NS}.ContributionUnrouted"
CASE_TICK: Final = f"{NS}.CaseTick"
CASE_STATUS: Final = f"{NS}.CaseStatus"
ALERT: Final = f"{NS}.Alert"
ACCESS_REFUSED: Final = f"{NS}.AccessRefused"
RECORD_READ: Final = f"{NS}.RecordRead"
ACTION_TAKEN: Final = f"{NS}.ActionTaken"
UNROUTED_DECIDED: Final = f"{NS}.UnroutedDecided"
ADVICE_REMINDER_SENT: Final = f"{NS}.AdviceReminderSent"


class Emit(NamedTuple):
    """One record a stage wants sent: where, under which key, what, and its CloudEvents subject."""

    topic: TopicSpec
    key: str
    record: dict[str, Any]
    subject: str


class RefusedError(ContractError):
    """A stage refuses a record (it is dead-lettered) and has records to send about it.

    The agent sends ``emits`` (an alert for monitoring staff) before dead-lettering the input,
    so the refusal is both kept (the dead letter, with this error's message as its reason) and
    seen (the alert).

    Attributes:
        emits: what to send about the refusal; deterministic ids, so a replay repeats them.
    """

    def __init__(self, message: str, emits: Sequence[Emit]) -> None:
        super().__init__(message)
        self.emits = list(emits)


def short_name(name: str) -> str:
    """A record's name without its namespace, e.g. ``AdviceSubmitted`` (for logs and errors)."""
    return name.rsplit(".", 1)[-1]


def advice_requested(
    *,
    event_id: str,
    request_id: str,
    case_id: str,
    advice_type: str,
    agency: Mapping[str, str],
    child_identifiers: Sequence[Mapping[str, str]],
    sent_on: date,
    requester: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ``AdviceRequested`` record: the regulation and the 6-week due date follow the type.

    Both the case stage (requests sent at referral) and the education connector (requests an
    LA sends itself) build it here, so the two cannot drift apart. ``requester`` is the local
    authority asking (an Identifier in the LA code system), when known.
    """
    return {
        "event_id": event_id,
        "request_id": request_id,
        "case_id": case_id,
        "advice_type": advice_type,
        "regulation": ADVICE_REGULATION[AdviceType[advice_type]],
        "agency": dict(agency),
        "child_identifiers": [dict(i) for i in child_identifiers],
        "sent_on": sent_on,
        "due_on": advice_due_on(sent_on),
        "requester": dict(requester) if requester is not None else None,
        "part_of": None,
        "service": None,
    }
