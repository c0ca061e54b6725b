"""``ehcp workspace project|rebuild``: the workspace read model (see docs/readmodel.md)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from cli.common import load_settings, reports_errors
from ehcp.kafka_io.kafka_clients import require_access
from ehcp.kafka_io.projector import ProjectionReport, project
from ehcp.logs import configure_logging
from ehcp.readmodel.store import create_tables, open_engine, reset
from ehcp.schema_registry.codec import codec_for
from ehcp.settings import Settings


@click.group("workspace")
def workspace() -> None:
    """The workspace read model: the topics projected into a SQL database."""


def _run(settings: Settings, *, rebuild: bool, follow: bool) -> ProjectionReport:
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    settings.pseudonym_key_bytes()  # the child-search pseudonyms need it: fail before any reset
    engine = open_engine(settings.readmodel_database_url())
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if rebuild:
            reset(engine)
        else:
            create_tables(engine)
        return project(settings, engine, codec_for(settings), follow=follow,
                       should_stop=lambda: stopping)
    finally:
        signal.signal(signal.SIGTERM, previous)
        engine.dispose()


@workspace.command("project")
@click.option("--follow/--no-follow", default=False,
              help="Keep projecting new records (until SIGTERM or Ctrl-C), or stop at the end.")
@click.option("--supervise/--no-supervise", default=False,
              help="With --follow: run the projector as a child and restart it if it exits on "
                   "its own (the database or Kafka went away); SIGTERM stops both.")
@reports_errors
def project_(follow: bool, supervise: bool) -> None:
    """Project the topics into the read model, from the offsets stored with its data."""
    require_access(load_settings())
    if follow and supervise:
        from cli.supervisor import supervise as run_supervised

        raise SystemExit(run_supervised(
            [sys.executable, "-m", "cli.main", "workspace", "project", "--follow"]))
    try:
        report = _run(load_settings(), rebuild=False, follow=follow)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        return
    click.echo(f"{report.applied} record(s) projected")


@workspace.command("rebuild")
@reports_errors
def rebuild() -> None:
    """Drop and recreate the read model's tables and project every topic from the beginning."""
    report = _run(load_settings(), rebuild=True, follow=False)
    click.echo(f"read model rebuilt from {report.applied} record(s)")


@workspace.command("serve")
@click.option("--supervise/--no-supervise", default=False,
              help="Run the server as a child and restart it if it exits on its own (as "
                   "`workspace project --supervise`); SIGTERM stops both.")
@reports_errors
def serve(supervise: bool) -> None:
    """Serve the LA workspace web app (EHCP_WORKSPACE_HOST:EHCP_WORKSPACE_PORT)."""
    import uvicorn

    from ehcp.errors import ConfigurationError
    from workspace.app import create_production_app

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    tls = settings.tls_certfile is not None and settings.tls_keyfile is not None
    if not tls and not settings.workspace_plain_http:
        raise ConfigurationError(
            "the workspace serves HTTPS only: set EHCP_TLS_CERTFILE and EHCP_TLS_KEYFILE, or "
            "EHCP_WORKSPACE_PLAIN_HTTP=true for a local development run")
    require_access(settings)
    if supervise:
        from cli.supervisor import supervise as run_supervised

        raise SystemExit(run_supervised(
            [sys.executable, "-m", "cli.main", "workspace", "serve"]))
    uvicorn.run(
        create_production_app(settings), host=settings.workspace_host,
        port=settings.workspace_port, log_config=None, access_log=False,
        ssl_certfile=str(settings.tls_certfile) if tls else None,
        ssl_keyfile=str(settings.tls_keyfile) if tls else None,
    )
