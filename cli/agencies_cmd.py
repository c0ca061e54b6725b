"""``ehcp agencies add|list|revoke``: agency credentials for the connectors."""

from __future__ import annotations

import dataclasses

import click

from cli.common import load_settings, reports_errors
from connectors.auth import KIND_SCOPES, FileCredentialStore, new_credential
from ehcp.errors import ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM

DEFAULT_SYSTEMS = {
    "health": ODS_ORGANISATION_SYSTEM,
    "education": LA_CODE_SYSTEM,
    "social_care": LA_CODE_SYSTEM,
    "local_authority": LA_CODE_SYSTEM,
    "admin": LA_CODE_SYSTEM,
}
#: The option to blame for each kind of refusal from ``new_credential``.
_OPTION_OF: dict[str | None, str] = {
    "agency": "--agency",
    "system": "--system",
    "advice_types": "--advice-type",
}


@click.group("agencies")
def agencies() -> None:
    """Create, list and revoke agency credentials (stored hashed)."""


@agencies.command("add")
@click.option("--kind", type=click.Choice(sorted(KIND_SCOPES)), required=True)
@click.option(
    "--agency",
    "agency_value",
    required=True,
    help="ODS organisation code (health: 3 to 6 letters and digits), DfE LA code (3 digits) or "
    "school URN (6 digits, education with --system .../school-urn).",
)
@click.option(
    "--system", "agency_system", default=None, help="Identifier system URI (default by kind)."
)
@click.option(
    "--advice-type",
    "advice_types",
    multiple=True,
    help="Restrict to these advice types, among those the kind may submit (default: all of "
    "the kind's; see docs/security.md).",
)
@reports_errors
def add(
    kind: str, agency_value: str, agency_system: str | None, advice_types: tuple[str, ...]
) -> None:
    """Create a credential and print its bearer token once.

    A malformed agency code, a system the kind is not identified by, or advice the kind may not
    submit is a usage error (exit status 2) and stores nothing.
    """
    store = FileCredentialStore(load_settings().credentials_file)
    try:
        credential, token = new_credential(
            agency_system or DEFAULT_SYSTEMS[kind], agency_value, kind, advice_types
        )
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint=f"'{_OPTION_OF[exc.location]}'") from exc
    store.save([*store.all(), credential])
    click.echo(
        f"credential {credential.credential_id} for {kind} agency {credential.agency_value}"
    )
    click.echo(f"token (shown once): {token}")


@agencies.command("list")
def list_() -> None:
    """List credentials (never the tokens)."""
    for c in FileCredentialStore(load_settings().credentials_file).all():
        state = "revoked" if c.revoked else "active"
        click.echo(f"{c.credential_id}\t{c.kind}\t{c.agency_system}|{c.agency_value}\t{state}")


@agencies.command("revoke")
@click.argument("credential_id")
def revoke(credential_id: str) -> None:
    """Revoke a credential; its token stops working at once."""
    store = FileCredentialStore(load_settings().credentials_file)
    all_ = store.all()
    if not any(c.credential_id == credential_id for c in all_):
        raise click.ClickException(f"no credential {credential_id}")
    store.save(
        [
            dataclasses.replace(c, revoked=True) if c.credential_id == credential_id else c
            for c in all_
        ]
    )
    click.echo(f"revoked {credential_id}")
