"""``ehcp kafka start|stop|status``: the local single-node broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.common import reports_errors
from ehcp.errors import BrokerError
from ehcp.kafka_io.broker.local import KAFKA_VERSION, BrokerConfig, LocalBroker, metadata_ok


def _broker(home: Path, port: int, controller_port: int, cache: Path,
            secure: bool = False) -> LocalBroker:
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
@click.option(
    "--secure",
    is_flag=True,
    help="TLS listeners (a local CA), SASL/SCRAM-SHA-512 users per component and the standard "
    "authorizer (no ACL: no access). Use its own --home: a home is formatted secured or not.",
)
@reports_errors
def start(home: Path, port: int, controller_port: int, cache: Path, secure: bool) -> None:
    """Fetch Kafka from Maven Central (once), format storage (once) and start the broker."""
    if secure and home == DEFAULT_HOME:
        home = SECURE_HOME
    broker = _broker(home, port, controller_port, cache, secure)
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
def stop(home: Path, port: int, controller_port: int, cache: Path) -> None:
    """Stop the broker."""
    stopped = _broker(home, port, controller_port, cache).stop()
    click.echo("Kafka stopped" if stopped else "Kafka was not running")


@kafka.command()
@broker_options
def status(home: Path, port: int, controller_port: int, cache: Path) -> None:
    """Say whether the broker runs and answers a metadata request (exit 1 if not)."""
    broker = _broker(home, port, controller_port, cache)
    pid = broker.pid()
    try:
        answering = metadata_ok(f"127.0.0.1:{port}")
    except BrokerError:
        answering = False
    click.echo(
        f"process: {'pid ' + str(pid) if pid else 'not running'}; "
        f"127.0.0.1:{port}: {'answering' if answering else 'not answering'}"
    )
    raise SystemExit(0 if answering else 1)
