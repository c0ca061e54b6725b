"""``ehcp dev``: the whole pipeline on one machine, with a demo case.

Starts the local broker, applies the topic catalogue, creates demo agency credentials, runs one
stream worker, the connectors and the read-model projector (``ehcp workspace project --follow``,
supervised) as child processes, posts a demo referral, medical advice (FHIR, routed by NHS
number) and educational advice (JSON, by case id), waits until the case shows them, and says
where to look. Ctrl-C stops the children (the broker keeps running until ``ehcp kafka stop``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx

from cli import demo
from cli.case_cmd import render_status
from cli.common import load_settings, reports_errors
from cli.dev_env import apply_dev_env
from cli.dev_workspace import demo_manager, wait_for_tray
from connectors.auth import FileCredentialStore, new_credential
from ehcp.contract.topics import CASE_STATUS, catalogue
from ehcp.errors import EhcpError
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from ehcp.kafka_io.broker.local import BrokerConfig, LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.kafka_io.readers import latest_for_key
from ehcp.readmodel.store import create_tables, open_engine, outdated_columns, reset
from ehcp.schema_registry.codec import codec_for
from ehcp.settings import Settings


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_alive(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is not None:
            raise EhcpError(f"a child process exited with {proc.returncode}; see .ehcp/logs/")


def _wait_http(url: str, procs: list[subprocess.Popen[bytes]], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _check_alive(procs)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise EhcpError(f"{url} did not answer within {timeout_s:.0f}s; see .ehcp/logs/")


def _demo_tokens(settings: Settings) -> dict[str, str]:
    store = FileCredentialStore(settings.credentials_file)
    tokens = {}
    made = []
    for kind, system, value in (
        ("education", LA_CODE_SYSTEM, demo.DEMO_LA),
        ("health", ODS_ORGANISATION_SYSTEM, demo.DEMO_HEALTH_ODS),
        ("local_authority", LA_CODE_SYSTEM, demo.DEMO_LA),
    ):
        credential, token = new_credential(system, value, kind)
        made.append(credential)
        tokens["la_read" if kind == "local_authority" else kind] = token
    store.save([*store.all(), *made])
    return tokens


def wait_for_task(
    client: httpx.Client, headers: dict[str, str], case_id: str, timeout_s: float = 120
) -> dict[str, Any]:
    """Poll ``GET /fhir/Task`` as a health body until it holds a Task for the case; return it.

    A health body answers only what it was asked: the Task appears once the worker has handled
    the referral and the connectors have read the advice request from Kafka.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get("/fhir/Task", headers=headers)
        if response.status_code != 200:
            raise EhcpError(
                f"GET /fhir/Task answered {response.status_code}: {response.text[:300]}"
            )
        for entry in response.json().get("entry", []):
            task = entry["resource"]
            if task.get("groupIdentifier", {}).get("value") == case_id:
                return dict(task)
        time.sleep(0.5)
    raise EhcpError(f"no health Task for case {case_id} within {timeout_s:.0f}s")


def post_demo(base_url: str, tokens: dict[str, str], now: datetime) -> list[str]:
    """Post the demo case's referral and advice; return one line per request sent.

    The medical advice is posted once the health body sees its Task (advice is accepted only
    from a body that was asked about the child).
    """
    received_at, submitted_at = demo.demo_times(now)
    lines = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        edu = {"Authorization": f"Bearer {tokens['education']}"}
        health = {
            "Authorization": f"Bearer {tokens['health']}",
            "Content-Type": "application/fhir+json",
        }

        def send(label: str, response: httpx.Response) -> None:
            if response.status_code >= 300:
                raise EhcpError(f"{label} answered {response.status_code}: {response.text[:300]}")
            lines.append(f"{label} -> {response.status_code}")

        send(
            "POST /api/education/referrals",
            client.post("/api/education/referrals", json=demo.referral(received_at), headers=edu),
        )
        task = wait_for_task(client, health, demo.DEMO_CASE)
        lines.append(f"GET /fhir/Task -> Task/{task['id']} ({task['status']}, due "
                     f"{task['restriction']['period']['end']})")
        send(
            "POST /fhir/DocumentReference (medical, by NHS number)",
            client.post(
                "/fhir/DocumentReference",
                headers=health,
                json=demo.medical_advice(
                    submitted_at, str(uuid.uuid5(uuid.NAMESPACE_URL, demo.DEMO_CASE))
                ),
            ),
        )
        send(
            "POST /api/education/advice (educational, by case id)",
            client.post(
                "/api/education/advice", json=demo.educational_advice(submitted_at), headers=edu
            ),
        )
    return lines


def wait_for_advice(
    settings: Settings,
    case_id: str,
    received: set[str],
    timeout_s: float,
    procs: list[subprocess.Popen[bytes]] | None = None,
) -> dict[str, Any]:
    """Poll the case-status topic until the given advice types show RECEIVED."""
    codec = codec_for(settings)
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        _check_alive(procs or [])
        record = latest_for_key(settings, CASE_STATUS.name, case_id)
        if record is not None:
            _, status = codec.decode(record.value or b"")
            got = {a["advice_type"] for a in status["advice"] if a["status"] == "RECEIVED"}
            if received <= got:
                return status
        time.sleep(1)
    raise EhcpError(
        f"case {case_id} did not show {sorted(received)} received within {timeout_s:.0f}s"
        + (f"; last status: {status}" if status else "")
    )


