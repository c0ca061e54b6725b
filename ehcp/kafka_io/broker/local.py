"""Assemble, format, start, check and stop a local Kafka broker.

The broker's jars come from Maven Central through Maven (``pom.xml`` beside this file) and are
cached in ``<cache>/<kafka version>/libs``. The broker runs as
``java -cp 'libs/*' kafka.Kafka server.properties`` in KRaft combined mode on 127.0.0.1, with its
data, logs and pid file in one ``home`` folder. Readiness is a real metadata request, not a sleep:
every 0.2 s, once the port accepts connections, with each probe bounded to a few seconds (a
kafka-python admin client otherwise waits up to 30 s to bootstrap, which made ``start`` return
about 10 s after the broker was up).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from ehcp.contract.access import ADMIN_USER, component_names_and_users, component_users
from ehcp.errors import BrokerError, ConfigurationError
from ehcp.kafka_io.broker.tls import BROKER_SUBJECT, TlsFiles, ensure_tls
from ehcp.kafka_io.kafka_clients import kafka_python_config
from ehcp.settings import Settings

KAFKA_VERSION: Final = "4.3.1"
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_JAVA_VERSION_RE: Final = re.compile(r'version "(\d+)')
#: Seconds between readiness probes, and the most one metadata probe may take.
READY_POLL_S: Final = 0.2
PROBE_TIMEOUT_S: Final = 3.0
#: The SCRAM mechanism of a secured local broker (and of its clients' settings).
SCRAM_MECHANISM: Final = "SCRAM-SHA-512"


def check_java() -> str:
    """Path of a Java 17+ ``java``.

    Raises:
        ConfigurationError: one line saying what to install.
    """
    java = shutil.which("java")
    if java is None:
        raise ConfigurationError(
            "Java 17+ is required to run Kafka: install a JDK "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = _JAVA_VERSION_RE.search(out.stderr + out.stdout)
    if match is None or int(match.group(1)) < 17:
        raise ConfigurationError(
            "Java 17+ is required to run Kafka 4.x: install a newer JDK "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        )
    return java


def check_maven() -> str:
    """Path of ``mvn``.

    Raises:
        ConfigurationError: one line saying what to install.
    """
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigurationError(
            "Maven is required to fetch the Kafka jars from Maven Central: "
            "install it (e.g. apt-get install maven)"
        )
    return mvn


def ensure_libs(cache_dir: Path, version: str = KAFKA_VERSION) -> Path:
    """Return the folder of broker jars, fetching them with Maven on first use.

    Raises:
        ConfigurationError: Maven or Java missing.
        BrokerError: Maven failed (its last output lines are included).
    """
    # Absolute: Maven resolves a relative outputDirectory against the pom's folder, not ours.
    cache_dir = cache_dir.resolve()
    libs = cache_dir / version / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = check_maven()
    check_java()
    libs.mkdir(parents=True, exist_ok=True)
    pom = cache_dir / version / "pom.xml"
    pom.write_text(
        resources.files("ehcp.kafka_io.broker")
        .joinpath("pom.xml")
        .read_text()
        .replace(
            "<kafka.version>4.3.1</kafka.version>", f"<kafka.version>{version}</kafka.version>"
        )
    )
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BrokerError(
            f"Maven could not fetch Kafka {version} jars (exit {done.returncode}):\n{tail}"
        )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    marker.write_text(version)
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of 16 random bytes, never starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where and how one local broker runs."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    #: TLS listeners, SASL/SCRAM users and ACLs (``ehcp kafka start --secure``).
    secure: bool = False

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def _listeners(self, admin_password: str | None) -> list[str]:
        if not self.secure:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                "inter.broker.listener.name=PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ]
        if admin_password is None:
            raise ConfigurationError("a secured broker needs the administrator's password")
        tls = TlsFiles(self.home / "tls")
        return [
            # Clients: SASL/SCRAM over TLS. The controller: mutual TLS, so only a holder of the
            # broker's key (the node itself, principal User:CN=ehcp-local-broker) may speak
            # the controller protocol or change metadata there; no anonymous super user.
            f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "inter.broker.listener.name=SASL_SSL",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL",
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{admin_password}";',
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={tls.broker_pem}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls.ca_cert}",
            "listener.name.controller.ssl.client.auth=required",
            "ssl.endpoint.identification.algorithm=https",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN_USER};User:{BROKER_SUBJECT}",
        ]

    def server_properties(self, admin_password: str | None = None) -> str:
        """The broker's ``server.properties``: single node, KRaft combined, loopback only.

        Args:
            admin_password: the administrator's SCRAM password (secured brokers only: the
                broker authenticates to its own SASL listener as the administrator).
        """
        data = self.home / "data"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                *self._listeners(admin_password),
                f"log.dirs={data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Every topic comes from the catalogue (`ehcp topics apply`) or from Faust.
                "auto.create.topics.enable=false",
                "",
            ]
        )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file created with mode 0600 (it holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


class LocalBroker:
    """One broker process, controlled through files in its home folder.

    A secured broker (``config.secure``) also keeps, in its home folder: ``tls/`` (the local CA
    and the broker's key and certificate), ``users.json`` (each SCRAM user's generated password,
    mode 0600) and ``clients/<component>.env`` (the ``EHCP_KAFKA_*`` settings each component
    connects with, mode 0600; ``set -a; . .ehcp/kafka-secure/clients/worker.env``).
    """

    def __init__(self, config: BrokerConfig, cache_dir: Path) -> None:
        # Absolute paths: the broker and Maven run with other working directories in mind.
        self.config = dataclasses.replace(config, home=config.home.resolve())
        self.cache_dir = cache_dir.resolve()
        self.pid_file = config.home / "broker.pid"
        self.log_dir = config.home / "logs"
        self.users_file = self.config.home / "users.json"
        self.tls = TlsFiles(self.config.home / "tls")

    def passwords(self) -> dict[str, str]:
        """Every SCRAM user's password (secured brokers), made on first use and then kept."""
        if self.users_file.exists():
            stored: dict[str, str] = json.loads(self.users_file.read_text())
            return stored
        self.config.home.mkdir(parents=True, exist_ok=True)
        users = {user: secrets.token_urlsafe(24) for user in (ADMIN_USER, *component_users())}
        _write_private(self.users_file, json.dumps(users, indent=2))
        return users

    def client_env(self, user: str = ADMIN_USER) -> dict[str, str]:
        """The ``EHCP_KAFKA_*`` environment a client of this broker runs with, as ``user``."""
        env = {"EHCP_KAFKA_BOOTSTRAP": self.config.bootstrap}
        if not self.config.secure:
            return env
        return {
            **env,
            "EHCP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "EHCP_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "EHCP_KAFKA_SASL_USERNAME": user,
            "EHCP_KAFKA_SASL_PASSWORD": self.passwords()[user],
            "EHCP_KAFKA_SSL_CAFILE": str(self.tls.ca_cert),
        }

    def client_settings(self, user: str = ADMIN_USER, **overrides: Any) -> Settings:
        """Settings that connect to this broker as ``user`` (other fields as given)."""
        env = self.client_env(user)
        fields: dict[str, Any] = {
            key.removeprefix("EHCP_").lower(): value for key, value in env.items()
        }
        return Settings(**{**fields, **overrides})

    def _write_client_envs(self) -> None:
        folder = self.config.home / "clients"
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
        for name, user in (("admin", ADMIN_USER), *component_names_and_users()):
            lines = [f"{key}={value}" for key, value in self.client_env(user).items()]
            _write_private(folder / f"{name}.env", "\n".join(lines) + "\n")

    def _scram_args(self) -> list[str]:
        return [
            arg
            for user, password in self.passwords().items()
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]")
        ]

    def pid(self) -> int | None:
        """The running broker's pid, or None."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self, timeout_s: float = 90.0) -> None:
        """Fetch jars if needed, format storage once, start the broker and wait until it answers.

        Raises:
            ConfigurationError: Java or Maven missing.
            BrokerError: the broker did not start or answer in time (log tail included).
        """
        if self.pid() is not None:
            self.wait_ready(timeout_s)
            return
        java = check_java()
        libs = ensure_libs(self.cache_dir)
        home = self.config.home
        home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        props = home / "server.properties"
        if self.config.secure:
            ensure_tls(self.tls.folder)
            _write_private(props, self.config.server_properties(self.passwords()[ADMIN_USER]))
            self._write_client_envs()
        else:
            props.write_text(self.config.server_properties())
        log4j = home / "log4j2.properties"
        log4j.write_text(
            resources.files("ehcp.kafka_io.broker").joinpath("log4j2.properties").read_text()
        )
        classpath = f"{libs}/*"
        if not (home / "data" / "meta.properties").exists():
            fmt = subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    f"-Dlog4j2.configurationFile={log4j}",
                    f"-Dkafka.logs.dir={self.log_dir}",
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    new_cluster_id(),
                    "-c",
                    str(props),
                    *(self._scram_args() if self.config.secure else []),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise BrokerError(
                    f"kafka-storage format failed: {(fmt.stderr or fmt.stdout).strip()[-800:]}"
                )
        with open(self.log_dir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.config.heap}",
                    f"-Xms{self.config.heap}",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={log4j}",
                    f"-Dkafka.logs.dir={self.log_dir}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(props),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(timeout_s, proc=proc)
        except BrokerError:
            self.stop()
            raise

    def wait_ready(self, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Block until a metadata request succeeds.

        Polls every :data:`READY_POLL_S`: first whether the port accepts a connection (cheap,
        and the usual answer while the JVM starts), then a metadata request bounded to
        :data:`PROBE_TIMEOUT_S`, so readiness is seen within a poll of the broker answering.

        Raises:
            BrokerError: the process died or did not answer in time.
        """
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise BrokerError(f"Kafka exited with {proc.returncode}:\n{self.log_tail()}")
            if not _port_open(self.config.port):
                last = f"nothing listens on {self.config.bootstrap} yet"
            else:
                try:
                    probe_s = max(0.5, min(PROBE_TIMEOUT_S, deadline - time.monotonic()))
                    if metadata_ok(self.config.bootstrap, timeout_s=probe_s,
                                   settings=self._admin_settings()):
                        return
                except BrokerError as exc:
                    last = str(exc)
            time.sleep(READY_POLL_S)
        raise BrokerError(
            f"Kafka did not answer on {self.config.bootstrap} within {timeout_s:.0f}s "
            f"({last}):\n{self.log_tail()}"
        )

    def _admin_settings(self) -> Settings | None:
        return self.client_settings(ADMIN_USER) if self.config.secure else None

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL). True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the broker's logs, for error messages."""
        text = ""
        for name in ("server.log", "stdout.log"):
            path = self.log_dir / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text.strip()


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def metadata_ok(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S,
                settings: Settings | None = None) -> bool:
    """True if the broker answers a metadata request and lists at least one broker.

    Args:
        bootstrap: ``host:port`` of the broker.
        timeout_s: the most the probe may take, connecting included (kafka-python's admin
            client would otherwise keep retrying the bootstrap for 30 s).
        settings: security settings to connect with (a secured broker); none: PLAINTEXT.

    Raises:
        BrokerError: with the client's reason when it cannot connect in time.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = int(timeout_s * 1000)
    try:
        security = {} if settings is None else kafka_python_config(settings)
        security.pop("bootstrap_servers", None)
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            **security,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            reconnect_backoff_max_ms=500,
            client_id="ehcp-ready-check",
        )
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"{type(exc).__name__}: {exc}") from exc
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        admin.close()
