"""``ehcp import``: bulk-load referrals, advice or casework events from CSV, with a dry run."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import click

from cli.common import load_settings, reports_errors
from connectors.auth import KIND_ADVICE_TYPES, KIND_SCOPES
from connectors.csv_import import IMPORT_KINDS, ImportReport, import_csv
from connectors.ports import Principal
from ehcp.clock import SystemClock
from ehcp.identifiers import LA_CODE_SYSTEM


@click.command("import")
@click.argument("kind", type=click.Choice(IMPORT_KINDS))
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--agency-kind",
    type=click.Choice(["education", "social_care"]),
    default="education",
    show_default=True,
    help="Whose data this is: sets the advice and casework event types allowed.",
)
@click.option("--agency", "agency_value", required=True, help="The LA code the rows come from.")
@click.option("--dry-run", is_flag=True, help="Validate every row; publish nothing.")
@click.option(
    "--errors-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-row error report here as CSV (row, column, message).",
)
@reports_errors
def import_(
    kind: str,
    csv_file: Path,
    agency_kind: str,
    agency_value: str,
    dry_run: bool,
    errors_out: Path | None,
) -> None:
    """Import KIND (referrals, advice or casework-events) rows from CSV_FILE.

    Rows are validated as the JSON API validates them; the columns of each kind are listed in
    docs/csv-import.md. A dry run needs neither EHCP_PSEUDONYM_KEY nor a Kafka broker.
    """
    from connectors.kafka_publisher import KafkaPublisher
    from ehcp.schema_registry.codec import codec_for

    settings = load_settings()
    # A dry run publishes nothing, so it needs no key to pseudonymise Kafka keys and no broker.
    pseudonym_key = None if dry_run else settings.pseudonym_key_bytes()
    principal = Principal(
        "csv-import",
        LA_CODE_SYSTEM,
        agency_value,
        agency_kind,
        KIND_SCOPES[agency_kind],
        KIND_ADVICE_TYPES[agency_kind],
    )
    with open(csv_file, newline="", encoding="utf-8") as handle:
        total = sum(1 for _ in handle) - 1
    publisher = (
        None
        if dry_run
        else KafkaPublisher(settings, codec_for(settings), source="/ehcp-exchange/import")
    )

    async def run() -> ImportReport:
        try:
            with (
                open(csv_file, newline="", encoding="utf-8") as handle,
                click.progressbar(length=max(total, 0), label=f"importing {kind}") as bar,
            ):
                return await import_csv(
                    kind,
                    handle,
                    principal,
                    pseudonym_key,
                    publisher,
                    clock=SystemClock(),
                    dry_run=dry_run,
                    progress=bar.update,
                )
        finally:
            if publisher is not None:
                await publisher.close()

    report = asyncio.run(run())
    errors = report.errors
    click.echo(
        f"{report.rows} row(s) read, {report.published} published"
        f"{' (dry run)' if dry_run else ''}, {len(errors)} error(s)"
    )
    for error in errors[:20]:
        click.echo(f"  row {error.row} {error.column}: {error.message}")
    if errors_out is not None:
        with open(errors_out, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "column", "message"])
            writer.writerows((e.row, e.column, e.message) for e in errors)
    raise SystemExit(1 if errors else 0)
