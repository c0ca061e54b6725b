"""The notifier's pure decisions: who hears what, ids, digest times, back-off."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

from ehcp.casework.calendar import Calendar
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from notify import decide
from notify.model import (
    ALERT_KINDS,
    AlertTransition,
    Channel,
    Recipient,
    RecipientKind,
    Subscription,
)

LA = Recipient(RecipientKind.LOCAL_AUTHORITY, LA_CODE_SYSTEM, "886")
OTHER_LA = Recipient(RecipientKind.LOCAL_AUTHORITY, LA_CODE_SYSTEM, "887")
TRUST = Recipient(RecipientKind.AGENCY, ODS_ORGANISATION_SYSTEM, "RVV")


def _sub(recipient: Recipient = LA, **changes: object) -> Subscription:
    base = Subscription("s-1", recipient, Channel.EMAIL, "sen@example.gov.uk",
                        frozenset(ALERT_KINDS), "INFO", True, None, "", 1_000)
    return replace(base, **changes)  # type: ignore[arg-type]


def _alert(**changes: object) -> AlertTransition:
    base = AlertTransition(
        event_id="e-1", alert_id="a-1", case_id="EHC-886-2026-0042", kind="ADVICE_OVERDUE",
        status="RAISED", severity="WARNING", advice_type="MEDICAL",
        agency_system=ODS_ORGANISATION_SYSTEM, agency_value="RVV", due_on=date(2026, 2, 23),
        days_overdue=3, regulation="reg 8(1)", message="medical advice is overdue",
        as_of=date(2026, 2, 26), recorded_ms=5_000, la_code="886")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_la_hears_about_its_own_cases_only() -> None:
    """The owning LA's subscription matches; another LA's, and an alert with no known owner, do not."""
    mine, theirs = _sub(), _sub(OTHER_LA, subscription_id="s-2")
    assert decide.matching([mine, theirs], _alert()) == [mine]
    assert decide.matching([mine], _alert(la_code=None)) == []


def test_kind_severity_resolution_and_age_filters() -> None:
    """Kinds, minimum severity, resolutions and transitions older than the subscription are filtered."""
    assert decide.matching([_sub(kinds=frozenset({"DEADLINE_MISSED"}))], _alert()) == []
    assert decide.matching([_sub(min_severity="CRITICAL")], _alert()) == []
    assert decide.matching([_sub(min_severity="WARNING")], _alert()) != []
    assert decide.matching([_sub(include_resolved=False)], _alert(status="RESOLVED")) == []
    assert decide.matching([_sub()], _alert(status="RESOLVED")) != []
    assert decide.matching([_sub(created_ms=6_000)], _alert()) == []


def test_an_agency_is_reminded_of_its_own_advice_and_never_of_resolutions() -> None:
    """The asked agency matches a RAISED reminder; another agency and a resolution do not."""
    trust = _sub(TRUST, kinds=frozenset({"ADVICE_DUE_SOON", "ADVICE_OVERDUE"}))
    assert decide.matching([trust], _alert(la_code=None)) == [trust]
    assert decide.matching([trust], _alert(agency_value="RXX")) == []
    assert decide.matching([trust], _alert(status="RESOLVED")) == []


def test_delivery_ids_are_deterministic_and_distinct() -> None:
    """The same subscription and event give one id; another event, subscription or digest slot another."""
    first = decide.delivery_id("s-1", "e-1")
    assert first == decide.delivery_id("s-1", "e-1")
    assert len({first, decide.delivery_id("s-1", "e-2"), decide.delivery_id("s-2", "e-1")}) == 3
    slot = datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert decide.digest_delivery_id("s-1", slot) == decide.digest_delivery_id("s-1", slot)
    assert decide.digest_delivery_id("s-1", slot) != first


def test_digest_slots_skip_weekends_and_bank_holidays_in_london_time() -> None:
    """A Monday 08:00 digest after a weekend; Easter Monday is skipped; BST moves the UTC hour."""
    cal = Calendar()
    # Saturday 7 March 2026, 12:00 UTC: the latest slot is Friday 6 March 08:00 GMT.
    assert decide.latest_digest_slot(datetime(2026, 3, 7, 12, tzinfo=UTC), time(8), cal) == \
        datetime(2026, 3, 6, 8, tzinfo=UTC)
    assert decide.next_digest_slot(datetime(2026, 3, 7, 12, tzinfo=UTC), time(8), cal) == \
        datetime(2026, 3, 9, 8, tzinfo=UTC)
    # Easter 2026: Good Friday 3 April and Easter Monday 6 April are bank holidays; after
    # Thursday's digest the next is Tuesday 7 April, 08:00 BST = 07:00 UTC.
    assert decide.next_digest_slot(datetime(2026, 4, 2, 9, tzinfo=UTC), time(8), cal) == \
        datetime(2026, 4, 7, 7, tzinfo=UTC)
    # Exactly at the slot counts as reached.
    at = datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert decide.latest_digest_slot(at, time(8), cal) == at


def test_retry_delay_doubles_with_jitter_up_to_the_cap() -> None:
    """Delays double from the base, stay within [half, whole] of the exponential, never beyond the cap."""
    low = [decide.retry_delay(n, base_s=10, cap_s=100, jitter=lambda: 0.0) for n in (1, 2, 3, 9)]
    high = [decide.retry_delay(n, base_s=10, cap_s=100, jitter=lambda: 0.999) for n in (1, 2, 3, 9)]
    assert low == [5, 10, 20, 50]
    assert all(a < b <= 2 * a for a, b in zip(low, high, strict=True))
    assert max(high) < 100
    assert decide.gives_up(0, 10_000, retry_for_s=10)
    assert not decide.gives_up(0, 9_999, retry_for_s=10)
