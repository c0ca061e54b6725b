"""The secured broker (``ehcp kafka start --secure``): TLS, SCRAM users per component, and the
least-privilege ACLs ``ehcp kafka acls apply`` derives from the topic catalogue.

Every test talks to a real secured broker (the session's ``secure_broker``) as the component's
own principal. Refusals are checked by what the broker does (a fetch or a send refused), and the
ACL check is shown to catch a widened grant.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ehcp.contract.access import expected_grants
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import (
    ALERTS,
    CASE_STATUS,
    CASEWORK_EVENTS,
    CHILD_INDEX,
    CONTRIBUTIONS,
    CONTRIBUTIONS_ROUTED,
    REFERRALS,
    TASK_STATUS,
    catalogue,
)
from ehcp.errors import BrokerError, ConfigurationError
from ehcp.kafka_io.acls import BrokerAcl, apply_acls, check_acls
from ehcp.kafka_io.broker.local import LocalBroker
from ehcp.kafka_io.broker.tls import write_ca_certificate
from ehcp.kafka_io.kafka_clients import (
    apply_topics,
    connection_problem,
    kafka_python_config,
    require_access,
)
from ehcp.kafka_io.readers import read_partitions
from ehcp.settings import Settings
from tests.support import REPO, referral_message, settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration
APP_ID = "ehcp-test-secure"
NOTIFY_GROUP = "ehcp-test-secure-notify"
CODEC = default_codec()
WRONG = "not-the-password"  # the wrong password these tests offer


@pytest.fixture(scope="module")
def secured(secure_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
            ) -> LocalBroker:
    """The secured broker with the catalogue's topics and this deployment's ACLs applied."""
    admin = _as(secure_broker, "ehcp-admin", tmp_path_factory.mktemp("secure-admin"))
    apply_topics(admin, catalogue(APP_ID))
    expected = expected_grants(APP_ID, NOTIFY_GROUP)
    apply_acls(admin, expected)
    # ACLs reach the broker's authorizer through the metadata log, a moment after the
    # controller took them; DescribeAcls answers from the broker's own copy.
    wait_until(lambda: check_acls(admin, expected).ok, timeout_s=60, what="ACLs on the broker")
    return secure_broker


CASE_ID = "EHC-999-SECURE-001"


def _as(broker: LocalBroker, user: str, home: Path, **overrides: Any) -> Settings:
    """Settings that connect as ``user`` (the other fields as a component would have them)."""
    return broker.client_settings(
        user, app_id=APP_ID, notify_group_id=NOTIFY_GROUP, pseudonym_key="s" * 64, partitions=4,
        data_dir=home / "data", credentials_file=home / "credentials.json",
        documents_dir=home / "documents", **overrides)


def _fetch_error(settings: Settings, topic: str) -> str | None:
    """Read ``topic`` from the start as ``settings``' principal: None, or the refusal's name.

    None means a record came back, or no refusal within the deadline. A principal without
    DESCRIBE is refused in the metadata (the client marks the topic unauthorized); one with
    DESCRIBE but not READ, by the fetch itself (``poll`` raises).
    """
    import time

    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    consumer = KafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest",
                             **kafka_python_config(settings))
    deadline = time.monotonic() + 20
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(4)])
        while time.monotonic() < deadline:
            try:
                records = consumer.poll(timeout_ms=1000)
            except KafkaError as exc:
                return type(exc).__name__
            if topic in consumer._client.cluster.unauthorized_topics:
                return "TopicAuthorizationFailedError"
            if records:
                return None
        return None
    finally:
        consumer.close()


def _send_error(settings: Settings, topic: str) -> str | None:
    """Send one record to ``topic`` as ``settings``' principal: None, or the error's name."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    # Not idempotent: an idempotent producer of a principal that may write nowhere is refused
    # its producer id by the cluster before any topic is asked; this asks the topic itself.
    producer = KafkaProducer(acks="all", max_block_ms=10000, enable_idempotence=False,
                             **kafka_python_config(settings))
    try:
        producer.send(topic, b"not a real event", key=b"EHC-999-SEC-0").get(timeout=15)
        return None
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        producer.close()


