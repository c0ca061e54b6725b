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


def _topic_configs(settings: Settings, name: str) -> dict[str, str]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        return {k: v["value"] for k, v in described["topic"][name].items()}
    finally:
        admin.close()


def test_a_retention_override_is_set_on_the_broker_and_other_settings_stay(
    kafka_settings: Settings,
) -> None:
    """EHCP_TOPIC_RETENTION_MS reaches the broker's topic config; cleanup.policy,
    min.insync.replicas and a hand-set max.message.bytes are untouched."""
    spec = next(s for s in catalogue(kafka_settings.app_id) if s.name == "ehcp.case-ticks.v1")
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name,
                                            {"max.message.bytes": "2000000"})], incremental=True)
    finally:
        admin.close()
    week = 7 * 24 * 3600 * 1000
    override = kafka_settings.model_copy(update={"topic_retention_ms": {spec.name: week}})
    try:
        planned = apply_topics(override, [spec], dry_run=True)
        assert [(c.topic, c.action, c.detail) for c in planned] == [
            (spec.name, "config", f"retention.ms={week}")]
        apply_topics(override, [spec])
        wait_until(lambda: _topic_configs(kafka_settings, spec.name)["retention.ms"] == str(week),
                   30, what="the retention override on the broker")
        configs = _topic_configs(kafka_settings, spec.name)
        assert configs["cleanup.policy"] == "delete"
        assert configs["min.insync.replicas"] == str(kafka_settings.min_insync_replicas)
        assert configs["max.message.bytes"] == "2000000"
        wait_until(lambda: not apply_topics(override, [spec], dry_run=True), 20,
                   what="the override to be up to date")
    finally:
        apply_topics(kafka_settings, [spec])  # the catalogue's 30 days again
        admin = KafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap)
        try:
            admin.reset_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name,
                                                {"max.message.bytes": None})])
        finally:
            admin.close()
    wait_until(lambda: _topic_configs(kafka_settings, spec.name)["retention.ms"]
               == str(spec.retention_ms), 30, what="the catalogue's retention back")
    wait_until(lambda: _topic_configs(kafka_settings, spec.name).get("max.message.bytes")
               != "2000000", 30, what="max.message.bytes back to the broker default")
