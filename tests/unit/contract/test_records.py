"""Record names are spelled once, every topic spec is in the catalogue, and AdviceRequested is built one way."""

from __future__ import annotations

from datetime import date

from ehcp.contract import records, topics
from ehcp.contract.avro import AvroCodec, SchemaRegistry
from ehcp.contract.topics import TopicSpec, catalogue

from .avro_spec import SCHEMA_DIR

RECORD_NAMES = {
    value
    for name, value in vars(records).items()
    if name.isupper() and name != "NS" and isinstance(value, str)
}
DECLARED_SPECS = [value for value in vars(topics).values() if isinstance(value, TopicSpec)]


def test_every_topic_spec_declared_in_topics_is_in_the_catalogue() -> None:
    """`ehcp topics apply` creates every topic the code can send to: no spec is left out of the catalogue."""
    listed = {spec.name for spec in catalogue("ehcp-streams")}
    missing = [spec.name for spec in DECLARED_SPECS if spec.name not in listed]
    assert DECLARED_SPECS, "the scan must find the module's specs"
    assert missing == []


def test_every_value_schema_is_a_named_record_with_a_schema() -> None:
    """Each topic's value schema is one of the record names, and each record name has an Avro schema."""
    codec_names = set(AvroCodec(SchemaRegistry(SCHEMA_DIR)).registry.names)
    schemas = {spec.value_schema for spec in DECLARED_SPECS if spec.value_schema}
    assert schemas <= RECORD_NAMES
    assert RECORD_NAMES.issubset(codec_names)


def test_advice_requested_takes_its_regulation_and_due_date_from_the_type() -> None:
    """A medical request sent on 7 September is reg 6(1)(c) and due 6 weeks later, on 19 October."""
    record = records.advice_requested(
        event_id="e-1",
        request_id="r-1",
        case_id="EHC-999-UNIT-1",
        advice_type="MEDICAL",
        agency={"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "ZZ901"},
        child_identifiers=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
        sent_on=date(2026, 9, 7),
    )
    assert record["regulation"] == "reg 6(1)(c)"
    assert record["due_on"] == date(2026, 10, 19)
    assert AvroCodec(SchemaRegistry(SCHEMA_DIR)).encode(records.ADVICE_REQUESTED, record)
