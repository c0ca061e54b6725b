"""Kafka client configuration from settings, and the topic catalogue applied through the admin API.

kafka-python serves the synchronous CLI (topics, case show, tails, dead letters); aiokafka (through
Faust and the connectors' publisher) serves the async paths. Both get their security settings here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ehcp.contract.topics import TopicSpec, with_retention
from ehcp.errors import BrokerError
from ehcp.settings import Settings


def _sasl(settings: Settings) -> dict[str, Any]:
    """SASL settings; kafka-python and aiokafka share these option names."""
    if not settings.kafka_sasl_mechanism:
        return {}
    config: dict[str, Any] = {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
    }
    if settings.kafka_sasl_password is not None:
        config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return config


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Connection settings for kafka-python clients."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
        **_sasl(settings),
    }
    if settings.kafka_ssl_cafile is not None:
        config["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return config


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Connection settings for aiokafka clients (the connectors' producer and Task feed)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
        **_sasl(settings),
    }
    if settings.kafka_ssl_cafile is not None:
        from aiokafka.helpers import create_ssl_context

        config["ssl_context"] = create_ssl_context(cafile=str(settings.kafka_ssl_cafile))
    return config


@dataclass(frozen=True, slots=True)
class TopicChange:
    """One change ``apply_topics`` made (or would make)."""

    topic: str
    action: str  # "created", "config", "partitions"
    detail: str


def apply_topics(
    settings: Settings, specs: Sequence[TopicSpec], *, dry_run: bool = False
) -> list[TopicChange]:
    """Create missing topics and align configuration and partition counts. Idempotent.

    Partition counts only grow (shrinking is impossible in Kafka and would break keying).
    Retention is the catalogue's unless ``EHCP_TOPIC_RETENTION_MS`` overrides it. Changed
    settings are altered incrementally (IncrementalAlterConfigs, as kafka-python picks on any
    Kafka 2.3+ broker; said explicitly here), so a topic's other settings (e.g. an operator's
    ``max.message.bytes``) stay as they are.

    Raises:
        BrokerError: Kafka refused or could not be reached.
        ConfigurationError: a retention override Kafka could not honour (see
            :func:`~ehcp.contract.topics.with_retention`).
    """
    specs = with_retention(specs, settings.topic_retention_ms, settings.app_id)
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
    from kafka.errors import KafkaError

    changes: list[TopicChange] = []
    try:
        admin = KafkaAdminClient(client_id="ehcp-topics", **kafka_python_config(settings))
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        wanted_partitions = {s.name: settings.partitions for s in specs}
        missing = [s for s in specs if s.name not in existing]
        if missing:
            changes += [
                TopicChange(
                    s.name, "created", f"{settings.partitions} partitions, {s.cleanup_policy}"
                )
                for s in missing
            ]
            if not dry_run:
                admin.create_topics(
                    [
                        NewTopic(
                            s.name,
                            wanted_partitions[s.name],
                            settings.replication_factor,
                            topic_configs=s.configs(settings.min_insync_replicas),
                        )
                        for s in missing
                    ],
                    wait_for_metadata=True,
                )
        present = [s for s in specs if s.name in existing]
        if present:
            described = admin.describe_topics([s.name for s in present])
            counts = {t["name"]: len(t["partitions"]) for t in described}
            grow = {
                s.name: wanted_partitions[s.name]
                for s in present
                if counts[s.name] < wanted_partitions[s.name]
            }
            for name, count in grow.items():
                changes.append(TopicChange(name, "partitions", f"{counts[name]} -> {count}"))
            if grow and not dry_run:
                admin.create_partitions({n: NewPartitions(c) for n, c in grow.items()})
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in present]
            )["topic"]
            for spec in present:
                actual = {k: v["value"] for k, v in configs.get(spec.name, {}).items()}
                diff = {
                    k: v
                    for k, v in spec.configs(settings.min_insync_replicas).items()
                    if actual.get(k) != v
                }
                if diff:
                    changes.append(
                        TopicChange(
                            spec.name,
                            "config",
                            ", ".join(f"{k}={v}" for k, v in sorted(diff.items())),
                        )
                    )
                    if not dry_run:
                        admin.alter_configs(
                            [ConfigResource(ConfigResourceType.TOPIC, spec.name, diff)],
                            incremental=True,
                        )
    except KafkaError as exc:
        raise BrokerError(f"Kafka refused the topic change: {type(exc).__name__}: {exc}") from exc
    finally:
        admin.close()
    return changes