def test_the_worker_processes_a_referral_end_to_end_over_sasl_ssl(secured: LocalBroker,
                                                                  tmp_path: Path) -> None:
    """Connectors' principal writes a referral; the worker's makes its case status; the CLI's reads it."""
    from kafka import KafkaProducer

    case_id = CASE_ID
    connectors = _as(secured, "ehcp-connectors", tmp_path)
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=1)
    value, headers = referral_message(case_id, received)
    producer = KafkaProducer(acks="all", **kafka_python_config(connectors))
    try:
        producer.send(REFERRALS.name, value, key=case_id.encode(), headers=headers).get(30)
    finally:
        producer.close()

    worker_settings = _as(secured, "ehcp-worker", tmp_path)
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], settings_env(worker_settings), log)
    cli = _as(secured, "ehcp-cli", tmp_path)

    def status() -> dict[str, Any] | None:
        for record in read_partitions(cli, CASE_STATUS.name):
            if record.key == case_id.encode() and record.value:
                found: dict[str, Any] = CODEC.decode(record.value)[1]
                return found
        return None

    try:
        found = wait_until(status, timeout_s=240, what="the case's status from the worker")
    finally:
        stop(worker)
    assert found["case_id"] == case_id
    assert found["received_on"] == received.date()
    text = log.read_text(errors="replace")
    assert "AuthorizationFailed" not in text, text[-3000:]


def test_the_connectors_principal_cannot_read_case_status_or_the_workers_topics(
    secured: LocalBroker, tmp_path: Path
) -> None:
    """The connectors read their feeds, and are refused case status, routed advice and the index."""
    connectors = _as(secured, "ehcp-connectors", tmp_path)
    assert _fetch_error(connectors, REFERRALS.name) is None  # its case-owner feed
    for topic in (CASE_STATUS, CONTRIBUTIONS_ROUTED, CHILD_INDEX, CONTRIBUTIONS):
        assert _fetch_error(connectors, topic.name) == "TopicAuthorizationFailedError", topic.name
    assert _fetch_error(connectors, f"{APP_ID}-cases-changelog") == \
        "TopicAuthorizationFailedError"


def test_the_read_only_cli_and_the_notifier_cannot_write(secured: LocalBroker,
                                                         tmp_path: Path) -> None:
    """The read-only CLI reads case status but writes nothing; the notifier reads case status
    (a plan transfer moves a case's owner) and writes nothing."""
    cli = _as(secured, "ehcp-cli", tmp_path)
    assert _fetch_error(cli, CASE_STATUS.name) is None
    assert _fetch_error(cli, REFERRALS.name) == "TopicAuthorizationFailedError"
    assert _send_error(cli, CASE_STATUS.name) == "TopicAuthorizationFailedError"
    notifier = _as(secured, "ehcp-notifier", tmp_path)
    assert _send_error(notifier, ALERTS.name) == "TopicAuthorizationFailedError"
    assert _fetch_error(notifier, CASE_STATUS.name) is None
    assert _send_error(notifier, CASE_STATUS.name) == "TopicAuthorizationFailedError"


def test_the_worker_cannot_write_to_the_inbound_topics_it_only_reads(
    secured: LocalBroker, tmp_path: Path
) -> None:
    """Referrals, casework events and Task status are written by agencies (and the LA) only."""
    worker = _as(secured, "ehcp-worker", tmp_path)
    assert _fetch_error(worker, REFERRALS.name) is None  # it reads them...
    # (contributions are not among them: the worker re-publishes hand-routed ones)
    for topic in (REFERRALS, CASEWORK_EVENTS, TASK_STATUS):
        # ...and may not write them (what it does write: the end-to-end test above)
        assert _send_error(worker, topic.name) == "TopicAuthorizationFailedError", topic.name


def test_a_widened_grant_is_caught_and_apply_takes_it_back(secured: LocalBroker,
                                                           tmp_path: Path) -> None:
    """One extra grant (connectors may read case status) fails the check; apply removes it."""
    from kafka import KafkaAdminClient

    admin = _as(secured, "ehcp-admin", tmp_path)
    connectors = _as(secured, "ehcp-connectors", tmp_path)
    expected = expected_grants(APP_ID, NOTIFY_GROUP)
    assert check_acls(admin, expected).ok
    widened = BrokerAcl("User:ehcp-connectors", "TOPIC", CASE_STATUS.name, "LITERAL", "READ",
                        "ALLOW", "*")
    from ehcp.kafka_io.acls import _to_kafka

    client = KafkaAdminClient(**kafka_python_config(admin))
    try:
        assert not client.create_acls([_to_kafka(widened)])["failed"]
    finally:
        client.close()
    try:
        # the broker really grants it now...
        wait_until(lambda: _fetch_error(connectors, CASE_STATUS.name) is None, timeout_s=60,
                   what="the widened grant to take effect")
        # ...and the check, comparing the broker's ACLs with the catalogue's, says so
        drift = check_acls(admin, expected)
        assert not drift.ok
        assert drift.unexpected == {widened}
        assert not drift.missing
    finally:
        applied = apply_acls(admin, expected)
    assert applied.unexpected == {widened}
    assert check_acls(admin, expected).ok
    assert apply_acls(admin, expected).ok  # idempotent: nothing left to change
    wait_until(lambda: _fetch_error(connectors, CASE_STATUS.name) ==
               "TopicAuthorizationFailedError", timeout_s=60, what="the grant to be taken back")


