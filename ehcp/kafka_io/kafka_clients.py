"""Kafka client configuration from settings, and the topic catalogue applied through the admin API.

kafka-python serves the synchronous CLI (topics, case show, tails, dead letters); aiokafka (through
Faust and the connectors' publisher) serves the async paths. Both get their connection and security
settings from :func:`kafka_python_config` and :func:`aiokafka_config` (Faust from
:func:`ssl_context` and :func:`sasl_credentials`), so every client speaks the protocol the
settings name, as the principal they name, and verifies the broker the same way: TLS verification
and hostname checking are always on (there is no setting to turn them off), against
``EHCP_KAFKA_SSL_CAFILE`` or else the system's CAs.

Each process gets its own principal from its own environment (``EHCP_KAFKA_SASL_USERNAME`` and
``EHCP_KAFKA_SASL_PASSWORD``): see :mod:`ehcp.contract.access` for which component is which user.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ehcp.contract.topics import TopicSpec, with_retention
from ehcp.errors import BrokerError, ConfigurationError
from ehcp.settings import Settings

PROTOCOLS: Final = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
SASL_MECHANISMS: Final = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})


@dataclass(frozen=True, slots=True)
class SaslCredentials:
    """The SASL mechanism, user and password one process authenticates with."""

    mechanism: str
    username: str
    password: str = field(repr=False)


def security_protocol(settings: Settings) -> str:
    """``EHCP_KAFKA_SECURITY_PROTOCOL``, checked and upper-cased.

    Raises:
        ConfigurationError: an unknown protocol.
    """
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ConfigurationError(
            f"EHCP_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(sorted(PROTOCOLS))}"
        )
    return protocol


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None for the plaintext protocols).

    Certificates and host names are always verified: against ``EHCP_KAFKA_SSL_CAFILE`` if set,
    else the system's CAs.

    Raises:
        ConfigurationError: the CA file is missing or not a PEM certificate.
    """
    if security_protocol(settings) not in ("SSL", "SASL_SSL"):
        return None
    cafile = settings.kafka_ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"EHCP_KAFKA_SSL_CAFILE ({cafile}) cannot be read as PEM CA certificates: "
            f"{type(exc).__name__}"
        ) from exc
    # create_default_context already does both; said again so no later edit can drop them.
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def sasl_credentials(settings: Settings) -> SaslCredentials | None:
    """The SASL credentials for SASL_PLAINTEXT and SASL_SSL (None otherwise).

    Raises:
        ConfigurationError: a SASL protocol without a known mechanism, user name or password.
    """
    if not security_protocol(settings).startswith("SASL"):
        return None
    mechanism = (settings.kafka_sasl_mechanism or "").upper()
    if mechanism not in SASL_MECHANISMS:
        raise ConfigurationError(
            "EHCP_KAFKA_SASL_MECHANISM must be one of "
            f"{', '.join(sorted(SASL_MECHANISMS))} with a SASL security protocol"
        )
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise ConfigurationError(
            "EHCP_KAFKA_SASL_USERNAME and EHCP_KAFKA_SASL_PASSWORD must be set with a SASL "
            "security protocol"
        )
    return SaslCredentials(mechanism, settings.kafka_sasl_username,
                           settings.kafka_sasl_password.get_secret_value())


def _security(settings: Settings) -> dict[str, Any]:
    """Options kafka-python and aiokafka share: protocol, TLS context and SASL."""
    config: dict[str, Any] = {"security_protocol": security_protocol(settings)}
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    sasl = sasl_credentials(settings)
    if sasl is not None:
        config["sasl_mechanism"] = sasl.mechanism
        config["sasl_plain_username"] = sasl.username
        config["sasl_plain_password"] = sasl.password
    return config


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """Connection settings for kafka-python clients.

    Raises:
        ConfigurationError: inconsistent security settings.
    """
    return {"bootstrap_servers": settings.kafka_bootstrap.split(","), **_security(settings)}


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Connection settings for aiokafka clients (the connectors' producer and feeds).

    Raises:
        ConfigurationError: inconsistent security settings.
    """
    return {"bootstrap_servers": settings.kafka_bootstrap, **_security(settings)}


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """Why one connection to the broker failed, in words an operator can act on.

    Attributes:
        message: one line naming the setting to fix (never a password).
        refused: the broker answered but refused us (credentials, TLS trust): retrying cannot
            help, so processes stop at start-up instead of retrying for ever.
    """

    message: str
    refused: bool


def connection_problem(settings: Settings, timeout_s: float = 10.0) -> ConnectionProblem | None:
    """Connect to the first bootstrap server as the settings say; None if that works.

    kafka-python and aiokafka retry a failed bootstrap and then report only "unable to
    bootstrap", whatever the reason; this one connection (TLS handshake and SASL included)
    tells a wrong password from an untrusted certificate from a broker that is down.

    Raises:
        ConfigurationError: inconsistent security settings.
    """
    import asyncio

    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop in this thread: the probe may run its own
    else:
        return None  # inside an event loop a blocking probe would stall it: say nothing more
    config = aiokafka_config(settings)
    del config["bootstrap_servers"]
    server = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = server.rpartition(":")

    async def probe() -> None:
        conn = await create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000),
                                 **config)
        conn.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout_s))
    except ssl.SSLCertVerificationError as exc:
        trusted = settings.kafka_ssl_cafile or "the system CAs"
        return ConnectionProblem(
            f"the broker at {server} presented a certificate that EHCP_KAFKA_SSL_CAFILE "
            f"({trusted}) does not trust or that does not name {host}: {exc.verify_message}",
            refused=True)
    except ssl.SSLError as exc:
        return ConnectionProblem(
            f"TLS handshake with {server} failed ({exc.reason}): is "
            f"EHCP_KAFKA_SECURITY_PROTOCOL ({security_protocol(settings)}) the listener's?",
            refused=True)
    except SaslAuthenticationFailed:
        return ConnectionProblem(
            f"the broker at {server} refused SASL user {settings.kafka_sasl_username!r} "
            f"({settings.kafka_sasl_mechanism}): check EHCP_KAFKA_SASL_USERNAME and "
            "EHCP_KAFKA_SASL_PASSWORD",
            refused=True)
    except (KafkaError, OSError, TimeoutError) as exc:
        return ConnectionProblem(f"cannot connect to {server}: {type(exc).__name__}: {exc}",
                                 refused=False)
    return None


def unreachable(settings: Settings, exc: BaseException) -> BrokerError:
    """The error for a client that could not bootstrap, with the reason found by probing."""
    problem = connection_problem(settings)
    reason = problem.message if problem else f"{type(exc).__name__}: {exc}"
    return BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {reason}")


def require_access(settings: Settings) -> None:
    """Stop at start-up if the broker refuses these credentials or its certificate is untrusted.

    A broker that is merely down is not an error here: the processes wait and retry. With
    PLAINTEXT there is nothing to refuse, so nothing is probed.

    Raises:
        ConfigurationError: the broker refused us (the message says which setting to fix).
    """
    if security_protocol(settings) == "PLAINTEXT":
        return
    problem = connection_problem(settings)
    if problem is not None and problem.refused:
        raise ConfigurationError(problem.message)


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
        raise unreachable(settings, exc) from exc
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
