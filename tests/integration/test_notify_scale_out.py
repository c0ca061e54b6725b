"""Two notifiers in one consumer group split the cases and send each alert once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ehcp.contract.topics import ALERTS, REFERRALS
from ehcp.settings import Settings
from tests.notify_support import alert_record, notify_env, publish, referral_record
from tests.smtp_server import mail_server
from tests.support import REPO, settings_env, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def test_two_notifiers_split_the_partitions_and_send_each_alert_once(
        kafka_settings: Settings, tmp_path: Path) -> None:
    """Both notifiers hold alert partitions; twelve cases' alerts give twelve emails, one per case, twelve sent in the log."""
    # Kind OTHER: a stream worker running in the same session raises real alerts for these
    # cases; the worker never raises OTHER, so only the test's own alerts match.
    with mail_server(tmp_path) as smtp:
        base = notify_env(settings_env(kafka_settings), tmp_path, smtp_port=smtp.port,
                          smtp_ca=smtp.ca_file, group=f"notify-scale-{uuid.uuid4().hex[:6]}")
        made = subprocess.run(
            [sys.executable, "-m", "cli.main", "notify", "subscribe", "--la", "937",
             "--email", "sen@example.gov.uk", "--kind", "OTHER"], env=base, cwd=REPO, capture_output=True,
            text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        logs = [tmp_path / "one.log", tmp_path / "two.log"]
        procs = [spawn(["notify", "run", "--no-supervise"],
                       {**base, "EHCP_NOTIFY_INSTANCE_ID": f"notifier-{n}"}, log)
                 for n, log in enumerate(logs)]
        try:

            def split() -> bool:
                for proc, log in zip(procs, logs, strict=True):
                    assert proc.poll() is None, log.read_text()[-2000:]
                last = [[line for line in log.read_text().splitlines()
                         if "notify.partitions_assigned" in line] for log in logs]
                return all(lines and "ehcp.alerts.v1" in lines[-1] for lines in last)

            wait_until(split, 120, what="both notifiers to hold partitions")
            cases = [f"EHC-937-{uuid.uuid4().hex[:8]}" for _ in range(12)]
            publish(kafka_settings, [m for case in cases for m in (
                (REFERRALS.name, case, referral_record(case, "937")),
                (ALERTS.name, case, alert_record(case, kind="OTHER")))])
            wait_until(lambda: len(smtp.accepted) >= 12, 120, what="twelve emails")

            def settled() -> dict[str, int] | None:
                out = subprocess.run([sys.executable, "-m", "cli.main", "notify", "status",
                                      "--json"], env=base, cwd=REPO, capture_output=True,
                                     text=True, timeout=120, check=True).stdout
                email = json.loads(out)["channels"]["email"]
                return email if email["queued"] == 0 else None

            email_status = wait_until(settled, 60, what="nothing left queued")
        finally:
            for proc in procs:
                stop(proc)
        assert email_status == {"queued": 0, "sent": 12, "failed": 0, "cancelled": 0}
        subjects = [str(m["Subject"]) for m in smtp.accepted]
        assert sorted(next(c for c in cases if c in s) for s in subjects) == sorted(cases)
