"""``ehcp users add|list|disable|enable|assign|set-email``: the workspace's user accounts.

Accounts live in the read model's database (``EHCP_READMODEL_URL``), in tables that
``ehcp workspace rebuild`` keeps. ``add`` enrols the second factor at once: it prints the TOTP
secret as an ``otpauth://`` URI (an authenticator app reads it from a QR code or as typed text)
once; only the argon2 hash of the password is stored.
"""

from __future__ import annotations

import re

import click
from sqlalchemy import Engine

from cli.common import load_settings, reports_errors
from ehcp.clock import SystemClock
from ehcp.errors import ValidationError
from ehcp.mailbox import parse_email
from ehcp.readmodel import people
from ehcp.readmodel.store import open_engine
from workspace.signin import hash_password, new_totp_secret, provisioning_uri


def _engine() -> Engine:
    engine = open_engine(load_settings().readmodel_database_url())
    people.create_people_tables(engine)
    return engine


@click.group("users")
def users() -> None:
    """Workspace user accounts: add, list, disable, enable, assign cases."""


@users.command("add")
@click.argument("username")
@click.option("--la", "la_code", required=True, help="The user's LA (DfE three-digit LA code).")
@click.option("--role", type=click.Choice([r.value for r in people.Role]), required=True,
              help="manager: every case of the LA; case_officer: their caseload, can act; "
              "read_only: every case, cannot act.")
@click.password_option("--password", prompt="Password (12+ characters)",
                       help="Prompted for (twice) if not given; EHCP_NEW_USER_PASSWORD also works.",
                       envvar="EHCP_NEW_USER_PASSWORD")
@click.option("--email", default=None, metavar="ADDRESS",
              help="The user's work email address (where their notifications go).")
@reports_errors
def add(username: str, la_code: str, role: str, password: str, email: str | None) -> None:
    """Create an account and print its second-factor enrolment URI once."""
    if not re.fullmatch(people.USERNAME_PATTERN, username):
        raise click.BadParameter("3 to 64 lower-case letters, digits, '.', '_' or '-'",
                                 param_hint="USERNAME")
    if not re.fullmatch(r"\d{3}", la_code):
        raise click.BadParameter("a DfE LA code is 3 digits", param_hint="--la")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from exc
    if email is not None:
        try:
            parse_email(email.strip())
        except ValidationError as exc:
            raise click.BadParameter(exc.message, param_hint="--email") from exc
    secret = new_totp_secret()
    try:
        engine = _engine()
        user = people.add_user(engine, username=username, la_code=la_code,
                               role=people.Role(role), password_hash=hashed,
                               totp_secret=secret, now=SystemClock().now())
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint="USERNAME") from exc
    if email is not None:
        people.set_email(engine, username, email)
    click.echo(f"user {user.username} ({user.role.value}, LA {user.la_code}) added")
    click.echo("Second factor: add this to an authenticator app (shown once):")
    click.echo(f"  {provisioning_uri(secret, username)}")


@users.command("list")
@click.option("--la", "la_code", default=None, help="Only this LA's users.")
@reports_errors
def list_(la_code: str | None) -> None:
    """List accounts (never a secret)."""
    engine = _engine()
    for user in people.list_users(engine, la_code):
        state = "disabled" if user.disabled else "active"
        cases = len(people.caseload(engine, user.user_id))
        email = people.email_of(engine, user.user_id) or "no email"
        click.echo(f"{user.username}\tLA {user.la_code}\t{user.role.value}\t{state}\t"
                   f"{cases} case(s)\t{email}")


@users.command("set-email")
@click.argument("username")
@click.argument("email", required=False)
@click.option("--clear", is_flag=True, help="Remove the address (the user is then sent nothing).")
@reports_errors
def set_email(username: str, email: str | None, clear: bool) -> None:
    """Set (or --clear) a user's work email address, where their notifications go."""
    if (email is None) != clear:
        raise click.UsageError("give EMAIL, or --clear to remove the address")
    try:
        found = people.set_email(_engine(), username, None if clear else email)
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint="EMAIL") from exc
    if not found:
        raise click.BadParameter("no such user", param_hint="USERNAME")
    click.echo(f"user {username}: " + ("email address removed" if clear else f"email {email}"))


@users.command("disable")
@click.argument("username")
@reports_errors
def disable(username: str) -> None:
    """Disable an account; its sessions end at once."""
    if not people.set_disabled(_engine(), username, True):
        raise click.BadParameter("no such user", param_hint="USERNAME")
    click.echo(f"user {username} disabled")


@users.command("enable")
@click.argument("username")
@reports_errors
def enable(username: str) -> None:
    """Enable a disabled account again."""
    if not people.set_disabled(_engine(), username, False):
        raise click.BadParameter("no such user", param_hint="USERNAME")
    click.echo(f"user {username} enabled")


@users.command("assign")
@click.argument("username")
@click.argument("case_ids", nargs=-1, required=True)
@reports_errors
def assign(username: str, case_ids: tuple[str, ...]) -> None:
    """Put cases on a case officer's caseload (cases of the officer's own LA only)."""
    from ehcp.readmodel.views import may_see_case

    engine = _engine()
    user = people.find_user(engine, username)
    if user is None or user.role is not people.Role.CASE_OFFICER:
        raise click.BadParameter("no such case officer", param_hint="USERNAME")
    for case_id in case_ids:
        if not may_see_case(engine, user.la_code, case_id):
            raise click.BadParameter(f"{case_id} is not a case of LA {user.la_code} in the read "
                                     "model (run `ehcp workspace project`)",
                                     param_hint="CASE_IDS")
    for case_id in case_ids:
        people.assign_case(engine, case_id, user.user_id)
    click.echo(f"{len(case_ids)} case(s) assigned to {username}")
