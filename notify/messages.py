"""What a notification says: email subjects and bodies, webhook payloads (pure).

Built only from an alert transition, which carries the case reference, the advice, the agency
and dates, never the child's name, NHS number or date of birth (``Alert`` has no such field),
so no message can contain them. Alert ``message`` text is the worker's plain words (the contract
says it never holds personal data); it is included as it is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from notify.model import AlertTransition

_KIND_WORDS = {
    "ADVICE_DUE_SOON": "Advice due soon",
    "ADVICE_OVERDUE": "Advice overdue",
    "ADVICE_NOT_REQUESTED": "Advice not requested",
    "DEADLINE_AT_RISK": "Deadline at risk",
    "DEADLINE_MISSED": "Deadline missed",
    "CONTRIBUTION_UNROUTED": "Advice not matched to a case",
    "OTHER": "Alert",
}


@dataclass(frozen=True, slots=True)
class EmailContent:
    """One email's subject and its two bodies (plain text and HTML)."""

    subject: str
    text: str
    html: str


def case_link(workspace_url: str | None, case_id: str | None) -> str | None:
    """The workspace page of a case, or None without a workspace URL or a case."""
    if not workspace_url or not case_id:
        return None
    return f"{workspace_url.rstrip('/')}/cases/{quote(case_id, safe='')}"


def advice_words(advice_type: str | None) -> str:
    """``MEDICAL`` -> ``medical advice``; None -> ``-``."""
    if not advice_type:
        return "-"
    return f"{advice_type.replace('_', ' ').lower()} advice"


def _headline(t: AlertTransition) -> str:
    words = _KIND_WORDS.get(t.kind, "Alert")
    return f"{words} (resolved)" if t.status == "RESOLVED" else words


def _facts(t: AlertTransition, workspace_url: str | None) -> list[tuple[str, str]]:
    facts = [
        ("Case reference", t.case_id or "-"),
        ("Advice", advice_words(t.advice_type)),
        ("Due", t.due_on.isoformat() if t.due_on else "-"),
    ]
    if t.days_overdue:
        facts.append(("Days overdue", f"{t.days_overdue} (as of {t.as_of.isoformat()})"))
    if t.agency_value:
        facts.append(("Asked of", t.agency_value))
    facts += [("Status", t.status.lower()), ("Severity", t.severity.lower()),
              ("Rule", t.regulation), ("Note", t.message)]
    link = case_link(workspace_url, t.case_id)
    if link:
        facts.append(("Case", link))
    return facts


def _text_block(t: AlertTransition, workspace_url: str | None) -> str:
    return "\n".join(f"{k}: {v}" for k, v in _facts(t, workspace_url))


def _html_block(t: AlertTransition, workspace_url: str | None) -> str:
    rows = []
    for key, value in _facts(t, workspace_url):
        cell = html.escape(value)
        if key == "Case":
            cell = f'<a href="{html.escape(value, quote=True)}">{cell}</a>'
        rows.append(f"<tr><th align=\"left\">{html.escape(key)}</th><td>{cell}</td></tr>")
    return f"<h2>{html.escape(_headline(t))}</h2>\n<table>\n" + "\n".join(rows) + "\n</table>"


_FOOTER = ("You receive this because of an EHCP Exchange notification subscription. "
           "It names no child: open the case to see who it is about.")


def alert_email(t: AlertTransition, workspace_url: str | None) -> EmailContent:
    """The email telling one subscription about one transition at once."""
    subject = f"{_headline(t)}: {advice_words(t.advice_type)}, case {t.case_id or '-'}"
    if t.due_on:
        subject += f", due {t.due_on.isoformat()}"
    text = f"{_headline(t)}\n\n{_text_block(t, workspace_url)}\n\n-- \n{_FOOTER}\n"
    body = (f"<!doctype html><html><body>{_html_block(t, workspace_url)}"
            f"<p><small>{html.escape(_FOOTER)}</small></p></body></html>")
    return EmailContent(subject, text, body)


def reminder_email(t: AlertTransition) -> EmailContent:
    """The reminder an agency's contact gets about advice it was asked for (no case link:
    the workspace is the LA's)."""
    due = t.due_on.isoformat() if t.due_on else "-"
    overdue = t.kind == "ADVICE_OVERDUE"
    subject = (f"Reminder: {advice_words(t.advice_type)} for case {t.case_id or '-'} "
               + (f"was due {due}" if overdue else f"is due {due}"))
    ask = ("Please send it as soon as you can, or tell the local authority why it is late."
           if overdue else "Please send it by the due date (reg 8, SEND Regulations 2014).")
    text = f"{subject}\n\n{_text_block(t, None)}\n\n{ask}\n\n-- \n{_FOOTER}\n"
    body = (f"<!doctype html><html><body>{_html_block(t, None)}<p>{html.escape(ask)}</p>"
            f"<p><small>{html.escape(_FOOTER)}</small></p></body></html>")
    return EmailContent(subject, text, body)


def digest_email(items: Sequence[AlertTransition], slot: datetime,
                 workspace_url: str | None) -> EmailContent:
    """The daily digest: every transition since the last one, oldest first."""
    when = slot.strftime("%Y-%m-%d")
    subject = f"EHCP Exchange daily digest {when}: {len(items)} alert change(s)"
    text = f"{subject}\n\n" + "\n\n".join(
        f"{n}. {_headline(t)}\n{_text_block(t, workspace_url)}" for n, t in enumerate(items, 1)
    ) + f"\n\n-- \n{_FOOTER}\n"
    body = ("<!doctype html><html><body><h1>" + html.escape(subject) + "</h1>"
            + "".join(_html_block(t, workspace_url) for t in items)
            + f"<p><small>{html.escape(_FOOTER)}</small></p></body></html>")
    return EmailContent(subject, text, body)


def webhook_payload(items: Sequence[AlertTransition], *, digest: bool, sent_at: datetime,
                    workspace_url: str | None) -> dict[str, Any]:
    """The JSON body of a webhook (Standard Webhooks' ``type``/``timestamp``/``data`` shape)."""

    def entry(t: AlertTransition) -> dict[str, Any]:
        return {
            "alert_event_id": t.event_id, "alert_id": t.alert_id, "case_id": t.case_id,
            "kind": t.kind, "status": t.status, "severity": t.severity,
            "advice_type": t.advice_type,
            "agency": ({"system": t.agency_system, "value": t.agency_value}
                       if t.agency_value else None),
            "due_on": t.due_on.isoformat() if t.due_on else None,
            "days_overdue": t.days_overdue, "as_of": t.as_of.isoformat(),
            "regulation": t.regulation, "message": t.message,
            "case_url": case_link(workspace_url, t.case_id),
        }

    stamp = sent_at.isoformat().replace("+00:00", "Z")
    if digest:
        return {"type": "alert.digest", "timestamp": stamp,
                "data": {"alerts": [entry(t) for t in items]}}
    (only,) = items
    return {"type": f"alert.{only.status.lower()}", "timestamp": stamp, "data": entry(only)}
