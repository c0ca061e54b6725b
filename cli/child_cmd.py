"""``ehcp child traces``: where one child's identifiers still appear (topics, read model, files).

Read-only. It is the check an erasure must pass (docs/security.md, "Erasure or restriction for
one child") and the first step of a subject access request. It prints locations and the kind of
identifier found, never an identifier or the data around it.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import load_settings, reports_errors
from ehcp.contract.topics import catalogue
from ehcp.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    ULN_SYSTEM,
    UPN_SYSTEM,
    Identifier,
    normalise_nhs_number,
    normalise_upn,
    validate_identifier,
)
from ehcp.kafka_io.traces import topic_traces
from ehcp.readmodel.store import open_engine
from ehcp.readmodel.traces import table_traces
from ehcp.traces import Needles, file_traces


@click.group("child")
def child() -> None:
    """One child's data across the deployment."""


@child.command("traces")
@click.option("--nhs-number", help="The child's NHS number (check digit verified).")
@click.option("--upn", help="The child's Unique Pupil Number (check letter verified).")
@click.option("--uln", help="The child's Unique Learner Number (check digit verified).")
@click.option("--la-child-id", help="The LA's own id for the child.")
@click.option("--case-id", "case_ids", multiple=True, help="An EHC case id of the child "
              "(repeatable).")
@click.option("--documents/--no-documents", default=True, show_default=True,
              help="Also search the files of the document store (EHCP_DOCUMENTS_DIR).")
@reports_errors
def traces(nhs_number: str | None, upn: str | None, uln: str | None, la_child_id: str | None,
           case_ids: tuple[str, ...], documents: bool) -> None:
    """List every topic record, read model column and document file holding the child's
    identifiers, child keys or case ids. Exit 0 if none is found, 3 if some are."""
    settings = load_settings()
    given = [(NHS_NUMBER_SYSTEM, nhs_number and normalise_nhs_number(nhs_number)),
             (UPN_SYSTEM, upn and normalise_upn(upn)), (ULN_SYSTEM, uln),
             (LA_CHILD_ID_SYSTEM, la_child_id)]
    identifiers = [validate_identifier(Identifier(system=s, value=v)) for s, v in given if v]
    if not identifiers and not case_ids:
        raise click.UsageError("give at least one identifier or --case-id")
    key = settings.pseudonym_key_bytes() if settings.pseudonym_key is not None else None
    needles = Needles.for_child(identifiers, list(case_ids), key)
    found = 0
    for t in topic_traces(settings, catalogue(settings.app_id), needles):
        click.echo(f"topic {t.topic} partition {t.partition} offset {t.offset} {t.part}: "
                   f"{', '.join(sorted(t.labels))}")
        found += 1
    engine = open_engine(settings.readmodel_database_url())
    try:
        for row in table_traces(engine, needles):
            click.echo(f"table {row.table} column {row.column}: {row.label} in {row.rows} row(s)")
            found += 1
    finally:
        engine.dispose()
    if documents:
        for f in file_traces(Path(settings.documents_dir), needles):
            click.echo(f"file {f.path}: {', '.join(sorted(f.labels))}")
            found += 1
    click.echo(f"{found} place(s) hold the child's identifiers", err=True)
    if found:
        raise SystemExit(3)
