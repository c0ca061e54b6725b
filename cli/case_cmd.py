"""``ehcp case show`` (live state from Kafka) and ``ehcp alerts tail``."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from cli.common import load_settings, reports_errors
from ehcp.contract.avro import default_codec
from ehcp.contract.topics import ALERTS, CASE_STATUS
from ehcp.kafka_io.dedupe import RECENT_EVENT_IDS, RecentIds
from ehcp.kafka_io.readers import decode_all, latest_for_key, read_partitions
from ehcp.schema_registry.codec import codec_for


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


_RECEIVED = ("RECEIVED", "REUSED")


def render_status(status: dict[str, Any]) -> str:
    """A case status as text a caseworker can read."""
    lines = [
        f"case {status['case_id']}: {status['stage'].replace('_', ' ').lower()} "
        f"(as of {status['as_of']})",
        f"  request received: {status['received_on'] or '-'}; final plan due (reg 13(2)): "
        f"{status['final_plan_due_on'] or '-'}; open alerts: {status['open_alerts']}",
        "  advice:",
    ]
    received = [a for a in status["advice"] if a["status"] in _RECEIVED]
    declined = [a for a in status["advice"] if a["status"] == "DECLINED"]
    for item in status["advice"]:
        agency = item["agency"]["value"] if item["agency"] else "-"
        line = (
            f"    {item['advice_type']:<27} {item['status']:<13} {item['regulation']:<12} "
            f"agency {agency:<8} due {item['due_on'] or '-'}"
        )
        if item["status"] == "DECLINED":
            line += f" declined: {item.get('decline_reason') or 'no reason given'}"
        lines.append(line)
    # A declined request is closed, not missing; the advice it was for still is (reg 6), and
    # the case shows that as its own NOT_REQUESTED item until the LA asks someone else.
    missing = len(status["advice"]) - len(received) - len(declined)
    counted = f"{len(declined)} declined, " if declined else ""
    lines.append(f"  {len(received)} received, {counted}{missing} still missing")
    dates = status.get("statutory_dates")  # CaseStatus v3; None from an older writer
    if dates:
        flag = status.get("exceptions_apply")
        lines.append(
            f"  decided to assess: {status.get('decided_to_assess_on') or '-'}; final plan "
            f"issued: {status.get('final_plan_issued_on') or '-'}; 20-week exceptions apply "
            f"(SEN2): {'-' if flag is None else 'yes' if flag else 'no'}")
        lines.append("  statutory dates:")
        for due in dates:
            excused = f" excused by {', '.join(due['exception_ids'])}" if due["excused"] else ""
            lines.append(
                f"    {due['due_on']} {due['name']:<36} {due['status']:<14} "
                f"done {due['completed_on'] or '-'}  {due['regulation']}{excused}")
    return "\n".join(lines)


@click.group("case")
def case() -> None:
    """Look at EHC cases."""


@case.command("show")
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True, help="Print the CaseStatus record as JSON.")
@reports_errors
def show(case_id: str, as_json: bool) -> None:
    """Show a case's current state from the compacted case-status topic."""
    settings = load_settings()
    record = latest_for_key(settings, CASE_STATUS.name, case_id)
    if record is None:
        raise click.ClickException(f"no status for case {case_id} yet")
    _, status = codec_for(settings).decode(record.value or b"")
    click.echo(json.dumps(_jsonable(status), indent=2) if as_json else render_status(status))


@case.command("export")
@click.argument("case_id")
@reports_errors
def export(case_id: str) -> None:
    """Print a case's events as the worker holds them, in the format `ehcp case explain` reads.

    `ehcp case export ID > events.jsonl; ehcp case explain events.jsonl --as-of DATE` gives the
    same evaluation the running streams make (they call the same engine on the same events).
    """
    from ehcp.casework.jsonl import dumps
    from streams.stages.case_store import stored_casework_events

    settings = load_settings()
    changelog = f"{settings.app_id}-cases-changelog"
    record = latest_for_key(settings, changelog, case_id, stored_key=json.dumps(case_id).encode())
    if record is None or record.value is None:
        raise click.ClickException(f"the workers hold no case {case_id}")
    state = json.loads(record.value)
    events = stored_casework_events(state, default_codec())
    click.echo(dumps(events), nl=False)


@click.group("alerts")
def alerts() -> None:
    """Follow overdue-contribution alerts."""


def render_alert(alert: dict[str, Any]) -> str:
    """One alert as one readable line."""
    advice = alert["advice_type"] or "-"
    agency = alert["agency"]["value"] if alert["agency"] else "-"
    due = alert["due_on"].isoformat() if alert["due_on"] else "-"
    return (
        f"{alert['as_of']} {alert['status']:<8} {alert['severity']:<8} {alert['kind']:<21} "
        f"case={alert['case_id'] or '-'} advice={advice} agency={agency} due={due} "
        f"overdue={alert['days_overdue']}d {alert['regulation']}: {alert['message']}"
    )


@alerts.command("tail")
@click.option("--follow/--no-follow", default=True, help="Keep waiting for new alerts.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def tail(follow: bool, as_json: bool) -> None:
    """Print alerts from the beginning of the alerts topic, then follow.

    An alert re-sent with the same event id (Kafka delivers at least once) is printed once: the
    last RECENT_EVENT_IDS event ids are remembered (docs/contract.md, "Reading alerts").
    """
    settings = load_settings()
    codec = codec_for(settings)
    recent = RecentIds(RECENT_EVENT_IDS)
    for _, alert in decode_all(codec, read_partitions(settings, ALERTS.name, follow=follow)):
        if not recent.first_time(str(alert["event_id"])):
            continue
        click.echo(json.dumps(_jsonable(alert)) if as_json else render_alert(alert))
