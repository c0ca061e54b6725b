"""Helpers shared by the CLI groups: settings loading and error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import pydantic

from ehcp.errors import EhcpError
from ehcp.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings()  # type: ignore[call-arg]  # fields come from the environment
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"EHCP_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise click.ClickException(f"invalid configuration: {problems}") from exc


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
