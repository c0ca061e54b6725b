"""Helpers shared by the test tiers: free ports, synthetic identifiers, polling, child processes."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ehcp.identifiers import nhs_number_check_digit
from ehcp.kafka_io.broker.local import BrokerConfig, LocalBroker
from ehcp.settings import Settings

REPO = Path(__file__).resolve().parents[1]

T = TypeVar("T")
_counter = itertools.count(1)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def synthetic_nhs_number(seed: int | None = None) -> str:
    """A synthetic NHS number that passes its Modulus 11 check (999 prefix, never issued)."""
    n = next(_counter) if seed is None else seed
    for offset in range(100):
        prefix = f"999{(n * 37 + offset) % 1_000_000:06d}"
        check = nhs_number_check_digit(prefix)
        if check is not None:
            return f"{prefix}{check}"
    raise AssertionError("no valid NHS number near seed")  # pragma: no cover


def wait_until(
    probe: Callable[[], T | None],
    timeout_s: float = 60,
    interval_s: float = 0.5,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes child processes read the same settings."""
    assert settings.pseudonym_key is not None
    return {
        **os.environ,
        "EHCP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "EHCP_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "EHCP_PARTITIONS": str(settings.partitions),
        "EHCP_APP_ID": settings.app_id,
        "EHCP_DATA_DIR": str(settings.data_dir),
        "EHCP_CREDENTIALS_FILE": str(settings.credentials_file),
        "EHCP_DOCUMENTS_DIR": str(settings.documents_dir),
        "EHCP_SUBMISSIONS_FILE": str(settings.documents_dir.parent / "fhir-submissions.jsonl"),
        "EHCP_HTTP_PORT": str(settings.http_port),
        "EHCP_ALERT_TICK_S": str(settings.alert_tick_s),
        **kafka_security_env(settings),
    }


def kafka_security_env(settings: Settings) -> dict[str, str]:
    """The ``EHCP_KAFKA_*`` security variables of ``settings`` (none for PLAINTEXT)."""
    env = {"EHCP_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        env["EHCP_KAFKA_SASL_MECHANISM"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        env["EHCP_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        env["EHCP_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile is not None:
        env["EHCP_KAFKA_SSL_CAFILE"] = str(settings.kafka_ssl_cafile)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``ehcp ARGS`` as a child process logging to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child process, killing it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def publish_advice_requests(settings: Settings, records: list[dict[str, Any]]) -> None:
    """Put ``AdviceRequested`` records on the advice-requests topic (acks=all), keyed by case."""
    from connectors.kafka_publisher import KafkaPublisher
    from connectors.ports import PublishedEvent
    from ehcp.contract.avro import default_codec
    from ehcp.contract.cloudevents import event_type
    from ehcp.contract.topics import ADVICE_REQUESTS

    schema = ADVICE_REQUESTS.value_schema or ""

    async def publish() -> None:
        publisher = KafkaPublisher(settings, default_codec(), source="/tests")
        try:
            for record in records:
                case_id = str(record["case_id"])
                await publisher.publish(PublishedEvent(ADVICE_REQUESTS.name, case_id, schema,
                                                       record, event_type(schema), case_id))
        finally:
            await publisher.close()

    asyncio.run(publish())


def start_local_broker(home: Path, timeout_s: float = 180, *, secure: bool = False) -> LocalBroker:
    """Start a single-node broker of its own on free ports, its data under ``home`` (caller stops it).

    ``secure``: TLS + SASL/SCRAM + ACLs, as ``ehcp kafka start --secure``.
    """
    port, controller = free_ports(2)
    broker = LocalBroker(BrokerConfig(home=home, port=port, controller_port=controller,
                                      secure=secure),
                         REPO / ".ehcp" / "kafka")
    broker.start(timeout_s=timeout_s)
    return broker


def referral_message(case_id: str, received_at: datetime, source: str = "/tests"
                     ) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A referral for ``case_id`` (a fresh synthetic NHS number, no UPN) as a Kafka value and its CloudEvents headers."""
    from cli import demo
    from connectors.education.models import ReferralIn, referral_record
    from ehcp.contract.cloudevents import CloudEvent, event_type
    from ehcp.contract.topics import REFERRALS

    body = demo.referral(received_at, case_id)
    body["child"] = {**body["child"], "nhs_number": synthetic_nhs_number()}
    del body["child"]["upn"]
    record = referral_record(ReferralIn.model_validate(body))
    schema = REFERRALS.value_schema or ""
    ce = CloudEvent(id=record["event_id"], source=source, type=event_type(schema),
                    time=datetime.now(UTC), subject=case_id)
    return _codec().encode(schema, record), ce.headers()


@functools.cache
def _codec() -> Any:
    """One codec for the helpers (building one parses every schema file)."""
    from ehcp.contract.avro import default_codec

    return default_codec()