def test_a_wrong_password_or_an_untrusted_ca_is_a_clear_error(secured: LocalBroker,
                                                              tmp_path: Path) -> None:
    """A process given a wrong password or another CA stops at start-up, saying what to fix."""
    bad_password = _as(secured, "ehcp-worker", tmp_path, kafka_sasl_password=WRONG)
    with pytest.raises(ConfigurationError, match=r"refused SASL user 'ehcp-worker'.*"
                       r"EHCP_KAFKA_SASL_PASSWORD"):
        require_access(bad_password)
    other_ca = write_ca_certificate(tmp_path / "other-ca.pem", "Some other CA")
    untrusted = _as(secured, "ehcp-worker", tmp_path, kafka_ssl_cafile=other_ca)
    with pytest.raises(ConfigurationError, match=r"EHCP_KAFKA_SSL_CAFILE.*does not trust"):
        require_access(untrusted)
    plaintext = _as(secured, "ehcp-worker", tmp_path, kafka_security_protocol="SASL_PLAINTEXT")
    problem = connection_problem(plaintext)
    assert problem is not None
    assert not problem.refused  # a TLS listener hangs up on plaintext: not a credentials error
    right = _as(secured, "ehcp-worker", tmp_path)
    assert connection_problem(right) is None
    require_access(right)

    # the command says it and exits at once (no retrying for ever)
    done = subprocess.run([sys.executable, "-m", "cli.main", "worker"],
                          env=settings_env(bad_password), cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "EHCP_KAFKA_SASL_PASSWORD" in done.stderr
    assert WRONG not in done.stderr + done.stdout


def test_a_bad_password_on_a_cli_read_names_the_setting(secured: LocalBroker,
                                                        tmp_path: Path) -> None:
    """``ehcp case show`` as the CLI principal with a wrong password says which setting is wrong."""
    bad = _as(secured, "ehcp-cli", tmp_path, kafka_sasl_password=WRONG)
    with pytest.raises(BrokerError, match="refused SASL user 'ehcp-cli'"):
        list(read_partitions(bad, CASE_STATUS.name))


def _env(settings: Settings) -> dict[str, str]:
    """The environment an ``ehcp`` command runs with as ``settings``' principal."""
    env = settings_env(settings)
    env["EHCP_NOTIFY_GROUP_ID"] = NOTIFY_GROUP
    return env


def test_the_commands_apply_acls_idempotently_and_read_as_the_cli_principal(
    secured: LocalBroker, tmp_path: Path
) -> None:
    """`ehcp kafka acls apply` prints the grants and changes nothing twice; `case show` works as
    `ehcp-cli` and is refused as `ehcp-connectors`."""
    def ehcp(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=_env(settings),
                              cwd=REPO, capture_output=True, text=True, timeout=300, check=False)

    admin = _as(secured, "ehcp-admin", tmp_path)
    applied = ehcp("kafka", "acls", "apply", settings=admin)
    assert applied.returncode == 0, applied.stderr
    assert "User:ehcp-worker  (ehcp worker" in applied.stdout
    assert f"READ             group {APP_ID}" in applied.stdout
    assert "ACLs are up to date" in applied.stdout
    assert "create:" not in applied.stdout
    checked = ehcp("kafka", "acls", "check", settings=admin)
    assert checked.returncode == 0, checked.stdout
    denied = ehcp("kafka", "acls", "apply", settings=_as(secured, "ehcp-cli", tmp_path))
    assert denied.returncode != 0

    shown = ehcp("case", "show", CASE_ID, "--json", settings=_as(secured, "ehcp-cli", tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert CASE_ID in shown.stdout
    refused = ehcp("case", "show", CASE_ID, settings=_as(secured, "ehcp-connectors", tmp_path))
    assert refused.returncode != 0
    assert "may not describe it" in refused.stderr
