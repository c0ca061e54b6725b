"""``ehcp kafka start|stop|status``: the local single-node broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.common import load_settings, reports_errors
from ehcp.contract.access import components, expected_grants, grants_for
from ehcp.errors import BrokerError
from ehcp.kafka_io.acls import apply_acls, check_acls
from ehcp.kafka_io.broker.local import KAFKA_VERSION, BrokerConfig, LocalBroker, metadata_ok
from ehcp.settings import Settings


def _broker(home: Path, port: int, controller_port: int, cache: Path,
            secure: bool = False) -> LocalBroker:
    if secure and home == DEFAULT_HOME:
        home = SECURE_HOME
    return LocalBroker(
        BrokerConfig(home=home, port=port, controller_port=controller_port, secure=secure), cache
    )


DEFAULT_HOME = Path(".ehcp/kafka-home")
#: A secured broker's default home: its own, so the plain broker's data is never reformatted.
SECURE_HOME = Path(".ehcp/kafka-secure")

_options = [
    click.option(
        "--home",
        type=click.Path(path_type=Path),
        default=DEFAULT_HOME,
        envvar="EHCP_KAFKA_HOME",
        show_default=True,
        help="Broker data, logs and pid.",
    ),
    click.option("--port", type=int, default=9092, envvar="EHCP_KAFKA_PORT", show_default=True),
    click.option(
        "--controller-port",
        type=int,
        default=9093,
        envvar="EHCP_KAFKA_CONTROLLER_PORT",
        show_default=True,
    ),
    click.option(
        "--cache",
        type=click.Path(path_type=Path),
        default=Path(".ehcp/kafka"),
        envvar="EHCP_KAFKA_CACHE",
        show_default=True,
        help="Where the jars are cached.",
    ),
    click.option(
        "--secure",
        is_flag=True,
        help="The secured broker: TLS listeners (a local CA), SASL/SCRAM-SHA-512 users per "
        f"component and the standard authorizer (no ACL: no access). Its home defaults to "
        f"{SECURE_HOME}: a home is formatted secured or not.",
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def broker_options(func: F) -> F:
    """Attach the shared broker options."""
    for option in reversed(_options):
        func = option(func)
    return func


@click.group("kafka")
def kafka() -> None:
    """Run a local Apache Kafka broker (KRaft, single node, 127.0.0.1)."""


@kafka.command()
@broker_options
@reports_errors
def start(home: Path, port: int, controller_port: int, cache: Path, secure: bool) -> None:
    """Fetch Kafka from Maven Central (once), format storage (once) and start the broker."""
    broker = _broker(home, port, controller_port, cache, secure)
    home = broker.config.home
    if secure != _formatted_secure(broker):
        raise click.UsageError(
            f"{home} holds a {'plain' if secure else 'secured'} broker: give another --home"
        )
    broker.start()
    click.echo(
        f"Kafka {KAFKA_VERSION} is up on 127.0.0.1:{port} (pid {broker.pid()}, data in {home})"
    )
    if secure:
        clients = broker.config.home / "clients"
        click.echo(
            f"SASL_SSL with SCRAM-SHA-512; CA certificate {broker.tls.ca_cert}.\n"
            f"Each component's settings (mode 0600): {clients}/<component>.env "
            "(admin, connectors, worker, projector, workspace, notifier, cli).\n"
            "No ACLs yet, so only the admin may do anything: run, as the admin,\n"
            f"  set -a; . {clients}/admin.env; set +a; ehcp topics apply; ehcp kafka acls apply"
        )


def _formatted_secure(broker: LocalBroker) -> bool:
    """Whether the broker's home was formatted secured (a fresh home may become either)."""
    formatted = (broker.config.home / "data" / "meta.properties").exists()
    if not formatted:
        return broker.config.secure
    return broker.users_file.exists()


@kafka.command()
@broker_options
@reports_errors
def stop(home: Path, port: int, controller_port: int, cache: Path, secure: bool) -> None:
    """Stop the broker."""
    stopped = _broker(home, port, controller_port, cache, secure).stop()
    click.echo("Kafka stopped" if stopped else "Kafka was not running")


@kafka.command()
@broker_options
def status(home: Path, port: int, controller_port: int, cache: Path, secure: bool) -> None:
    """Say whether the broker runs and answers a metadata request (exit 1 if not)."""
    broker = _broker(home, port, controller_port, cache, secure)
    pid = broker.pid()
    try:
        answering = metadata_ok(
            f"127.0.0.1:{port}", settings=broker.client_settings() if secure else None
        )
    except BrokerError:
        answering = False
    click.echo(
        f"process: {'pid ' + str(pid) if pid else 'not running'}; "
        f"127.0.0.1:{port}: {'answering' if answering else 'not answering'}"
    )
    raise SystemExit(0 if answering else 1)


@kafka.group("acls")
def acls() -> None:
    """Least-privilege ACLs for each component's principal, derived from the topic catalogue."""


def _print_grants(settings: Settings) -> None:
    for component in components(settings.app_id, settings.notify_group_id):
        click.echo(f"{component.principal}  ({component.what})")
        for grant in sorted(grants_for(component)):
            click.echo(f"  {grant.operation:<16} {grant.resource.lower():<5} {grant.name}")


@acls.command("apply")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@reports_errors
def acls_apply(dry_run: bool) -> None:
    """Grant each component exactly what it needs (idempotent); run as the admin.

    Prints every principal's grants, then what changed: missing ACLs created, and any other
    ACL naming one of these principals (a widened grant) deleted.
    """
    settings = load_settings()
    expected = expected_grants(settings.app_id, settings.notify_group_id)
    _print_grants(settings)
    drift = apply_acls(settings, expected, dry_run=dry_run)
    verb = "would " if dry_run else ""
    for acl in sorted(drift.missing):
        click.echo(f"{verb}create: {acl}")
    for acl in sorted(drift.unexpected):
        click.echo(f"{verb}delete: {acl}")
    if drift.ok:
        click.echo("ACLs are up to date")


@acls.command("check")
@reports_errors
def acls_check() -> None:
    """Compare the broker's ACLs with the expected ones (exit 1 on any difference)."""
    settings = load_settings()
    drift = check_acls(settings, expected_grants(settings.app_id, settings.notify_group_id))
    for acl in sorted(drift.missing):
        click.echo(f"missing: {acl}")
    for acl in sorted(drift.unexpected):
        click.echo(f"unexpected: {acl}")
    if not drift.ok:
        raise SystemExit(1)
    click.echo("ACLs match the catalogue")
