"""`ehcp notify run` on the real broker: a notifier killed mid-send delivers exactly once after restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from ehcp.contract.topics import ALERTS, REFERRALS
from ehcp.settings import Settings
from notify.webhooks import new_secret
from tests.notify_support import (
    WORKSPACE,
    alert_record,
    child_secrets,
    notify_env,
    publish,
    referral_record,
)
from tests.smtp_server import mail_server
from tests.support import REPO, settings_env, spawn, stop, wait_until
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "notify", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_notifier_killed_mid_send_delivers_exactly_once_after_restart(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """kill -9 while the SMTP server and the webhook receiver hold the first sends: after a restart there is one email and one webhook id."""
    secret = new_secret()
    case_id = f"EHC-938-{uuid.uuid4().hex[:8]}"
    with mail_server(tmp_path) as smtp, webhook_receiver(secret) as hooks:
        smtp.stall_rcpt = threading.Event()
        hooks.stall = threading.Event()
        env = notify_env(settings_env(kafka_settings), tmp_path, smtp_port=smtp.port,
                         smtp_ca=smtp.ca_file, group=f"notify-test-{uuid.uuid4().hex[:6]}")
        # Kind OTHER: a stream worker running in the same session reads these referrals too and
        # raises real alerts for the cases; the worker never raises OTHER.
        made = _cli(env, "subscribe", "--la", "938", "--email", "sen.officer@example.gov.uk",
                    "--kind", "OTHER", "--label", "SEN team")
        assert made.returncode == 0, made.stderr
        made = _cli(env, "subscribe", "--la", "938", "--webhook", hooks.url, "--secret", secret,
                    "--kind", "OTHER")
        assert made.returncode == 0, made.stderr
        assert secret not in made.stdout  # a given secret is not echoed
        referral = referral_record(case_id, "938")
        publish(kafka_settings, [
            (REFERRALS.name, case_id, referral),
            (ALERTS.name, case_id, alert_record(case_id, kind="OTHER")),
        ])
        log = tmp_path / "notify.log"
        first = spawn(["notify", "run", "--no-supervise"], env, log)
        try:
            wait_until(lambda: smtp.rcpt_reached.is_set() or hooks.reached.is_set(),
                       timeout_s=120, what="the notifier to start sending")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            stop(first)
        smtp.stall_rcpt.set()
        hooks.stall.set()
        second = spawn(["notify", "run", "--no-supervise"], env, log)
        try:
            wait_until(lambda: len(smtp.accepted) >= 1 and len(hooks.accepted) >= 1,
                       timeout_s=120, what="one email and one webhook after the restart")
            status = wait_until(
                lambda: (lambda s: s if s["channels"]["email"]["sent"] == 1
                         and s["channels"]["webhook"]["sent"] == 1 else None)(
                    json.loads(_cli(env, "status", "--json").stdout)),
                timeout_s=60, what="both deliveries recorded as sent")
        finally:
            stop(second)
        assert len(smtp.accepted) == 1
        (message,) = smtp.accepted
        assert case_id in message["Subject"]
        body = message.get_body(("plain",)).get_content()
        assert f"{WORKSPACE}/cases/{case_id}" in body
        for child_secret in child_secrets(referral):
            assert child_secret not in message.as_string()
        assert len(hooks.accepted) == 1
        assert len({c["webhook-id"] for c in hooks.calls if "webhook-id" in c}) == 1
        assert hooks.refused == []
        assert status["channels"]["email"]["queued"] == 0
        assert status["channels"]["webhook"]["failed"] == 0
        logged = log.read_text()
        assert secret not in logged
        assert "correct horse" not in logged
