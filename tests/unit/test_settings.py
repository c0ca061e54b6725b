"""Settings are read from the environment once, and a bad variable is named in one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from ehcp.errors import ConfigurationError
from ehcp.settings import Settings


def test_from_env_reads_ehcp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """EHCP_PARTITIONS=8 in the environment gives settings with 8 partitions."""
    monkeypatch.setenv("EHCP_PARTITIONS", "8")
    assert Settings.from_env().partitions == 8


def test_from_env_names_the_invalid_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A partition count of 0 is a ConfigurationError naming EHCP_PARTITIONS, not a pydantic error."""
    monkeypatch.setenv("EHCP_PARTITIONS", "0")
    with pytest.raises(ConfigurationError, match=r"^invalid configuration: EHCP_PARTITIONS: "):
        Settings.from_env()


def test_the_cli_reports_it_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ehcp topics list` with a bad variable exits 1 with one 'invalid configuration' line."""
    monkeypatch.setenv("EHCP_PARTITIONS", "0")
    result = CliRunner().invoke(cli, ["topics", "list"])
    assert result.exit_code == 1
    assert "Error: invalid configuration: EHCP_PARTITIONS: " in result.output


def test_the_read_model_defaults_to_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    """Without EHCP_READMODEL_URL the read model is a SQLite file in the data folder; with it, that URL."""
    assert Settings(data_dir=tmp_path).readmodel_database_url() == (
        f"sqlite:///{tmp_path / 'readmodel.sqlite3'}")
    url = "postgresql+psycopg://ehcp:secret@db:5432/ehcp"
    settings = Settings(readmodel_url=url)  # type: ignore[arg-type]  # pydantic coerces to SecretStr
    assert settings.readmodel_database_url() == url
    assert "secret" not in repr(settings)
