"""``ehcp notify``: subscriptions, the notifier and the delivery log (docs/notifications.md)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from types import FrameType
from urllib.parse import urlsplit

import click
from sqlalchemy import Engine

from cli.common import load_settings, reports_errors
from cli.supervisor import WorkerSlot, claim_worker_slot, supervise
from ehcp.casework.calendar import Calendar
from ehcp.clock import Clock, SystemClock
from ehcp.errors import ValidationError
from ehcp.identifiers import normalise_la_code
from ehcp.logs import configure_logging
from ehcp.readmodel import people
from ehcp.readmodel.store import open_engine
from ehcp.schema_registry.codec import codec_for
from ehcp.settings import Settings
from notify import model, store
from notify.consumer import run as run_consumer
from notify.model import Channel, Subscription
from notify.people import new_user_subscription
from notify.service import Notifier, NotifierConfig
from notify.smtp import SmtpEmailSender, UnconfiguredEmailSender
from notify.webhooks import HttpRestHookSender, HttpWebhookSender, new_secret

NOTIFY_SLOTS = "ehcp-notify"


def _engine(settings: Settings) -> Engine:
    engine = open_engine(settings.readmodel_database_url())
    store.create_tables(engine)
    return engine


def build_notifier(settings: Settings, engine: Engine, instance_id: str,
                   clock: Clock | None = None) -> Notifier:
    """The notifier with its real channels, as configured (the one composition of it)."""
    clock = clock or SystemClock()
    email = (
        SmtpEmailSender(
            settings.smtp_host, settings.smtp_port, sender=settings.smtp_from,
            username=settings.smtp_username,
            password=(settings.smtp_password.get_secret_value()
                      if settings.smtp_password else None),
            starttls=settings.smtp_starttls, ca_file=settings.smtp_ca_file,
            timeout_s=settings.smtp_timeout_s)
        if settings.smtp_host else UnconfiguredEmailSender()
    )
    webhooks = HttpWebhookSender(timeout_s=settings.notify_webhook_timeout_s,
                                 ca_file=settings.notify_webhook_ca_file,
                                 now_s=lambda: clock.now().timestamp())
    domain = settings.smtp_from.rpartition("@")[2] or "ehcp-exchange.invalid"
    config = NotifierConfig(
        instance_id=instance_id, workspace_url=settings.notify_workspace_url,
        email_domain=domain, retry_base_s=settings.notify_retry_base_s,
        retry_cap_s=settings.notify_retry_cap_s, retry_for_s=settings.notify_retry_for_s,
        lease_s=settings.notify_lease_s)
    rest_hooks = HttpRestHookSender(timeout_s=settings.notify_webhook_timeout_s,
                                    ca_file=settings.notify_webhook_ca_file)
    return Notifier(engine, email=email, webhooks=webhooks, clock=clock, calendar=Calendar(),
                    config=config, rest_hooks=rest_hooks)


@click.group("notify")
def notify() -> None:
    """Notifications: who hears about which alerts (email, webhooks), and the notifier."""


@notify.command("run")
@click.option("--no-supervise", is_flag=True,
              help="Run the notifier in this process, without the restarting supervisor.")
@reports_errors
def run(no_supervise: bool) -> None:
    """Run a notifier (more notifiers, same EHCP_NOTIFY_GROUP_ID, split the cases)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, settings.log_repeat_interval_s)
    from ehcp.kafka_io.kafka_clients import require_access

    require_access(settings)
    if not no_supervise:
        argv = [sys.executable, "-m", "cli.main", "notify", "run", "--no-supervise"]
        if settings.notify_instance_id:
            raise SystemExit(supervise(argv))
        # A slot of its own on this host, so a restarted notifier has the same instance id and
        # takes back at once the deliveries it had claimed when it stopped.
        held = claim_worker_slot(NOTIFY_SLOTS)
        try:
            raise SystemExit(supervise(
                argv, env={**os.environ, "EHCP_NOTIFY_INSTANCE_ID": held.instance_id},
                pass_fds=(held.lock_fd,)))
        finally:
            held.release()
    instance_id = settings.notify_instance_id
    slot: WorkerSlot | None = None
    if instance_id is None:
        slot = claim_worker_slot(NOTIFY_SLOTS)
        instance_id = slot.instance_id
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    engine = _engine(settings)
    try:
        run_consumer(settings, build_notifier(settings, engine, instance_id), codec_for(settings),
                     should_stop=lambda: stopping)
    finally:
        engine.dispose()
        if slot is not None:
            slot.release()


def _now_ms() -> int:
    return int(time.time() * 1000)


