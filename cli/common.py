"""Helpers shared by the CLI groups: settings as a click error, and error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ehcp.errors import ConfigurationError, EhcpError
from ehcp.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def load_settings() -> Settings:
    """:meth:`Settings.from_env`, with a configuration error as one clear line and exit status 1."""
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def reports_errors(func: F) -> F:
    """Turn the project's errors into a one-line message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EhcpError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
