"""The local broker's prerequisites: a clear one-line error when Java or Maven is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehcp.errors import ConfigurationError
from ehcp.kafka_io.broker.local import (
    BrokerConfig,
    check_java,
    check_maven,
    ensure_libs,
    new_cluster_id,
)


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no java on PATH the error is one line naming Java 17+ and how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError) as info:
        check_java()
    assert "Java 17+" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_maven_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no mvn on PATH, fetching the jars fails with one line naming Maven."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="Maven is required"):
        check_maven()
    with pytest.raises(ConfigurationError, match="Maven is required"):
        ensure_libs(tmp_path / "cache")


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A java that reports version 11 is refused: Kafka 4.x needs 17."""
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="Java 17"):
        check_java()


def test_server_properties_bind_loopback_and_disable_auto_create(tmp_path: Path) -> None:
    """The broker listens on 127.0.0.1 only, on the configured ports, with auto topic creation off."""
    props = BrokerConfig(home=tmp_path, port=19092, controller_port=19093).server_properties()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in props
    assert "auto.create.topics.enable=false" in props
    assert "process.roles=broker,controller" in props


def test_cluster_ids_are_22_url_safe_characters_not_starting_with_dash() -> None:
    """KRaft cluster ids are base64url of 16 bytes without padding and never start with '-'."""
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22
        assert not cid.startswith("-")


def test_relative_cache_folder_is_made_absolute_for_maven(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Maven gets an absolute outputDirectory even when the cache is given relative to the cwd."""
    import subprocess

    from ehcp.kafka_io.broker import local

    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        out = next(a for a in cmd if a.startswith("-DoutputDirectory="))
        libs = Path(out.split("=", 1)[1])
        (libs / "kafka_2.13-4.3.1.jar").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(local, "check_maven", lambda: "mvn")
    monkeypatch.setattr(local, "check_java", lambda: "java")
    monkeypatch.setattr(local.subprocess, "run", fake_run)
    libs = local.ensure_libs(Path("relative-cache"))
    out = next(a for a in seen[0] if a.startswith("-DoutputDirectory="))
    assert Path(out.split("=", 1)[1]).is_absolute()
    assert libs == tmp_path / "relative-cache" / local.KAFKA_VERSION / "libs"
