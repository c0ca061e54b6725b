"""The pure mapping from projected records to read-model rows."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

from ehcp.contract.topics import ALERTS, CASE_STATUS, DEAD_LETTER_ERROR_PREFIX, REFERRALS
from ehcp.readmodel.mapping import Kind, Source, rows_for
from ehcp.readmodel.pseudonyms import child_search_key
from tests import readmodel_records as rr
from tests.unit.contract.records import NHS_NUMBER, UPN


def _source(message: rr.Message, offset: int = 7, partition: int = 1) -> Source:
    topic, key, value, headers = message
    return Source(topic, partition, offset, key, value, tuple(headers), 1_700_000_000_000)


def test_a_referral_gives_the_case_owner_and_school_only() -> None:
    """Without a pseudonym key a referral maps to its case id, LA code and school, nothing
    about the child."""
    [row] = rows_for(_source(rr.referral("EHC-1", "886")), rr.CODEC)
    assert row.kind is Kind.CASE_OWNER
    assert dict(row.values) == {"case_id": "EHC-1", "la_code": "886",
                                "institution_system": "https://ehcp-exchange.org/Id/urn",
                                "institution_value": "118712"}


def test_a_referral_gives_keyed_pseudonyms_of_the_child_identifiers_never_the_identifiers() -> None:
    """With the key, each identifier becomes its HMAC; no row holds the NHS number or UPN."""
    key = b"k" * 32
    owner, *keys = rows_for(_source(rr.referral("EHC-1", "886")), rr.CODEC, key)
    assert owner.kind is Kind.CASE_OWNER
    assert {r.kind for r in keys} == {Kind.CHILD_SEARCH_KEY}
    assert {r.values["search_key"] for r in keys} == {
        child_search_key(key, NHS_NUMBER), child_search_key(key, UPN)}
    assert NHS_NUMBER not in repr(keys)
    assert UPN not in repr(keys)
    other = rows_for(_source(rr.referral("EHC-1", "886")), rr.CODEC, b"o" * 32)[1:]
    assert {r.values["search_key"] for r in other}.isdisjoint(
        r.values["search_key"] for r in keys)


def test_a_v3_case_status_gives_every_statutory_date_and_the_sen2_flag() -> None:
    """CaseStatus v3's dates become one row each, in order; the new case columns are filled."""
    [row] = rows_for(_source(rr.status("EHC-1", final_issued=date(2026, 6, 8),
                                       exceptions_apply=True)), rr.CODEC)
    assert [(d["position"], d["name"], d["status"]) for d in row.dates] == [
        (0, "decision_to_assess_due", "MET"), (1, "final_plan_due", "MISSED")]
    assert row.dates[1]["regulation"].startswith("reg 13(2)")
    assert json.loads(row.dates[1]["exception_ids"]) == ["X-1"]
    assert row.values["final_plan_issued_on"] == date(2026, 6, 8)
    assert row.values["decided_to_assess_on"] == date(2026, 2, 2)
    assert row.values["exceptions_apply"] is True
    assert row.values["has_statutory_dates"] is True


def test_a_v2_case_status_reads_with_no_dates_and_an_unknown_flag() -> None:
    """A status a v2 worker wrote maps as before: no dates, the SEN2 flag unknown (NULL)."""
    [row] = rows_for(_source(rr.status("EHC-1", version=2)), rr.CODEC)
    assert row.kind is Kind.CASE_STATUS
    assert row.dates == ()
    assert row.values["has_statutory_dates"] is False
    assert row.values["exceptions_apply"] is None
    assert row.values["final_plan_due_on"] == date(2026, 6, 1)


def test_a_statutory_date_with_an_overlong_regulation_is_a_projection_error() -> None:
    """Text over a date column's length is refused by field name, never stopping the projector."""
    _, key, _, _ = rr.status("EHC-1")
    record = rr.CODEC.decode(rr.status("EHC-1")[2] or b"")[1]
    record["statutory_dates"][0]["regulation"] = "r" * 401
    value = rr.CODEC.encode("org.ehcpexchange.events.CaseStatus", record)
    [row] = rows_for(Source(CASE_STATUS.name, 0, 1, key, value), rr.CODEC)
    assert row.kind is Kind.PROJECTION_ERROR
    assert "regulation" in row.values["error"]


def test_a_case_status_gives_the_case_and_one_item_per_advice_type() -> None:
    """A case status maps to the case row with its position and one item per advice item."""
    [row] = rows_for(_source(rr.status("EHC-1", open_alerts=2)), rr.CODEC)
    assert row.kind is Kind.CASE_STATUS
    assert row.values["stage"] == "ASSESSMENT"
    assert row.values["open_alerts"] == 2
    assert row.values["final_plan_due_on"] == date(2026, 6, 1)
    assert (row.values["kafka_partition"], row.values["kafka_offset"]) == (1, 7)
    medical, educational = row.items
    assert medical["agency_value"] == "RVV"
    assert medical["status"] == "REQUESTED"
    assert educational["agency_system"] is None
    assert json.loads(educational["contribution_ids"]) == ["c-EHC-1"]


