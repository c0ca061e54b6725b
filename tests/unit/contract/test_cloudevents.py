"""CloudEvents 1.0 Kafka binary-mode headers survive a round trip; ``ce_type`` follows the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ehcp.contract.cloudevents import CloudEvent, event_type
from ehcp.errors import MalformedMessageError

EVENT = CloudEvent(
    id="5f1c2d3e-8a9b-4c7d-b0e1-2a3b4c5d6e7f",
    source="/ehcp-exchange/connectors/fhir",
    type="org.ehcpexchange.advice.submitted.v1",
    time=datetime(2026, 2, 16, 14, 5, 12, 250000, tzinfo=UTC),
    subject="EHC-886-2026-0042",
)


def test_headers_round_trip() -> None:
    """Writing an event's headers and reading them back gives the same event."""
    assert CloudEvent.from_headers(EVENT.headers()) == EVENT


def test_headers_are_binary_mode_with_avro_content_type() -> None:
    """The headers are the ce_ attributes, the time in UTC with a Z, and content-type Avro."""
    assert dict(EVENT.headers()) == {
        "ce_specversion": b"1.0",
        "ce_id": b"5f1c2d3e-8a9b-4c7d-b0e1-2a3b4c5d6e7f",
        "ce_source": b"/ehcp-exchange/connectors/fhir",
        "ce_type": b"org.ehcpexchange.advice.submitted.v1",
        "ce_time": b"2026-02-16T14:05:12.250000Z",
        "ce_subject": b"EHC-886-2026-0042",
        "content-type": b"application/avro",
    }


def test_local_time_is_written_as_the_same_instant_in_utc() -> None:
    """An event timed in British Summer Time is written in UTC and reads back the same."""
    bst = timezone(timedelta(hours=1))
    event = CloudEvent(id="e-1", source="/s", type="t", time=datetime(2026, 6, 1, 9, 0, tzinfo=bst),
                       subject="c")
    headers = dict(event.headers())
    assert headers["ce_time"] == b"2026-06-01T08:00:00Z"
    assert CloudEvent.from_headers(event.headers()).time == event.time


def test_other_headers_are_ignored() -> None:
    """Headers besides the CloudEvents ones (such as dead-letter headers) do not disturb reading."""
    extra = [("__connect.errors.stage", b"process_cases"), ("traceparent", None)]
    headers = [*EVENT.headers(), *extra]
    assert CloudEvent.from_headers(headers) == EVENT


@pytest.mark.parametrize("missing", ["ce_specversion", "ce_id", "ce_source", "ce_type"])
def test_missing_required_header_is_malformed(missing: str) -> None:
    """Without a required attribute the headers are refused, naming the missing header."""
    headers = [(k, v) for k, v in EVENT.headers() if k != missing]
    with pytest.raises(MalformedMessageError, match=missing):
        CloudEvent.from_headers(headers)


def test_other_spec_version_is_malformed() -> None:
    """Headers claiming CloudEvents 0.3 are refused."""
    headers = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in EVENT.headers()]
    with pytest.raises(MalformedMessageError, match=r"0\.3"):
        CloudEvent.from_headers(headers)


def test_time_that_is_not_rfc3339_is_malformed() -> None:
    """A ce_time that is not a timestamp is refused."""
    headers = [(k, b"last Tuesday" if k == "ce_time" else v) for k, v in EVENT.headers()]
    with pytest.raises(MalformedMessageError, match="ce_time"):
        CloudEvent.from_headers(headers)


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("org.ehcpexchange.events.AdviceSubmitted", "org.ehcpexchange.advice.submitted.v1"),
        ("org.ehcpexchange.events.ReferralReceived", "org.ehcpexchange.referral.received.v1"),
        ("org.ehcpexchange.events.CaseChildLinked", "org.ehcpexchange.case.child.linked.v1"),
        ("org.ehcpexchange.events.Alert", "org.ehcpexchange.alert.v1"),
        ("Alert", "org.ehcpexchange.alert.v1"),
    ],
)
def test_event_type_from_record_name(full_name: str, expected: str) -> None:
    """The ce_type is the record name split into lower-case words, plus the major version."""
    assert event_type(full_name) == expected
