"""Rendering pages: the Jinja2 environment (autoescaped) and the context every page gets."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ehcp.casework.calendar import LONDON
from ehcp.readmodel.views import DUE_SOON_DAYS
from workspace.charts import bar_chart

TEMPLATES: Final = Path(__file__).parent / "templates"
STATIC: Final = Path(__file__).parent / "static"


def _day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(LONDON)).strftime("%d %b %Y %H:%M")
    return value.strftime("%d %b %Y")


def _label(value: str | None) -> str:
    """An enum symbol as words: ``PARENT_OR_YOUNG_PERSON`` -> ``Parent or young person``."""
    if not value:
        return ""
    return value.replace("_", " ").capitalize()


def make_templates() -> Jinja2Templates:
    """The templates, with the filters the pages use."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["day"] = _day
    templates.env.filters["label"] = _label
    templates.env.globals["bar_chart"] = bar_chart
    templates.env.globals["due_soon_days"] = DUE_SOON_DAYS
    return templates


def page(request: Request, name: str, context: dict[str, Any] | None = None,
         status_code: int = 200) -> HTMLResponse:
    """Render a template with the session's user and CSRF token (if signed in)."""
    templates: Jinja2Templates = request.app.state.templates
    session = getattr(request.state, "session", None)
    ctx = {
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
