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
from typing import Final

from ehcp.errors import BrokerError, ConfigurationError

KAFKA_VERSION: Final = "4.3.1"
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_JAVA_VERSION_RE: Final = re.compile(r'version "(\d+)')
#: Seconds between readiness probes, and the most one metadata probe may take.
READY_POLL_S: Final = 0.2
PROBE_TIMEOUT_S: Final = 3.0


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

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def server_properties(self) -> str:
        """The broker's ``server.properties``: single node, KRaft combined, loopback only."""
        data = self.home / "data"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                "inter.broker.listener.name=PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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


class LocalBroker:
    """One broker process, controlled through files in its home folder."""

    def __init__(self, config: BrokerConfig, cache_dir: Path) -> None:
        # Absolute paths: the broker and Maven run with other working directories in mind.
        self.config = dataclasses.replace(config, home=config.home.resolve())
        self.cache_dir = cache_dir.resolve()
        self.pid_file = config.home / "broker.pid"
        self.log_dir = config.home / "logs"

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
                    if metadata_ok(self.config.bootstrap, timeout_s=probe_s):
                        return
                except BrokerError as exc:
                    last = str(exc)
            time.sleep(READY_POLL_S)
        raise BrokerError(
            f"Kafka did not answer on {self.config.bootstrap} within {timeout_s:.0f}s "
            f"({last}):\n{self.log_tail()}"
        )

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


def metadata_ok(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True if the broker answers a metadata request and lists at least one broker.

    Args:
        bootstrap: ``host:port`` of the broker.
        timeout_s: the most the probe may take, connecting included (kafka-python's admin
            client would otherwise keep retrying the bootstrap for 30 s).

    Raises:
        BrokerError: with the client's reason when it cannot connect in time.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
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
