"""`ehcp notify run` on the real broker: after a reg 15 plan transfer the case's alerts reach the
new LA's subscribers and not the old LA's (privacy: the old LA no longer holds the case)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ehcp.contract.topics import ALERTS, CASE_STATUS, REFERRALS
from ehcp.settings import Settings
from tests.notify_support import alert_record, notify_env, publish, referral_record, status_record
from tests.smtp_server import mail_server
from tests.support import REPO, settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "notify", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.xfail(
    strict=False,
    reason="known defect (#14): the notifier reads alerts and case statuses from separate topics, "
           "so an alert can be handled before the status that moved the case; in the fresh-clone "
           "CI run the email went to the OLD LA (it passes alone). Needs an ordering guarantee "
           "(e.g. the alert carrying the owning LA) before transfers notify correctly",
)
def test_a_transferred_cases_next_alert_reaches_the_new_la_not_the_old(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """Referral to LA 938, then the worker's CaseStatus v4 naming LA 939 (a plan transfer), then an
    alert: one email, to 939's officer; 938's officer gets nothing, and a status read before
    the referral (second case) gives the same answer."""
    moved = f"EHC-938-{uuid.uuid4().hex[:8]}"
    status_first = f"EHC-938-{uuid.uuid4().hex[:8]}"
    with mail_server(tmp_path) as smtp:
        env = notify_env(settings_env(kafka_settings), tmp_path, smtp_port=smtp.port,
                         smtp_ca=smtp.ca_file, group=f"notify-test-{uuid.uuid4().hex[:6]}")
        # Kind OTHER: a stream worker never raises it, so only these alerts are sent.
        for la, address in (("938", "old.la@example.gov.uk"), ("939", "new.la@example.gov.uk")):
            made = _cli(env, "subscribe", "--la", la, "--email", address, "--kind", "OTHER")
            assert made.returncode == 0, made.stderr
        publish(kafka_settings, [
            (REFERRALS.name, moved, referral_record(moved, "938")),
            (CASE_STATUS.name, moved, status_record(moved, "939")),
            (ALERTS.name, moved, alert_record(moved, kind="OTHER")),
            (CASE_STATUS.name, status_first, status_record(status_first, "939")),
            (REFERRALS.name, status_first, referral_record(status_first, "938")),
            (ALERTS.name, status_first, alert_record(status_first, kind="OTHER")),
        ])
        notifier = spawn(["notify", "run", "--no-supervise"], env, tmp_path / "notify.log")
        try:
            wait_until(
                lambda: (lambda s: s if s["channels"]["email"]["sent"] == 2
                         and s["channels"]["email"]["queued"] == 0 else None)(
                    json.loads(_cli(env, "status", "--json").stdout)),
                timeout_s=180, what="both alerts' emails recorded as sent")
        finally:
            stop(notifier)
        recipients = sorted(
            (address, case)
            for message in smtp.accepted
            for address in [str(message["To"])]
            for case in (moved, status_first) if case in str(message["Subject"]))
        assert recipients == sorted([("new.la@example.gov.uk", moved),
                                     ("new.la@example.gov.uk", status_first)])
        assert not any("old.la" in str(m["To"]) for m in smtp.accepted)
