"""``ehcp report sen2``: the LA's SEN2 person-level return from the workers' case history."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import click

from cli.common import load_settings, reports_errors
from ehcp.clock import SystemClock
from ehcp.contract.avro import default_codec
from ehcp.errors import EhcpError
from ehcp.kafka_io.readers import read_partitions
from ehcp.reporting import sen2
from ehcp.settings import Settings


def read_cases(settings: Settings, reference_date: date) -> Iterator[sen2.Sen2Case | str]:
    """Every case the workers hold, evaluated as of ``reference_date``.

    Reads the cases table's changelog (as ``ehcp case export`` does, for all keys).
    """
    records = read_partitions(settings, f"{settings.app_id}-cases-changelog")
    return cases_from_changelog(((r.key, r.value) for r in records), reference_date)


def cases_from_changelog(records: Iterable[tuple[bytes | None, bytes | None]],
                         reference_date: date) -> Iterator[sen2.Sen2Case | str]:
    """The newest stored value per case, evaluated as of ``reference_date``.

    A stored case that cannot be read (not JSON, nested too deep, not a case, events that fail
    validation) yields its case id (a string, at most 80 characters) instead, so one bad entry
    is reported and never stops the return.
    """
    from streams.stages.case_store import case_la_code, stored_casework_events

    codec = default_codec()
    latest: dict[bytes, bytes | None] = {}
    for key, value in records:
        if key is not None:
            latest[key] = value
    for key, value in latest.items():
        try:
            case_id = str(json.loads(key))[:80]
        except (ValueError, RecursionError):
            yield key[:80].decode(errors="replace")
            continue
        if value is None:  # deleted
            continue
        try:
            state = json.loads(value)
            events = stored_casework_events(state, codec)
            yield sen2.evaluated(case_id, case_la_code(state, codec), events, reference_date)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, EhcpError):
            yield case_id


@click.group("report")
def report() -> None:
    """Statutory returns built from the case history."""


@report.command("sen2")
@click.option("--la", "la_code", required=True, help="The LA's three-digit code.")
@click.option("--year", type=int, required=True, help="Collection year, e.g. 2026.")
@click.option("--reference-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Survey day, for a year whose survey day is not built in.")
@click.option("--format", "fmt", type=click.Choice(["xml", "csv"]), default="xml")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the return here (default: standard output).")
@reports_errors
def sen2_cmd(la_code: str, year: int, reference_date: datetime | None, fmt: str,
             out: Path | None) -> None:
    """Build LA CODE's SEN2 person-level return for YEAR; print a summary on standard error.

    The return holds dates of birth: write it with --out to a place only the LA's SEN2 team
    reads. The summary names cases by their reference only.
    """
    coll = sen2.collection_for(year, reference_date.date() if reference_date else None)
    settings = load_settings()
    cases: list[sen2.Sen2Case] = []
    unreadable: list[str] = []
    for item in read_cases(settings, coll.reference_date):
        if isinstance(item, str):
            unreadable.append(item)
        else:
            cases.append(item)
    ret = sen2.build_return(cases, la_code, coll)
    body = sen2.to_xml(ret, SystemClock().now()) if fmt == "xml" else sen2.to_csv(ret)
    if out is None:
        click.echo(body, nl=False)
    else:
        out.write_text(body, encoding="utf-8")
    click.echo(sen2.summary(ret), err=True)
    if unreadable:
        click.echo(f"  unreadable stored cases (left out): {len(unreadable)}: "
                   f"{', '.join(sorted(unreadable)[:20])}", err=True)
