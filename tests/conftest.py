"""Session fixtures: one real Kafka broker (and one PostgreSQL server) per test session, started
only if a test needs it.

The broker runs from the jars ``ehcp kafka`` caches (fetched with Maven on first use), with a
fresh data folder and free ports, and is stopped when the session ends, whether tests passed or
failed. Unit tests never touch it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ehcp.contract.topics import catalogue
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.kafka_clients import apply_topics
from ehcp.settings import Settings
from tests.support import free_ports, start_local_broker

REPO = Path(__file__).resolve().parent.parent


#: ``EHCP_TEST_KAFKA_PROFILE=secure`` runs the suite's session broker secured (TLS, SASL/SCRAM,
#: ACLs): ``kafka_settings`` then connects over SASL_SSL as the admin principal, so every test
#: built on it exercises the secured transport. Default: ``plain`` (PLAINTEXT).
KAFKA_PROFILE = os.environ.get("EHCP_TEST_KAFKA_PROFILE", "plain")
if KAFKA_PROFILE not in ("plain", "secure"):
    raise RuntimeError("EHCP_TEST_KAFKA_PROFILE must be plain or secure")


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A secured broker (TLS, SCRAM users per component, StandardAuthorizer) on other ports."""
    broker = start_local_broker(tmp_path_factory.mktemp("kafka-secure"), secure=True)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The session broker of the chosen profile (``EHCP_TEST_KAFKA_PROFILE``)."""
    if KAFKA_PROFILE == "secure":
        yield request.getfixturevalue("secure_broker")
        return
    broker = start_local_broker(tmp_path_factory.mktemp("kafka-home"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    """The session broker's bootstrap address."""
    return kafka_broker.config.bootstrap


@pytest.fixture(scope="session")
def kafka_security(kafka_broker: LocalBroker) -> dict[str, Any]:
    """Settings fields that connect to the session broker (admin over SASL_SSL when secured)."""
    if not kafka_broker.config.secure:
        return {}
    admin = kafka_broker.client_settings()
    return {
        "kafka_security_protocol": admin.kafka_security_protocol,
        "kafka_sasl_mechanism": admin.kafka_sasl_mechanism,
        "kafka_sasl_username": admin.kafka_sasl_username,
        "kafka_sasl_password": admin.kafka_sasl_password,
        "kafka_ssl_cafile": admin.kafka_ssl_cafile,
    }


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a real Apicurio Registry (in memory) for the session; yield its Confluent API URL.

    Its archive is fetched with Maven into ``.ehcp/apicurio`` on first use, like the Kafka jars.
    """
    from ehcp.schema_registry.local import LocalRegistry

    (port,) = free_ports(1)
    registry = LocalRegistry(tmp_path_factory.mktemp("apicurio"), port, REPO / ".ehcp" / "apicurio")
    registry.start()
    try:
        yield registry.url
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def pseudonym_key() -> str:
    """A random pseudonym key for this session."""
    return secrets.token_hex(32)


@pytest.fixture(scope="session")
def kafka_settings(
    kafka_bootstrap: str, kafka_security: dict[str, Any], pseudonym_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """Settings pointing at the session broker, with the catalogue's topics applied."""
    state = tmp_path_factory.mktemp("ehcp-state")
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        pseudonym_key=pseudonym_key,
        partitions=4,
        app_id="ehcp-test-streams",
        data_dir=state / "data",
        credentials_file=state / "credentials.json",
        documents_dir=state / "documents",
        alert_tick_s=1.0,
        log_json=True,
        **kafka_security,
    )
    apply_topics(settings, catalogue(settings.app_id))
    return settings


def _postgres_bin() -> Path:
    """The newest Debian ``postgresql`` package's binaries (``/usr/lib/postgresql/<ver>/bin``)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (see .ci/run)")
    return versions[-1].parent


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a fresh PostgreSQL cluster on a free port of 127.0.0.1; yield its base URL.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` OS user
    (``runuser``). The folder is made directly under the temp root (pytest's own is root-only).
    The URL has no database: :func:`postgres_url` creates one per test.
    """
    bin_dir = _postgres_bin()
    home = Path(tempfile.mkdtemp(prefix="ehcp-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    (port,) = free_ports(1)
    data = home / "data"

    def pg(*args: str) -> None:
        done = subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")

    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "--username=ehcp",
           "--encoding=UTF8", "--no-instructions")
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w",
           "-t", "60", "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off",
           "start")
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    try:
        yield f"postgresql+psycopg://ehcp@127.0.0.1:{port}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's PostgreSQL server, for one test."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    conninfo = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"
