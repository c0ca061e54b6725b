"""Which local authority owns each EHC case, so the edge can refuse another LA's case.

The index is rebuilt from ``ehcp.referrals.v1`` at start-up (every process reads the topic from
the beginning, like the Task feed) and then follows it: a case belongs to the LA whose referral
first named it, until that LA transfers the plan to another LA (reg 15: a ``PlanTransferred``
casework event it recorded, read from the casework-events topic). It holds one short entry per
case (case id and a 3-digit LA code).

Only a case the index knows is ever refused. An unknown case is let through, before and after
the feed has caught up: its referral may not have been read yet, or may still be on its way,
and the worker checks ownership again (and dead-letters what the edge could not know).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from connectors.ports import Principal
from connectors.task_feed import ReadRecord, TopicFollower
from ehcp.contract.avro import AvroCodec
from ehcp.contract.records import CASEWORK_EVENT_RECORDED, REFERRAL_RECEIVED
from ehcp.contract.topics import CASEWORK_EVENTS, REFERRALS
from ehcp.errors import AuthError
from ehcp.identifiers import LA_CODE_SYSTEM
from ehcp.settings import Settings


@dataclass
class CaseOwners:
    """Case id -> LA code of the referral that opened the case."""

    owners: dict[str, str] = field(default_factory=dict)
    #: Transfers read before the case's referral (the two topics are not ordered together).
    pending: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def record(self, case_id: str, la_code: str) -> None:
        """Remember the owner of a case; the first referral wins."""
        self.owners.setdefault(case_id, la_code)
        for from_la, to_la in self.pending.pop(case_id, []):
            self.transfer(case_id, from_la, to_la)

    def transfer(self, case_id: str, from_la: str, to_la: str) -> None:
        """Reg 15: the plan moved from ``from_la`` to ``to_la``; only the owner can transfer it.

        A transfer of a case whose referral has not been read yet waits for it.
        """
        owner = self.owners.get(case_id)
        if owner is None:
            self.pending.setdefault(case_id, []).append((from_la, to_la))
        elif owner == from_la:
            self.owners[case_id] = to_la

    def owner(self, case_id: str) -> str | None:
        """The LA code owning the case, or None if no referral for it has been read."""
        return self.owners.get(case_id)

    def check(self, principal: Principal, case_id: str | None) -> None:
        """Refuse an LA credential naming a case another LA owns.

        Credentials not named by an LA code (schools, health bodies) are not checked here: a
        school may teach a child of any LA.

        Raises:
            AuthError: (403) the case is known to belong to another LA.
        """
        if case_id is None or principal.agency_system != LA_CODE_SYSTEM:
            return
        owner = self.owner(case_id)
        if owner is not None and owner != principal.agency_value:
            raise AuthError("this case belongs to another local authority", status=403)


class CaseOwnerFeed(TopicFollower):
    """Folds ``ReferralReceived`` events into a :class:`CaseOwners` index."""

    topics = (REFERRALS.name, CASEWORK_EVENTS.name)
    client_id = "ehcp-connectors-case-owners"

    def __init__(self, settings: Settings, codec: AvroCodec, owners: CaseOwners) -> None:
        super().__init__(settings, codec)
        self._owners = owners

    def apply(self, name: str, record: dict[str, Any], read: ReadRecord | None = None) -> None:
        """Record the owner named by a referral."""
        if name == REFERRAL_RECEIVED:
            self._owners.record(str(record["case_id"]), str(record["la_code"]))
        elif name == CASEWORK_EVENT_RECORDED and record.get("event_type") == "PlanTransferred":
            by = record["recorded_by"]
            try:
                body = json.loads(record["event_json"])
                from_la, to_la = str(body["from_la"]), str(body["to_la"])
            except (ValueError, KeyError, TypeError):
                return  # the worker dead-letters it; the owner does not change
            if by.get("system") == LA_CODE_SYSTEM and by.get("value") == from_la:
                self._owners.transfer(str(record["case_id"]), from_la, to_la)
