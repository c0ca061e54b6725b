"""The codec's two wire formats: single-object (C3 01 + fingerprint) and Confluent (00 + id).

The registry is a fake :class:`SchemaIds` here (the real Apicurio is in
tests/integration/test_schema_registry.py); these tests pin the bytes, the per-topic choice,
the caching and the errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ehcp.contract.avro import (
    CONFLUENT,
    HEADER_LEN,
    AvroCodec,
    SchemaRegistry,
    SchemaVersion,
    WirePolicy,
)
from ehcp.contract.records import ALERT, REFERRAL_RECEIVED
from ehcp.errors import (
    ConfigurationError,
    ContractError,
    MalformedMessageError,
    SchemaRegistryError,
    UnknownSchemaError,
)
from ehcp.settings import Settings
from streams.agents import BAD_DATA
from tests.unit.contract.avro_spec import SCHEMA_DIR
from tests.unit.contract.records import GOLDEN

REGISTRY = SchemaRegistry(SCHEMA_DIR)


class FakeIds:
    """A registry that numbers every schema version of this build from 101, counting calls."""

    def __init__(self, registry: SchemaRegistry, *, down: bool = False) -> None:
        self.down = down
        self.id_calls = 0
        self.schema_calls: list[int] = []
        self._ids: dict[bytes, int] = {}
        self._schemas: dict[int, Any] = {}
        for n, name in enumerate(registry.names):
            for version in registry.history(name):
                schema_id = 101 + 10 * n + version.version
                self._ids[version.fingerprint] = schema_id
                self._schemas[schema_id] = json.loads(version.path.read_text())

    def id_of(self, version: SchemaVersion) -> int:
        self.id_calls += 1
        if self.down:
            raise SchemaRegistryError("schema registry at http://fake unreachable")
        return self._ids[version.fingerprint]

    def schema_of(self, schema_id: int) -> Any | None:
        self.schema_calls.append(schema_id)
        if self.down:
            raise SchemaRegistryError("schema registry at http://fake unreachable")
        return self._schemas.get(schema_id)


def _golden(name: str) -> dict[str, Any]:
    return next(record for full, record in GOLDEN.values() if full == name)


def test_confluent_bytes_are_zero_then_the_id_then_the_same_avro_body() -> None:
    """Magic 0, the registry id big-endian in 4 bytes, then exactly the single-object body."""
    ids = FakeIds(REGISTRY)
    codec = AvroCodec(REGISTRY, ids=ids, policy=WirePolicy(CONFLUENT))
    record = _golden(REFERRAL_RECEIVED)
    confluent = codec.encode(REFERRAL_RECEIVED, record, "ehcp.referrals.v1")
    single = AvroCodec(REGISTRY).encode(REFERRAL_RECEIVED, record, "ehcp.referrals.v1")
    expected_id = ids.id_of(REGISTRY.latest(REFERRAL_RECEIVED))
    assert confluent[:1] == b"\x00"
    assert int.from_bytes(confluent[1:5], "big") == expected_id
    assert confluent[5:] == single[HEADER_LEN:]
    assert single[:2] == b"\xc3\x01"


@pytest.mark.parametrize("writer_policy", [WirePolicy(), WirePolicy(CONFLUENT)],
                         ids=["reader-writes-single-object", "reader-writes-confluent"])
def test_a_codec_reads_both_formats_whatever_it_writes(writer_policy: WirePolicy) -> None:
    """One reader decodes single-object and Confluent messages of the same record alike."""
    ids = FakeIds(REGISTRY)
    writer = AvroCodec(REGISTRY, ids=ids, policy=WirePolicy(CONFLUENT))
    reader = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY), policy=writer_policy)
    record = _golden(ALERT)
    for data in (writer.encode(ALERT, record, "t"), AvroCodec(REGISTRY).encode(ALERT, record)):
        assert reader.decode(data, expected=ALERT) == (ALERT, record)


def test_the_policy_chooses_per_topic_and_keeps_worker_state_single_object() -> None:
    """Overrides name topics; the default covers the rest; no topic (table state) is C3 01."""
    policy = WirePolicy("single-object", {"ehcp.alerts.v1": CONFLUENT})
    codec = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY), policy=policy)
    record = _golden(ALERT)
    assert codec.encode(ALERT, record, "ehcp.alerts.v1")[:1] == b"\x00"
    assert codec.encode(ALERT, record, "ehcp.audit.v1")[:2] == b"\xc3\x01"
    assert codec.encode(ALERT, record)[:2] == b"\xc3\x01"
    everywhere = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY), policy=WirePolicy(CONFLUENT))
    assert everywhere.encode(ALERT, record)[:2] == b"\xc3\x01"
    assert everywhere.encode(ALERT, record, "anything")[:1] == b"\x00"


def test_ids_are_asked_once_per_schema_not_once_per_message() -> None:
    """The writer's id and the reader's schema are cached after the first message."""
    ids = FakeIds(REGISTRY)
    writer = AvroCodec(REGISTRY, ids=ids, policy=WirePolicy(CONFLUENT))
    messages = [writer.encode(ALERT, _golden(ALERT), "t") for _ in range(50)]
    assert ids.id_calls == 1
    reader_ids = FakeIds(REGISTRY)
    reader = AvroCodec(REGISTRY, ids=reader_ids)
    for message in messages:
        reader.decode(message)
    assert len(reader_ids.schema_calls) == 1


def test_an_unknown_id_is_an_unknown_schema_asked_once() -> None:
    """An id the registry does not hold is dead-letter material, and is not asked again."""
    ids = FakeIds(REGISTRY)
    codec = AvroCodec(REGISTRY, ids=ids)
    data = b"\x00" + (99999).to_bytes(4, "big") + b"\x02"
    for _ in range(3):
        with pytest.raises(UnknownSchemaError, match="99999"):
            codec.decode(data)
    assert ids.schema_calls == [99999]


def test_a_registry_schema_this_build_does_not_hold_is_an_unknown_schema() -> None:
    """An id naming a schema outside ``schemas/`` is refused like an unknown fingerprint."""

    class Other(FakeIds):
        def schema_of(self, schema_id: int) -> Any | None:
            return {"type": "record", "name": "Stranger", "fields": [{"name": "a",
                                                                        "type": "int"}]}

    codec = AvroCodec(REGISTRY, ids=Other(REGISTRY))
    with pytest.raises(UnknownSchemaError, match="fingerprint"):
        codec.decode(b"\x00\x00\x00\x00\x07\x02")


def test_without_a_registry_a_confluent_message_names_the_missing_setting() -> None:
    """A reader with no registry configured refuses Confluent bytes, saying what to set."""
    data = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY), policy=WirePolicy(CONFLUENT)).encode(
        ALERT, _golden(ALERT), "t")
    with pytest.raises(UnknownSchemaError, match="EHCP_SCHEMA_REGISTRY_URL"):
        AvroCodec(REGISTRY).decode(data)


def test_a_registry_that_is_down_is_not_bad_data() -> None:
    """Registry outages raise SchemaRegistryError, which the worker does not dead-letter."""
    down = FakeIds(REGISTRY, down=True)
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        AvroCodec(REGISTRY, ids=down, policy=WirePolicy(CONFLUENT)).encode(
            ALERT, _golden(ALERT), "t")
    with pytest.raises(SchemaRegistryError) as caught:
        AvroCodec(REGISTRY, ids=down).decode(b"\x00\x00\x00\x00\x07\x02")
    assert not isinstance(caught.value, ContractError)
    assert not isinstance(caught.value, BAD_DATA)


@pytest.mark.parametrize(
    "data",
    [b"\x00", b"\x00\x00\x00\x07", b"\x01\x00\x00\x00\x07\x02", b""],
    ids=["magic-only", "id-cut-short", "wrong-magic", "empty"],
)
def test_truncated_or_foreign_bytes_are_malformed(data: bytes) -> None:
    """Fewer than five bytes, or another first byte, name both markers."""
    with pytest.raises(MalformedMessageError, match=r"C3 01.*00 \+ id"):
        AvroCodec(REGISTRY, ids=FakeIds(REGISTRY)).decode(data)


def test_trailing_bytes_after_a_confluent_body_are_malformed() -> None:
    """A valid Confluent message with extra bytes behind it is refused."""
    codec = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY), policy=WirePolicy(CONFLUENT))
    data = codec.encode(ALERT, _golden(ALERT), "t")
    with pytest.raises(MalformedMessageError, match="trailing"):
        codec.decode(data + b"\x00")


def test_a_confluent_policy_without_a_registry_is_refused_at_construction() -> None:
    """Writing Confluent bytes needs ids; the codec says so before the first record."""
    with pytest.raises(ConfigurationError, match="EHCP_SCHEMA_REGISTRY_URL"):
        AvroCodec(REGISTRY, policy=WirePolicy("single-object", {"t": CONFLUENT}))


def test_settings_refuse_the_confluent_format_without_a_registry_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EHCP_SCHEMA_WIRE_FORMAT(_TOPICS)=confluent with no URL is one clear configuration error."""
    monkeypatch.setenv("EHCP_SCHEMA_WIRE_FORMAT_TOPICS", '{"ehcp.alerts.v1": "confluent"}')
    with pytest.raises(ConfigurationError, match="EHCP_SCHEMA_REGISTRY_URL"):
        Settings.from_env()
    monkeypatch.setenv("EHCP_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1/apis/ccompat/v7")
    settings = Settings.from_env()
    assert settings.schema_wire_format_topics == {"ehcp.alerts.v1": "confluent"}
    monkeypatch.setenv("EHCP_SCHEMA_WIRE_FORMAT", "avro-json")
    with pytest.raises(ConfigurationError, match="EHCP_SCHEMA_WIRE_FORMAT"):
        Settings.from_env()


def test_a_connector_answers_503_when_the_registry_is_down() -> None:
    """The publisher turns a registry outage into PublishError (503, retry) before Kafka."""
    import asyncio

    from connectors.kafka_publisher import KafkaPublisher, PublishedEvent
    from ehcp.contract.cloudevents import event_type
    from ehcp.errors import PublishError

    codec = AvroCodec(REGISTRY, ids=FakeIds(REGISTRY, down=True), policy=WirePolicy(CONFLUENT))
    publisher = KafkaPublisher(Settings(kafka_bootstrap="127.0.0.1:1"), codec, source="/tests")
    event = PublishedEvent("ehcp.alerts.v1", "EHC-1", ALERT, _golden(ALERT), event_type(ALERT),
                           "EHC-1")
    with pytest.raises(PublishError, match="schema registry unavailable"):
        asyncio.run(publisher.publish(event))
