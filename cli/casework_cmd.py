"""``ehcp case explain``: evaluate a case from a JSON-lines events file and explain it.

The lead registers :data:`explain` under the ``case`` group; this module only defines it.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from ehcp.casework.engine import evaluate
from ehcp.casework.explain import render_text, to_json
from ehcp.casework.jsonl import parse_lines
from ehcp.casework.policy import Policy
from ehcp.errors import CaseworkError, ValidationError


@click.command("explain")
@click.argument("events_file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--as-of",
    "as_of",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Evaluate the case as of this date (YYYY-MM-DD); later events are ignored.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
def explain(events_file: click.utils.LazyFile, as_of: datetime, as_json: bool) -> None:
    """Explain a case's statutory dates, advice, exceptions and alerts from EVENTS_FILE."""
    try:
        events = parse_lines(events_file)
        policy = Policy()
        assessment = evaluate(
            events, date(as_of.year, as_of.month, as_of.day), policy, policy.calendar()
        )
    except (ValidationError, CaseworkError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(to_json(assessment), indent=2))
    else:
        click.echo(render_text(assessment), nl=False)
