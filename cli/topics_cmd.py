"""``ehcp topics apply|list``: the topic catalogue on the broker."""

from __future__ import annotations

import click

from cli.common import load_settings, reports_errors
from ehcp.contract.topics import catalogue, with_retention
from ehcp.kafka_io.kafka_clients import apply_topics


@click.group("topics")
def topics() -> None:
    """Create and inspect the catalogue's topics."""


@topics.command("apply")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@reports_errors
def apply(dry_run: bool) -> None:
    """Create missing topics and align their configuration (idempotent)."""
    settings = load_settings()
    changes = apply_topics(settings, catalogue(settings.app_id), dry_run=dry_run)
    for change in changes:
        click.echo(
            f"{'would ' if dry_run else ''}{change.action}: {change.topic} ({change.detail})"
        )
    if not changes:
        click.echo("topics are up to date")


@topics.command("list")
@reports_errors
def list_() -> None:
    """Print the catalogue: name, key, value schema, cleanup policy, retention, description.

    Retention is what `topics apply` sets: the catalogue's, or EHCP_TOPIC_RETENTION_MS's.
    """
    settings = load_settings()
    specs = with_retention(catalogue(settings.app_id), settings.topic_retention_ms,
                           settings.app_id)
    for spec in specs:
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms}ms"
        click.echo(
            f"{spec.name}\tkey={spec.key}\tvalue={spec.value_schema or 'raw bytes'}\t"
            f"{spec.cleanup_policy}\tretention={retention}\t{spec.description}"
        )
