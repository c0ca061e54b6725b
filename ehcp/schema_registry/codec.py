"""The codec every process builds from its settings: wire formats per topic, registry if any."""

from __future__ import annotations

from ehcp.contract.avro import AvroCodec, SchemaRegistry, WirePolicy
from ehcp.schema_registry.client import RegistryClient
from ehcp.settings import Settings


def registry_client(settings: Settings) -> RegistryClient | None:
    """A client of the configured schema registry, or None if EHCP_SCHEMA_REGISTRY_URL is unset."""
    if not settings.schema_registry_url:
        return None
    password = settings.schema_registry_password
    return RegistryClient(
        settings.schema_registry_url,
        username=settings.schema_registry_username,
        password=password.get_secret_value() if password is not None else None,
        ca_file=settings.schema_registry_ca_file,
        timeout_s=settings.schema_registry_timeout_s,
    )


def codec_for(settings: Settings) -> AvroCodec:
    """The codec over ``schemas/`` that writes each topic in its configured wire format.

    It reads both formats; the Confluent one needs EHCP_SCHEMA_REGISTRY_URL (without it, such a
    message is an unknown schema, dead-lettered by the worker with that reason).
    """
    from schemas import SCHEMA_DIR

    policy = WirePolicy(settings.schema_wire_format, dict(settings.schema_wire_format_topics))
    return AvroCodec(SchemaRegistry(SCHEMA_DIR), ids=registry_client(settings), policy=policy)