@notify.command("subscribe")
@click.option("--la", "la_code", metavar="CODE", help="An LA's officers or team (DfE LA code).")
@click.option("--agency", metavar="SYSTEM:CODE",
              help="An agency's contact, reminded of its advice: ods:RXX01, urn:123456, la:999.")
@click.option("--user", "username", metavar="USERNAME",
              help="A workspace user, by email at the account's address (read when sending): "
              "their LA's cases; a case officer's caseload only.")
@click.option("--email", "email", metavar="ADDRESS", help="Send email to this address.")
@click.option("--webhook", metavar="URL", help="POST Standard Webhooks to this https URL.")
@click.option("--secret", metavar="whsec_...",
              help="The webhook's signing secret (default: a new one, printed once).")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="An alert kind to hear about (repeat; default: all, for agencies the "
              "reminders ADVICE_DUE_SOON and ADVICE_OVERDUE).")
@click.option("--min-severity", default="INFO", show_default=True,
              help="INFO, WARNING or CRITICAL.")
@click.option("--resolved/--no-resolved", default=True, show_default=True,
              help="Also tell when an alert is resolved (never for agencies).")
@click.option("--digest-at", metavar="HH:MM",
              help="A daily digest at this London time on working days instead of at once.")
@click.option("--label", default="", help="A note for operators (a team's name); no personal data.")
@reports_errors
def subscribe(la_code: str | None, agency: str | None, username: str | None, email: str | None,
              webhook: str | None, secret: str | None, kinds: tuple[str, ...],
              min_severity: str, resolved: bool, digest_at: str | None, label: str) -> None:
    """Add a subscription: who hears about which alerts, by email or webhook, when."""
    settings = load_settings()
    if username is not None:
        if la_code is not None or agency is not None or email is not None or webhook is not None \
                or secret is not None:
            raise click.UsageError("--user takes the address from the account: give no --la, "
                                   "--agency, --email, --webhook or --secret with it")
        _subscribe_user(settings, username, kinds, min_severity, resolved, digest_at, label)
        return
    try:
        recipient = model.parse_recipient(la_code, agency)
        if (email is None) == (webhook is None):
            raise ValidationError("name exactly one channel: --email ADDRESS or --webhook URL")
        if secret is not None and webhook is None:
            raise ValidationError("--secret goes with --webhook")
        channel = Channel.EMAIL if email is not None else Channel.WEBHOOK
        address = (model.parse_email(email) if email is not None else
                   model.parse_webhook_url(webhook or "",
                                           allow_http=settings.notify_webhook_allow_http))
        given_secret = model.parse_secret(secret) if secret is not None else None
        sub = Subscription(
            subscription_id=str(uuid.uuid4()), recipient=recipient, channel=channel,
            address=address, kinds=model.parse_kinds(kinds, recipient),
            min_severity=model.parse_severity(min_severity),
            include_resolved=resolved and recipient.kind is model.RecipientKind.LOCAL_AUTHORITY,
            digest_at=model.parse_digest_time(digest_at), label=model.parse_label(label),
            created_ms=_now_ms(),
            webhook_secret=(given_secret or new_secret()) if channel is Channel.WEBHOOK else None)
    except ValidationError as exc:
        raise click.UsageError(exc.message) from exc
    engine = _engine(settings)
    try:
        store.add_subscription(engine, sub)
    finally:
        engine.dispose()
    click.echo(f"subscription {sub.subscription_id}: {recipient.describe()} by "
               f"{channel.value}, {_cadence(sub)}")
    if channel is Channel.WEBHOOK and given_secret is None:
        click.echo(f"webhook secret (shown once; give it to the endpoint): {sub.webhook_secret}")


def _subscribe_user(settings: Settings, username: str, kinds: tuple[str, ...],
                    min_severity: str, resolved: bool, digest_at: str | None,
                    label: str) -> None:
    engine = _engine(settings)
    try:
        user = people.find_user(engine, username[:64])
        if user is None:
            raise click.BadParameter("no such workspace user", param_hint="--user")
        try:
            sub = new_user_subscription(
                user.user_id, kinds=kinds, min_severity=min_severity, resolved=resolved,
                digest_at=digest_at, label=label, now_ms=_now_ms())
        except ValidationError as exc:
            raise click.UsageError(exc.message) from exc
        store.add_subscription(engine, sub)
        contact = store.user_contact(engine, user.user_id)
    finally:
        engine.dispose()
    click.echo(f"subscription {sub.subscription_id}: user {username} by email, {_cadence(sub)}")
    if contact.reason is not None:
        click.echo(f"note: nothing is sent until this changes: {contact.reason} "
                   "(ehcp users set-email / enable)")


def _cadence(sub: Subscription) -> str:
    return ("daily digest at " + sub.digest_at.strftime("%H:%M") + " (London, working days)"
            if sub.digest_at else "at once")


