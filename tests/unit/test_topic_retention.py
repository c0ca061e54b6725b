"""Per-topic retention overrides (EHCP_TOPIC_RETENTION_MS): what is accepted and what is refused."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from cli.main import cli
from ehcp.contract.topics import (
    ALERTS,
    CASE_STATUS,
    DAY_MS,
    FOREVER,
    REFERRALS,
    catalogue,
    with_retention,
)
from ehcp.errors import ConfigurationError
from ehcp.settings import Settings

APP = "ehcp-streams"


def test_an_override_replaces_only_its_topics_retention() -> None:
    """The named topic gets the new retention; every other keeps the catalogue's."""
    specs = with_retention(catalogue(APP), {REFERRALS.name: 7 * DAY_MS}, APP)
    by_name = {s.name: s for s in specs}
    assert by_name[REFERRALS.name].retention_ms == 7 * DAY_MS
    assert by_name[REFERRALS.name].configs(2)["retention.ms"] == str(7 * DAY_MS)
    assert by_name[ALERTS.name].retention_ms == ALERTS.retention_ms == 365 * DAY_MS
    assert [s.name for s in specs] == [s.name for s in catalogue(APP)]


def test_forever_is_allowed_for_a_topic_the_catalogue_limits() -> None:
    """-1 keeps alerts forever, if an LA wants that."""
    (alerts,) = with_retention([ALERTS], {ALERTS.name: FOREVER}, APP)
    assert alerts.retention_ms == FOREVER


def test_a_topic_outside_the_catalogue_is_refused() -> None:
    """A typo is named, not silently ignored."""
    with pytest.raises(ConfigurationError, match=re.escape("ehcp.alert.v1")):
        with_retention(catalogue(APP), {"ehcp.alert.v1": DAY_MS}, APP)


@pytest.mark.parametrize("topic", [CASE_STATUS.name, f"{APP}-cases-changelog"])
def test_a_compacted_topic_is_refused(topic: str) -> None:
    """Time retention does not delete a compacted topic's latest records, so it is not offered."""
    with pytest.raises(ConfigurationError, match="compacted"):
        with_retention(catalogue(APP), {topic: DAY_MS}, APP)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_settings_refuse_zero_and_negative_retention(monkeypatch: pytest.MonkeyPatch,
                                                    value: str) -> None:
    """0 ms (delete at once) and values below -1 are configuration errors naming the topic."""
    monkeypatch.setenv("EHCP_TOPIC_RETENTION_MS", f'{{"{REFERRALS.name}": {value}}}')
    with pytest.raises(ConfigurationError, match=re.escape(REFERRALS.name)):
        Settings.from_env()


def test_topics_list_shows_the_retention_topics_apply_would_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ehcp topics list` prints each topic's effective retention."""
    monkeypatch.setenv("EHCP_TOPIC_RETENTION_MS", f'{{"{REFERRALS.name}": {30 * DAY_MS}}}')
    result = CliRunner().invoke(cli, ["topics", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line for line in result.output.splitlines()}
    assert f"retention={30 * DAY_MS}ms" in lines[REFERRALS.name]
    assert "retention=forever" in lines[CASE_STATUS.name]
    monkeypatch.setenv("EHCP_TOPIC_RETENTION_MS", f'{{"{CASE_STATUS.name}": {DAY_MS}}}')
    refused = CliRunner().invoke(cli, ["topics", "list"])
    assert refused.exit_code == 1
    assert "compacted" in refused.output
