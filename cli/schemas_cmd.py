"""``ehcp schemas register|status``: this build's Avro schemas in the schema registry."""

from __future__ import annotations

import click

from cli.common import load_settings, reports_errors
from ehcp.contract.avro import SchemaRegistry
from ehcp.schema_registry.admin import register_all, status
from ehcp.schema_registry.client import RegistryClient
from ehcp.schema_registry.codec import registry_client


def _client() -> RegistryClient:
    client = registry_client(load_settings())
    if client is None:
        raise click.ClickException("EHCP_SCHEMA_REGISTRY_URL is not set")
    return client


def _schemas() -> SchemaRegistry:
    from schemas import SCHEMA_DIR

    return SchemaRegistry(SCHEMA_DIR)


@click.group("schemas")
def schemas() -> None:
    """The Avro schemas in a Confluent-compatible schema registry (EHCP_SCHEMA_REGISTRY_URL)."""


@schemas.command("register")
@reports_errors
def register() -> None:
    """Register every schema version under its record's subject, mode FULL_TRANSITIVE.

    Run it before writers use EHCP_SCHEMA_WIRE_FORMAT=confluent (they look ids up, never
    register). Idempotent; a version the registry refuses as incompatible stops it (exit 1).
    """
    client = _client()
    try:
        for done in register_all(client, _schemas()):
            click.echo(f"{done.subject} v{done.version}: id {done.schema_id}")
    finally:
        client.close()


@schemas.command("status")
@reports_errors
def status_() -> None:
    """Print each record's newest version, its registry id (or 'not registered') and mode."""
    client = _client()
    try:
        for row in status(client, _schemas()):
            schema_id = "not registered" if row.schema_id is None else f"id {row.schema_id}"
            click.echo(f"{row.subject} v{row.version}: {schema_id}, "
                       f"compatibility {row.compatibility or 'registry default'}")
    finally:
        client.close()