def test_a_case_status_tombstone_removes_the_case() -> None:
    """A null value on the compacted case-status topic maps to removing that case."""
    [row] = rows_for(Source(CASE_STATUS.name, 0, 3, b"EHC-9", None), rr.CODEC)
    assert row.kind is Kind.CASE_REMOVED
    assert row.values == {"case_id": "EHC-9"}


def test_an_alert_keeps_its_event_id_and_fields() -> None:
    """An alert maps to a row keyed by its event id, with the agency split into system and value."""
    [row] = rows_for(_source(rr.alert("EHC-1", "ev-1")), rr.CODEC)
    assert row.kind is Kind.ALERT
    assert row.values["event_id"] == "ev-1"
    assert row.values["agency_value"] == "886"
    assert row.values["days_overdue"] == 3


def test_routed_advice_leaves_out_the_childs_identity() -> None:
    """Routed advice keeps the document claim and submission time (UTC), not identifiers or date of birth."""
    [row] = rows_for(_source(rr.routed("EHC-1", "ev-2")), rr.CODEC)
    assert row.kind is Kind.ADVICE
    assert row.values["submitted_at"] == datetime(2026, 2, 16, 14, 5, 12, 250000, tzinfo=UTC)
    assert row.values["document_size_bytes"] == 48213
    assert not {"child_identifiers", "child_date_of_birth"} & set(row.values)
    assert "9434765919" not in repr(row.values)


def test_an_unrouted_contribution_has_no_case() -> None:
    """An unrouted contribution maps with its reason and contribution id, and no case or child data."""
    [row] = rows_for(_source(rr.unrouted("RVV-1")), rr.CODEC)
    assert row.kind is Kind.UNROUTED
    assert (row.values["reason"], row.values["contribution_id"]) == ("NO_MATCHING_CASE", "RVV-1")
    assert "9434765919" not in repr(row.values)


def test_a_dead_letter_keeps_its_bytes_and_reads_the_error_headers() -> None:
    """A dead letter keeps key, value and every header byte for byte and reads out the error headers."""
    message = rr.dead_letter(REFERRALS.name, 41)
    [row] = rows_for(_source(message), rr.CODEC)
    assert row.kind is Kind.DEAD_LETTER
    assert row.values["value"] == b"\x00\xffnot avro"
    assert row.values["original_topic"] == REFERRALS.name
    assert (row.values["original_partition"], row.values["original_offset"]) == (2, 41)
    assert row.values["exception_class"] == "MalformedMessageError"
    headers = [(k, base64.b64decode(v)) for k, v in json.loads(row.values["headers"])]
    assert headers == message[3]


def test_bytes_that_are_not_avro_become_a_projection_error() -> None:
    """A record that cannot be decoded becomes a projection error row instead of raising."""
    [row] = rows_for(Source(ALERTS.name, 3, 5, b"k", b"garbage"), rr.CODEC)
    assert row.kind is Kind.PROJECTION_ERROR
    assert (row.values["topic"], row.values["kafka_partition"], row.values["kafka_offset"]) == (
        ALERTS.name, 3, 5)
    assert row.values["error_class"] == "MalformedMessageError"


def test_a_record_of_the_wrong_type_becomes_a_projection_error() -> None:
    """A referral found on the alerts topic is refused as a projection error."""
    _, key, value, _ = rr.referral("EHC-1", "886")
    [row] = rows_for(Source(ALERTS.name, 0, 0, key, value), rr.CODEC)
    assert row.kind is Kind.PROJECTION_ERROR
    assert row.values["error_class"] == "ContractError"


def test_topics_that_are_not_projected_give_no_rows() -> None:
    """A record of a topic the read model does not read maps to nothing."""
    assert rows_for(Source("ehcp.case-ticks.v1", 0, 0, b"k", b"x"), rr.CODEC) == []


def test_text_no_database_can_store_becomes_a_projection_error() -> None:
    """An alert with a NUL character or an id over its column's length is refused by name, without its value."""
    from ehcp.contract import records
    from tests.unit.contract.records import ALERT

    for fields, problem in (({"message": "a\x00b"}, "message holds a nul"),
                            ({"event_id": "x" * 201}, "event_id is longer than 200")):
        value = rr.CODEC.encode(records.ALERT, {**ALERT, **fields})
        [row] = rows_for(Source(ALERTS.name, 0, 1, b"k", value), rr.CODEC)
        assert row.kind is Kind.PROJECTION_ERROR
        assert problem in row.values["error"]
        assert "xxxx" not in row.values["error"]


def test_a_dead_letter_is_kept_whatever_its_headers_hold() -> None:
    """A dead letter whose error headers hold NUL or are very long is still kept, its text cleaned and cut."""
    headers = ((f"{DEAD_LETTER_ERROR_PREFIX}stage", b"s" * 500),
               (f"{DEAD_LETTER_ERROR_PREFIX}exception.message", b"bad\x00msg"))
    [row] = rows_for(Source("ehcp.dead-letter.v1", 0, 1, None, b"\x00", headers), rr.CODEC)
    assert row.kind is Kind.DEAD_LETTER
    assert len(row.values["stage"]) == 200
    assert "\x00" not in row.values["exception_message"]