def _shown_address(sub: Subscription) -> str:
    if sub.recipient.kind is model.RecipientKind.USER:
        return "(the account's email)"
    if sub.channel is Channel.EMAIL:
        return sub.address
    parts = urlsplit(sub.address)  # a query may carry the endpoint's own token: not shown
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


@notify.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def list_(as_json: bool) -> None:
    """List the subscriptions (webhook secrets are never shown)."""
    engine = _engine(load_settings())
    try:
        subs = store.all_subscriptions(engine)
    finally:
        engine.dispose()
    for sub in subs:
        kinds = sorted(sub.kinds)
        row = {"subscription_id": sub.subscription_id, "recipient": sub.recipient.describe(),
               "channel": sub.channel.value, "address": _shown_address(sub),
               "kinds": kinds, "min_severity": sub.min_severity,
               "resolved": sub.include_resolved,
               "digest_at": sub.digest_at.strftime("%H:%M") if sub.digest_at else None,
               "label": sub.label}
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{sub.subscription_id}  {row['recipient']:<10} {sub.channel.value:<7} "
                       f"{row['address']}  {','.join(kinds)}  >={sub.min_severity}  "
                       f"{_cadence(sub)}  {sub.label}")
    if not subs and not as_json:
        click.echo("no subscriptions")


@notify.command("remove")
@click.argument("subscription_id")
@reports_errors
def remove(subscription_id: str) -> None:
    """Remove a subscription; what it still had queued is cancelled."""
    engine = _engine(load_settings())
    try:
        gone = store.remove_subscription(engine, subscription_id[:100], _now_ms())
    finally:
        engine.dispose()
    if not gone:
        raise click.ClickException(f"no subscription {subscription_id[:100]!r}")
    click.echo(f"removed {subscription_id}")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@notify.command("failed")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def failed(as_json: bool) -> None:
    """Dead-lettered deliveries: refused for good, or still failing after the retry time."""
    engine = _engine(load_settings())
    try:
        rows = store.deliveries_with(engine, store.FAILED)
    finally:
        engine.dispose()
    for d in rows:
        row = {"delivery_id": d.delivery_id, "subscription_id": d.subscription_id,
               "channel": d.channel, "purpose": d.purpose, "case_id": d.case_id,
               "alerts": len(d.items), "attempts": d.attempts, "queued_at": _when(d.created_ms),
               "failed_at": _when(d.finished_ms), "last_error": d.last_error}
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{d.delivery_id}  {d.channel:<7} {d.purpose:<8} case {d.case_id or '-'}"
                       f"  {d.attempts} attempt(s), failed {row['failed_at']}: {d.last_error}")
    if not rows and not as_json:
        click.echo("no failed deliveries")


@notify.command("status")
@click.option("--la", "la_code", default=None, metavar="CODE",
              help="Only deliveries about this LA's cases and subscriptions (what its "
              "managers see in the workspace).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def status(la_code: str | None, as_json: bool) -> None:
    """Deliveries queued, sent, failed (and cancelled) per channel; what waits; what cannot
    be sent."""
    engine = _engine(load_settings())
    try:
        summary = store.delivery_summary(
            engine, None if la_code is None else normalise_la_code(la_code.strip()))
    finally:
        engine.dispose()
    unreachable = [{"subscription_id": u.subscription_id, "user": u.username,
                    "reason": u.reason} for u in summary.unreachable]
    if as_json:
        click.echo(json.dumps({"la": summary.la_code, "channels": summary.channels,
                               "held_for_case_owner": summary.held,
                               "waiting_for_digest": summary.waiting_for_digest,
                               "not_sent": unreachable}))
        return
    click.echo(f"{'channel':<9} " + " ".join(f"{s:>9}" for s in store.STATUSES))
    for channel, row in summary.channels.items():
        click.echo(f"{channel:<9} " + " ".join(f"{row[s]:>9}" for s in store.STATUSES))
    held = "" if summary.held is None else f"; held until the case's LA is known: {summary.held}"
    click.echo(f"waiting for a digest: {summary.waiting_for_digest}{held}")
    for u in summary.unreachable:
        click.echo(f"not sent: subscription {u.subscription_id} of user {u.username}: {u.reason}")


@notify.command("retry")
@click.argument("delivery_id")
@reports_errors
def retry(delivery_id: str) -> None:
    """Queue a failed (dead-lettered) delivery again, due now."""
    engine = _engine(load_settings())
    try:
        done = store.retry_failed(engine, delivery_id[:64], _now_ms())
    finally:
        engine.dispose()
    if not done:
        raise click.ClickException(f"no failed delivery {delivery_id[:64]!r}")
    click.echo(f"delivery {delivery_id} queued again")
