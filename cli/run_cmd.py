"""``ehcp worker`` and ``ehcp connectors``: the long-running processes."""

from __future__ import annotations

import sys

import click

from cli.common import load_settings, reports_errors
from ehcp.logs import configure_logging, faust_logging_config


@click.command("worker")
@click.option(
    "--no-supervise",
    is_flag=True,
    help="Run Faust in this process, without the restarting supervisor.",
)
@reports_errors
def worker(no_supervise: bool) -> None:
    """Run a stream worker (join more for more throughput: same EHCP_APP_ID, same group).

    By default a supervisor runs the Faust worker as a child and restarts it if it exits on its
    own: the worker crashes on purpose when Faust skips or stalls on input offsets, so that the
    restart re-reads from the last committed offset.
    """
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    if not no_supervise:
        from cli.supervisor import supervise_worker

        raise SystemExit(
            supervise_worker(
                settings, [sys.executable, "-m", "cli.main", "worker", "--no-supervise"]
            )
        )
    import faust

    from streams.app import create_app
    from streams.safety import exit_when_a_crash_hangs

    app = create_app(settings)
    exit_when_a_crash_hangs(30.0)  # Faust's stop can hang after a guard's crash; restart anyway
    logging_config = faust_logging_config(
        settings.log_level, settings.log_json, settings.log_repeat_interval_s
    )
    faust.Worker(
        app, loglevel=settings.log_level.lower(), quiet=True, logging_config=logging_config
    ).execute_from_commandline()


@click.command("connectors")
@reports_errors
def connectors() -> None:
    """Serve the agency connectors (FHIR, education, social care) over HTTP(S)."""
    import uvicorn

    from connectors.app import create_production_app

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    certfile = str(settings.tls_certfile) if settings.tls_certfile else None
    keyfile = str(settings.tls_keyfile) if settings.tls_keyfile else None
    if settings.http_workers > 1:  # each worker process builds its own app from the environment
        uvicorn.run(
            "connectors.app:production_app", factory=True, workers=settings.http_workers,
            host=settings.http_host, port=settings.http_port, log_config=None,
            access_log=False, ssl_certfile=certfile, ssl_keyfile=keyfile,
            # uvicorn kills a worker process that does not answer its health ping within this
            # many seconds (default 5) and starts another; on a loaded host a starting worker
            # (imports, schemas, Kafka feeds) took longer, and was killed again and again.
            timeout_worker_healthcheck=30,
        )
        return
    uvicorn.run(
        create_production_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
