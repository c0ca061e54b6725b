"""Fetch, start and stop a local Apicurio Registry (in memory) for development and tests.

Apicurio Registry 3.0.9 is published on Maven Central as one archive,
``io.apicurio:apicurio-registry-app:3.0.9:tar.gz:all`` (a Quarkus runner jar and its ``lib/``).
Its parent POM (``io.apicurio:apicurio-registry:3.0.9``) is not on Central, so the dependency
plugin cannot resolve the artifact (it reads the descriptor first, even with
``-Dtransitive=false``); Maven's wagon plugin downloads the one file instead, and the archive is
checked against the SHA-1 Central publishes beside it before it is unpacked. It runs on Java 17
with its default in-memory (H2) storage, on 127.0.0.1 only, and answers the Confluent API at
``/apis/ccompat/v7``. 3.1.x is not on Central and 3.3.x needs Java 21.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from ehcp.errors import BrokerError
from ehcp.kafka_io.broker.local import check_java, check_maven

APICURIO_VERSION: Final = "3.0.9"
WAGON_PLUGIN: Final = "org.codehaus.mojo:wagon-maven-plugin:2.0.2"
CENTRAL: Final = "https://repo.maven.apache.org/maven2"
CCOMPAT_PATH: Final = "/apis/ccompat/v7"


def _artifact_path(version: str) -> str:
    return (f"io/apicurio/apicurio-registry-app/{version}/"
            f"apicurio-registry-app-{version}-all.tar.gz")


def _download(mvn: str, remote: str, target: Path) -> None:
    cmd = [mvn, "-B", "-q", f"{WAGON_PLUGIN}:download-single", f"-Dwagon.url={CENTRAL}",
           f"-Dwagon.fromFile={remote}", f"-Dwagon.toFile={target}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0 or not target.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"Maven could not fetch {remote} (exit {done.returncode}):\n{tail}")


def ensure_registry(cache_dir: Path, version: str = APICURIO_VERSION) -> Path:
    """The folder holding Apicurio's runner jar, fetched with Maven and unpacked on first use.

    Raises:
        ConfigurationError: Maven or Java missing.
        BrokerError: the download failed or its checksum does not match.
    """
    home = cache_dir.resolve() / version
    marker = home / ".complete"
    if marker.exists():
        return home
    mvn = check_maven()
    check_java()
    home.mkdir(parents=True, exist_ok=True)
    archive = home / "registry.tar.gz"
    sha1 = home / "registry.tar.gz.sha1"
    _download(mvn, _artifact_path(version), archive)
    _download(mvn, _artifact_path(version) + ".sha1", sha1)
    expected = sha1.read_text().split()[0].strip().lower()
    actual = hashlib.sha1(archive.read_bytes(), usedforsecurity=False).hexdigest()
    if actual != expected:
        archive.unlink()
        raise BrokerError(f"Apicurio {version} archive checksum {actual} != published {expected}")
    with tarfile.open(archive) as tar:
        tar.extractall(home / "app", filter="data")
    archive.unlink()
    if not any((home / "app").glob("*-runner.jar")):
        raise BrokerError(f"no Apicurio runner jar in {home / 'app'}")
    marker.write_text(version)
    return home


@dataclass
class LocalRegistry:
    """One Apicurio Registry process on 127.0.0.1 (storage in memory: gone when it stops)."""

    home: Path
    port: int
    cache_dir: Path
    heap: str = "384m"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the Confluent-compatible API."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    @property
    def log_file(self) -> Path:
        """Where the registry's output goes."""
        return self.home / "registry.log"

    def start(self, timeout_s: float = 180) -> None:
        """Start the registry and wait until its Confluent API answers.

        Raises:
            BrokerError: it exited or did not answer in time (the log's tail is included).
        """
        java = check_java()
        app = ensure_registry(self.cache_dir) / "app"
        jar = next(app.glob("*-runner.jar"))
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [java, f"-Xmx{self.heap}", "-Dquarkus.http.host=127.0.0.1",
                 f"-Dquarkus.http.port={self.port}", "-Dquarkus.analytics.disabled=true",
                 "-jar", str(jar)],
                cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"Apicurio exited ({self.process.returncode}):\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"Apicurio did not answer within {timeout_s:.0f}s:\n{self.tail()}")

    def ready(self) -> bool:
        """True if the Confluent API lists subjects."""
        try:
            return httpx.get(f"{self.url}/subjects", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop the registry (SIGTERM, then SIGKILL after 30 s)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def tail(self, lines: int = 20) -> str:
        """The last lines of the registry's log."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def main() -> None:
    """``python -m ehcp.schema_registry.local fetch [cache]``: fetch Apicurio ahead of the tests."""
    import sys

    if len(sys.argv) < 2 or sys.argv[1] != "fetch":
        raise SystemExit("usage: python -m ehcp.schema_registry.local fetch [cache folder]")
    cache = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".ehcp/apicurio")
    print(ensure_registry(cache))


if __name__ == "__main__":
    main()
