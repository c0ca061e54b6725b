"""`ehcp notify subscribe|list|remove|status|failed` on a SQLite database: clear errors, no secrets shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from notify.webhooks import new_secret


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"EHCP_READMODEL_URL": f"sqlite:///{tmp_path / 'rm.sqlite3'}",
           "EHCP_NOTIFY_WEBHOOK_ALLOW_HTTP": "false"}

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["notify", *args], env=env)

    return invoke


def test_subscribe_list_and_remove(run) -> None:  # type: ignore[no-untyped-def]
    """An email and a webhook subscription are listed (the webhook's secret and query never), then one is removed."""
    made = run("subscribe", "--la", "886", "--email", "sen.team@example.gov.uk",
               "--kind", "advice_overdue", "--min-severity", "warning", "--digest-at", "08:30",
               "--label", "SEN north")
    assert made.exit_code == 0, made.output
    assert "daily digest at 08:30" in made.output
    hook = run("subscribe", "--agency", "ods:rvv01", "--webhook",
               "https://trust.example.nhs.uk/hooks?token=abc")
    assert hook.exit_code == 0, hook.output
    secret = hook.output.split("endpoint): ")[1].strip()
    assert secret.startswith("whsec_")
    listed = [json.loads(line) for line in run("list", "--json").output.splitlines()]
    assert [(r["recipient"], r["channel"]) for r in listed] == [
        ("la:886", "email"), ("ods:RVV01", "webhook")]
    assert listed[0]["kinds"] == ["ADVICE_OVERDUE"]
    assert listed[0]["min_severity"] == "WARNING"
    assert listed[1]["kinds"] == ["ADVICE_DUE_SOON", "ADVICE_OVERDUE"]
    assert listed[1]["address"] == "https://trust.example.nhs.uk/hooks?..."
    plain = run("list").output
    assert secret not in plain
    assert "token=abc" not in plain
    removed = run("remove", listed[0]["subscription_id"])
    assert removed.exit_code == 0
    assert len(run("list", "--json").output.splitlines()) == 1
    again = run("remove", listed[0]["subscription_id"])
    assert again.exit_code == 1
    assert "no subscription" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["--la", "886", "--email", "not-an-address"], "not an email address"),
    (["--la", "886", "--webhook", "http://cms.example.gov.uk/h"], "must start with https://"),
    (["--la", "886", "--webhook", "https://u:p@cms.example.gov.uk/h"], "user name or password"),
    (["--la", "886", "--email", "a@example.org", "--kind", "ADVICE_LATE"],
     "unknown alert kind 'ADVICE_LATE'"),
    (["--la", "886", "--email", "a@example.org", "--min-severity", "URGENT"],
     "unknown severity 'URGENT'"),
    (["--la", "886", "--email", "a@example.org", "--digest-at", "25:00"], "HH:MM"),
    (["--la", "886"], "exactly one channel"),
    (["--email", "a@example.org"], "exactly one recipient"),
    (["--la", "88", "--email", "a@example.org"], "3 digits"),
    (["--agency", "ods:RVV", "--email", "a@example.org", "--kind", "DEADLINE_MISSED"],
     "reminded only of"),
    (["--la", "886", "--webhook", "https://x.example.org/h", "--secret", "hunter2"], "whsec_"),
    (["--la", "886", "--email", "a@example.org", "--secret", "whsec_x"], "goes with --webhook"),
])
def test_bad_input_gets_a_clear_error_and_stores_nothing(run, args: list[str],  # type: ignore[no-untyped-def]
                                                         message: str) -> None:
    """Each bad subscription exits non-zero naming the problem, and nothing is stored."""
    result = run("subscribe", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert run("list", "--json").output == ""


def test_a_given_secret_is_kept_but_never_printed(run) -> None:  # type: ignore[no-untyped-def]
    """--secret whsec_... is accepted and not echoed back."""
    secret = new_secret()
    result = run("subscribe", "--la", "886", "--webhook", "https://cms.example.gov.uk/h",
                 "--secret", secret)
    assert result.exit_code == 0, result.output
    assert secret not in result.output


def test_status_and_failed_on_an_empty_log(run) -> None:  # type: ignore[no-untyped-def]
    """A fresh database reports zero per channel and no failed deliveries."""
    status = json.loads(run("status", "--json").output)
    assert status["channels"]["email"] == {"queued": 0, "sent": 0, "failed": 0, "cancelled": 0}
    assert status["held_for_case_owner"] == 0
    assert "no failed deliveries" in run("failed").output


def test_failed_and_status_show_a_dead_lettered_delivery(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A delivery refused for good appears in `failed` with its reason, and `status` counts it per channel."""
    from ehcp.clock import FixedClock
    from ehcp.contract.topics import ALERTS, REFERRALS
    from ehcp.readmodel.store import open_engine
    from notify import store
    from notify.fakes import FakeWebhookSender
    from notify.ports import DeliveryError
    from tests.notify_support import (
        CODEC,
        alert_record,
        at,
        incoming,
        notifier,
        referral_record,
        subscription,
    )

    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    store.create_tables(engine)
    store.add_subscription(engine, subscription(webhook="https://cms.example.gov.uk/h"))
    hooks = FakeWebhookSender(failure=lambda _w: DeliveryError("webhook endpoint answered 410",
                                                               transient=False))
    n = notifier(engine, FixedClock(at(2026, 2, 26, 9)), webhooks=hooks)
    n.ingest([incoming(REFERRALS.name, referral_record("EHC-886-1", "886")),
              incoming(ALERTS.name, alert_record("EHC-886-1"), offset=1)], CODEC)
    assert len(n.dispatch().failed) == 1
    engine.dispose()
    (row,) = [json.loads(line) for line in run("failed", "--json").output.splitlines()]
    assert (row["channel"], row["case_id"], row["last_error"]) == (
        "webhook", "EHC-886-1", "webhook endpoint answered 410")
    status = json.loads(run("status", "--json").output)
    assert status["channels"]["webhook"]["failed"] == 1
    assert status["channels"]["email"]["failed"] == 0
    # Scoped to an LA: the same numbers for the case's LA, none for another; then a retry.
    assert json.loads(run("status", "--la", "886", "--json").output)["channels"] == \
        status["channels"]
    assert json.loads(run("status", "--la", "887", "--json").output)["channels"]["webhook"][
        "failed"] == 0
    retried = run("retry", row["delivery_id"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(run("status", "--json").output)["channels"]["webhook"]["queued"] == 1
    assert run("retry", row["delivery_id"]).exit_code == 1  # no longer failed


def test_a_workspace_users_subscription_takes_the_accounts_address(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`subscribe --user` refuses an unknown user and an --email beside it; a user without an
    address is subscribed with a note, and `status` says why nothing is sent."""
    from datetime import UTC, datetime

    from ehcp.readmodel import people
    from ehcp.readmodel.store import open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'rm.sqlite3'}")
    people.create_people_tables(engine)
    people.add_user(engine, username="jo.bloggs", la_code="886", role=people.Role.CASE_OFFICER,
                    password_hash="h", totp_secret="s",  # noqa: S106 - never checked here
                    now=datetime(2026, 1, 5, tzinfo=UTC))
    engine.dispose()
    unknown = run("subscribe", "--user", "nobody")
    assert unknown.exit_code == 2
    assert "no such workspace user" in unknown.output
    both = run("subscribe", "--user", "jo.bloggs", "--email", "jo@example.gov.uk")
    assert both.exit_code == 2
    assert "takes the address from the account" in both.output
    made = run("subscribe", "--user", "jo.bloggs", "--kind", "ADVICE_OVERDUE",
               "--digest-at", "08:00")
    assert made.exit_code == 0, made.output
    assert "has no email address" in made.output
    (listed,) = [json.loads(line) for line in run("list", "--json").output.splitlines()]
    assert listed["recipient"].startswith("user:")
    assert listed["address"] == "(the account's email)"
    status = json.loads(run("status", "--json").output)
    assert status["not_sent"] == [{"subscription_id": listed["subscription_id"],
                                   "user": "jo.bloggs",
                                   "reason": "the workspace account has no email address"}]
    assert "not sent: subscription" in run("status").output
