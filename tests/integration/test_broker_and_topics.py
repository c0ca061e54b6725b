"""The local broker and the topic catalogue, against the real Kafka broker of the session."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from ehcp.contract.topics import catalogue
from ehcp.kafka_io.broker.local import metadata_ok
from ehcp.kafka_io.kafka_clients import apply_topics, kafka_python_config
from ehcp.settings import Settings
from tests.support import wait_until

pytestmark = pytest.mark.integration


def test_broker_answers_a_metadata_request(kafka_settings: Settings) -> None:
    """The broker started by the suite answers a real metadata request (secured or not)."""
    assert metadata_ok(kafka_settings.kafka_bootstrap, settings=kafka_settings)


def test_topics_apply_is_idempotent(kafka_settings: Settings) -> None:
    """A second `topics apply` after the fixture's first one changes nothing."""
    assert apply_topics(kafka_settings, catalogue(kafka_settings.app_id)) == []


def test_catalogue_topics_exist_with_their_configuration(kafka_settings: Settings) -> None:
    """A generic Kafka client sees every catalogue topic with its partitions and cleanup policy."""
    admin = KafkaAdminClient(**kafka_python_config(kafka_settings))
    try:
        specs = catalogue(kafka_settings.app_id)
        described = {t["name"]: t for t in admin.describe_topics([s.name for s in specs])}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
        )["topic"]
    finally:
        admin.close()
    for spec in specs:
        assert len(described[spec.name]["partitions"]) == kafka_settings.partitions, spec.name
        assert configs[spec.name]["cleanup.policy"]["value"] == spec.cleanup_policy, spec.name
        assert configs[spec.name]["retention.ms"]["value"] == str(spec.retention_ms), spec.name


def test_topics_apply_repairs_a_drifted_config(kafka_settings: Settings) -> None:
    """If someone changes a topic's retention by hand, `topics apply` sets it back."""
    spec = catalogue(kafka_settings.app_id)[0]
    admin = KafkaAdminClient(**kafka_python_config(kafka_settings))
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name, {"retention.ms": "3600000"})]
        )
        resource = ConfigResource(ConfigResourceType.TOPIC, spec.name)
        wait_until(
            lambda: admin.describe_configs([resource])["topic"][spec.name]["retention.ms"]["value"]
            == "3600000",
            20,
            what="the drift to be visible",
        )
    finally:
        admin.close()
    changes = apply_topics(kafka_settings, [spec])
    assert [(c.topic, c.action) for c in changes] == [(spec.name, "config")]
    wait_until(
        lambda: not apply_topics(kafka_settings, [spec], dry_run=True),
        20,
        what="the repair to be visible",
    )
