"""Notifications end to end: an overdue advice reaches the LA officer, its webhook, the trust and a digest once, across a notifier killed mid-send."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ehcp.readmodel.store import open_engine
from notify import store
from notify.webhooks import new_secret
from tests.e2e.conftest import Pipeline
from tests.e2e.test_pipeline import new_case, referral
from tests.notify_support import notify_env
from tests.smtp_server import mail_server
from tests.support import REPO, spawn, stop, wait_until
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.e2e

OFFICER = "sen.officer@example.gov.uk"
TRUST = "ehcp.advice@trust.example.nhs.uk"
DIGEST = "sen.manager@example.gov.uk"


def _notify(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", "notify", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_overdue_advice_is_notified_once_across_a_notifier_killed_mid_send(
        pipeline: Pipeline, tmp_path: Path) -> None:
    """Medical advice 7 weeks late: one email to the officer, one signed webhook, one reminder to the trust (and on its FHIR Task) and one digest entry, though the notifier is SIGKILLed mid-send and restarted."""
    case_id, nhs = new_case("NOTIFY")
    secret = new_secret()
    with mail_server(tmp_path) as smtp, webhook_receiver(secret) as hooks:
        smtp.stall_rcpt = threading.Event()
        env = notify_env(pipeline.env, tmp_path, smtp_port=smtp.port, smtp_ca=smtp.ca_file,
                         group=f"notify-e2e-{uuid.uuid4().hex[:6]}")
        _notify(env, "subscribe", "--la", "999", "--email", OFFICER, "--kind", "ADVICE_OVERDUE")
        _notify(env, "subscribe", "--la", "999", "--webhook", hooks.url, "--secret", secret,
                "--kind", "ADVICE_OVERDUE")
        _notify(env, "subscribe", "--agency", "ods:ZZ901", "--email", TRUST)
        digest_out = _notify(env, "subscribe", "--la", "999", "--email", DIGEST,
                             "--kind", "ADVICE_OVERDUE", "--digest-at", "07:00")
        digest_id = digest_out.split()[1].rstrip(":")
        log = tmp_path / "notify.log"
        notifier = spawn(["notify", "run", "--no-supervise"], env, log)
        try:
            with httpx.Client(base_url=pipeline.base_url, timeout=30) as client:
                r = client.post("/api/education/referrals", headers=pipeline.headers("la"),
                                json=referral(case_id, nhs, datetime.now(UTC) - timedelta(weeks=7)))
                assert r.status_code == 202, r.text
            # The first email the notifier sends is held at RCPT: kill it there.
            wait_until(smtp.rcpt_reached.is_set, 180, what="the notifier's first email")
            notifier.send_signal(signal.SIGKILL)
            notifier.wait(timeout=30)
        finally:
            stop(notifier)
        smtp.stall_rcpt.set()
        notifier = spawn(["notify", "run", "--no-supervise"], env, log)
        try:

            def mine(to: str) -> list[Any]:
                return [m for m in smtp.accepted
                        if m["To"] == to and case_id in m["Subject"]
                        and "medical advice" in m["Subject"]]

            def medical_hooks() -> list[dict[str, Any]]:
                return [p for p in hooks.accepted.values()
                        if p["data"]["case_id"] == case_id
                        and p["data"]["advice_type"] == "MEDICAL"]

            wait_until(lambda: mine(OFFICER) and mine(TRUST) and medical_hooks(), 180,
                       what="the officer's email, the trust's reminder and the webhook")
            # A few more dispatch passes: nothing may be sent twice.
            status = wait_until(
                lambda: (lambda s: s if s["channels"]["email"]["queued"] == 0
                         and s["channels"]["webhook"]["queued"] == 0 else None)(
                    json.loads(_notify(env, "status", "--json"))),
                60, what="nothing left queued")
        finally:
            stop(notifier)
        assert len(mine(OFFICER)) == 1
        assert len(mine(TRUST)) == 1
        assert len(medical_hooks()) == 1
        medical_ids = {c["webhook-id"] for c in hooks.calls
                       if c.get("webhook-id") in hooks.accepted
                       and hooks.accepted[c["webhook-id"]]["data"]["case_id"] == case_id
                       and hooks.accepted[c["webhook-id"]]["data"]["advice_type"] == "MEDICAL"}
        assert len(medical_ids) == 1
        assert hooks.refused == []
        assert status["channels"]["email"]["failed"] == 0
        assert status["channels"]["webhook"]["failed"] == 0
        (officer_mail,) = mine(OFFICER)
        (trust_mail,) = mine(TRUST)
        text = officer_mail.get_body(("plain",)).get_content()
        assert f"/cases/{case_id}" in text
        assert "Due:" in text
        assert trust_mail["Subject"].startswith("Reminder: medical advice")
        for message in (officer_mail, trust_mail):
            whole = message.as_string()
            for personal in (nhs, "2016-03-14"):  # the referral's NHS number and date of birth
                assert personal not in whole
        # The trust's FHIR Task shows the reminder too.
        def reminded() -> dict[str, Any] | None:
            task = pipeline.wait_for_task(case_id)
            return task if "businessStatus" in task else None

        task = wait_until(reminded, 60, what="the reminder on the trust's Task")
        assert task["businessStatus"]["coding"][0]["code"] == "overdue"
        engine = open_engine(env["EHCP_READMODEL_URL"])
        try:
            with engine.connect() as conn:
                entries = [json.loads(row) for row in conn.execute(
                    select(store.digest_items.c.transition).where(
                        store.digest_items.c.subscription_id == digest_id)).scalars()]
        finally:
            engine.dispose()
        medical_entries = [e for e in entries
                           if e["case_id"] == case_id and e["advice_type"] == "MEDICAL"]
        assert len(medical_entries) == 1
        # The restarted notifier took back the one delivery the killed one was sending.
        assert '"released_leases": 1' in log.read_text()