def _fresh_readmodel(settings: Settings) -> None:
    """Create the read model's tables, remaking a read model an older version made (it is a
    projection of Kafka, so nothing is lost: the projector reads the topics again)."""
    engine = open_engine(settings.readmodel_database_url())
    try:
        if outdated_columns(engine):
            click.echo("read model made by an older version: rebuilding it from Kafka")
            reset(engine)
        create_tables(engine)
    finally:
        engine.dispose()


@click.command("dev")
@click.option("--exit-after-demo", is_flag=True, help="Stop everything once the demo case shows.")
@click.option("--state", type=click.Path(path_type=Path), default=Path(".ehcp"), show_default=True)
@reports_errors
def dev(exit_after_demo: bool, state: Path) -> None:
    """Run broker, topics, worker and connectors locally, and load a demo case."""
    # Stop the children on SIGTERM as on Ctrl-C (also when started where SIGINT is ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    apply_dev_env(state / "dev.env")
    os.environ.setdefault("EHCP_ALERT_TICK_S", "10")
    # The workspace on http://127.0.0.1 for this local run only (no certificate here).
    os.environ.setdefault("EHCP_WORKSPACE_PLAIN_HTTP", "true")
    settings = load_settings()
    port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    broker = LocalBroker(
        BrokerConfig(home=state / "kafka-home", port=port, controller_port=port + 1),
        state / "kafka",
    )
    click.echo(
        f"starting Kafka on {settings.kafka_bootstrap} (first run fetches jars with Maven) ..."
    )
    broker.start()
    changes = apply_topics(settings, catalogue(settings.app_id))
    click.echo(
        f"topics: {len(changes)} change(s); {len(catalogue(settings.app_id))} in the catalogue"
    )
    tokens = _demo_tokens(settings)
    logs = state / "logs"
    _fresh_readmodel(settings)
    signin = demo_manager(settings, state)
    procs = [
        _spawn(["worker"], logs / "worker.log"),
        _spawn(["connectors"], logs / "connectors.log"),
        _spawn(["workspace", "project", "--follow", "--supervise"], logs / "projector.log"),
        _spawn(["workspace", "serve", "--supervise"], logs / "workspace.log"),
        # The notifier (its own supervisor restarts it); subscriptions: `ehcp notify subscribe`.
        _spawn(["notify", "run"], logs / "notify.log"),
    ]
    base_url = f"http://{settings.http_host}:{settings.http_port}"
    workspace_url = f"http://{settings.workspace_host}:{settings.workspace_port}"
    try:
        _wait_http(f"{base_url}/healthz", procs)
        _wait_http(f"{workspace_url}/healthz", procs)
        for line in post_demo(base_url, tokens, datetime.now(UTC)):
            click.echo(line)
        status = wait_for_advice(settings, demo.DEMO_CASE, {"MEDICAL", "EDUCATIONAL"}, 180, procs)
        click.echo("")
        click.echo(render_status(status))
        overdue = wait_for_tray(settings, demo.DEMO_CASE, 180, lambda: _check_alive(procs))
        click.echo("")
        click.echo(f"LA workspace: {workspace_url}/  (work tray: {overdue} overdue item(s) of "
                   f"{demo.DEMO_CASE})")
        click.echo(f"  sign in as {signin.username}, password {signin.password}")
        click.echo(f"  second factor: add {signin.otpauth_uri}")
        click.echo("  to an authenticator app, or print the current code with")
        code = f"import pyotp; print(pyotp.TOTP('{signin.secret}').now())"
        click.echo(f'  .venv/bin/python -c "{code}"')
        click.echo("")
        click.echo("Where to look:")
        click.echo(
            f"  ehcp case show {demo.DEMO_CASE}      live case state (compacted case-status topic)"
        )
        click.echo("  ehcp alerts tail                     due-soon and overdue advice alerts")
        click.echo("  ehcp notify subscribe|status         email and webhook notifications")
        click.echo(
            f"  {base_url}/fhir/metadata   FHIR CapabilityStatement; {base_url}/docs  JSON API"
        )
        click.echo(f"  {base_url}/api/la/cases          the LA's pull API (token la_read)")
        click.echo(f"  logs in {logs}/; demo tokens (education, health, la_read) in "
                   f"{state}/demo-tokens.txt")
        (state / "demo-tokens.txt").write_text("".join(f"{k}={v}\n" for k, v in tokens.items()))
        (state / "demo-tokens.txt").chmod(0o600)
        if exit_after_demo:
            return
        click.echo(
            "Running. Ctrl-C stops the worker, connectors and projector (`ehcp kafka stop` "
            "stops Kafka)."
        )
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        raise EhcpError("a child process exited; see the logs")
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
