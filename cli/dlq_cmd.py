"""``ehcp dlq list|replay``: inspect and re-drive dead letters."""

from __future__ import annotations

import click

from cli.common import load_settings, reports_errors
from ehcp.kafka_io.dead_letters import list_dead_letters, replay


@click.group("dlq")
def dlq() -> None:
    """Messages the workers could not process, with the reason."""


@dlq.command("list")
@reports_errors
def list_() -> None:
    """One line per dead letter: where it is, where it came from, the stage and the error."""
    count = 0
    for letter in list_dead_letters(load_settings()):
        count += 1
        r = letter.record
        click.echo(
            f"{r.partition}:{r.offset}\tfrom {letter.original_topic}[{letter.original_partition}]"
            f"@{letter.original_offset}\tstage={letter.stage}\t{letter.exception_class}: "
            f"{letter.exception_message}"
        )
    click.echo(f"{count} dead letter(s)")


@dlq.command("replay")
@click.option("--stage", help="Only dead letters from this stage (e.g. process_cases).")
@click.option("--topic", help="Only dead letters that came from this topic.")
@click.option("--from-beginning", is_flag=True, help="Also re-drive dead letters replayed before.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; send nothing.")
@reports_errors
def replay_(stage: str | None, topic: str | None, from_beginning: bool, dry_run: bool) -> None:
    """Send dead letters back to their original topic after the cause has been fixed."""
    letters = replay(
        load_settings(), stage=stage, topic=topic, from_beginning=from_beginning, dry_run=dry_run
    )
    for letter in letters:
        click.echo(
            f"{'would replay' if dry_run else 'replayed'} {letter.record.partition}:"
            f"{letter.record.offset} -> {letter.original_topic}"
        )
    click.echo(f"{len(letters)} dead letter(s) {'would be ' if dry_run else ''}replayed")
