"""`ehcp alerts tail` shows an alert re-sent with the same event id once (#13 item 22)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import date

import pytest

from connectors.kafka_publisher import KafkaPublisher
from connectors.ports import PublishedEvent
from ehcp.contract.avro import default_codec
from ehcp.contract.cloudevents import event_type
from ehcp.contract.topics import ALERTS
from ehcp.settings import Settings
from tests.support import REPO, settings_env

pytestmark = pytest.mark.integration


def _alert(case_id: str, event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "alert_id": f"{case_id}|ADVICE_OVERDUE|MEDICAL|overdue",
        "case_id": case_id,
        "kind": "ADVICE_OVERDUE",
        "status": "RAISED",
        "severity": "WARNING",
        "advice_type": "MEDICAL",
        "agency": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "ZZ901"},
        "due_on": date(2026, 11, 2),
        "days_overdue": 3,
        "regulation": "reg 8(1)",
        "message": "medical advice is overdue",
        "as_of": date(2026, 11, 5),
    }


def _publish(settings: Settings, records: list[dict[str, object]]) -> None:
    schema = ALERTS.value_schema or ""

    async def run() -> None:
        publisher = KafkaPublisher(settings, default_codec(), source="/tests")
        try:
            for record in records:
                case_id = str(record["case_id"])
                await publisher.publish(PublishedEvent(ALERTS.name, case_id, schema, record,
                                                       event_type(schema), case_id))
        finally:
            await publisher.close()

    asyncio.run(run())


def test_alerts_tail_prints_a_resent_alert_once(kafka_settings: Settings) -> None:
    """The same RAISED alert written twice to ehcp.alerts.v1 (an at-least-once re-send) is printed once; another alert still is."""
    case_id = f"EHC-999-TAIL-{uuid.uuid4().hex[:8]}"
    resent = _alert(case_id, str(uuid.uuid4()))
    other = {**_alert(case_id, str(uuid.uuid4())), "status": "RESOLVED"}
    # Two publishers, as a worker re-sending after a crash would (one publisher drops its own
    # repeats of an event id it has delivered, so it cannot write the duplicate).
    _publish(kafka_settings, [resent])
    _publish(kafka_settings, [resent, other])
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "alerts", "tail", "--no-follow", "--json"],
        env=settings_env(kafka_settings), cwd=REPO, capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout
    mine = [json.loads(line) for line in out.splitlines() if case_id in line]
    assert [(a["event_id"], a["status"]) for a in mine] == [
        (resent["event_id"], "RAISED"), (other["event_id"], "RESOLVED")]
