"""The Docker path (docker/) stays consistent with the local one, checked without a Docker engine:
every command a service runs exists in the ``ehcp`` CLI, every ``EHCP_*`` variable the files set
is a setting (or a CLI option's variable), the image holds every package the project installs,
and the broker image is the Kafka version ``ehcp kafka start`` runs."""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path
from typing import Any

import click
import yaml

from cli.main import cli
from ehcp.kafka_io.broker.local import KAFKA_VERSION
from ehcp.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"
REPO = DOCKER.parent


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def _ehcp_services() -> dict[str, dict[str, Any]]:
    """The services that run the project's image (their command is an ``ehcp`` command)."""
    return {name: svc for name, svc in _compose()["services"].items()
            if svc.get("image") == "ehcp-exchange:local"}


def _cli_envvars() -> set[str]:
    """Variables the CLI's options read (``ehcp kafka --home`` reads EHCP_KAFKA_HOME, ...)."""
    found: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                found.add(envvar)
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    walk(cli)
    return found


def _rest(ctx: click.Context) -> list[str]:
    """The words a group's context left for its subcommand."""
    with warnings.catch_warnings():  # click 8.3 keeps them in protected_args (gone in 9.0)
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*ctx.protected_args, *ctx.args]


def _resolve(args: list[str]) -> None:
    """Parse ``ehcp ARGS`` exactly as the CLI would, without running it (fails if unknown)."""
    command: click.Command = cli
    ctx = cli.make_context("ehcp", list(args), resilient_parsing=False)
    rest = _rest(ctx)
    while isinstance(command, click.Group) and rest:
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, f"no ehcp command {name!r} in {args}"
        command = sub
        ctx = sub.make_context(name or "", list(rest), parent=ctx)
        rest = _rest(ctx) if isinstance(sub, click.Group) else []
    assert not isinstance(command, click.Group), f"{args} names a group, not a command"


def test_every_service_command_is_an_ehcp_command_with_known_options() -> None:
    """Each service's command parses as an ``ehcp`` command: unknown words or options fail."""
    services = _ehcp_services()
    assert {"topics", "worker", "connectors", "projector", "workspace", "notify"} <= set(services)
    for service in services.values():
        _resolve(service["command"])
    assert _ehcp_services()["projector"]["command"][:2] == ["workspace", "project"]


def test_the_resolver_refuses_an_unknown_command_or_option() -> None:
    """The check above can fail: a misspelt command or option does not parse."""
    for bad in (["worker", "--no-such-option"], ["workspace", "projekt"], ["no-such"]):
        try:
            _resolve(bad)
        except (click.UsageError, AssertionError):
            continue
        raise AssertionError(f"{bad} parsed")


def _variables_in(text: str) -> set[str]:
    return set(re.findall(r"\b(EHCP_[A-Z0-9_]+)", text))


def test_every_ehcp_variable_in_the_docker_files_is_a_setting() -> None:
    """Every EHCP_* name in docker/ (compose, Dockerfile, env example, README) is read by the code."""
    settings = {f"EHCP_{name.upper()}" for name in Settings.model_fields}
    known = settings | _cli_envvars()
    used: set[str] = set()
    for path in DOCKER.iterdir():
        used |= _variables_in(path.read_text())
    assert "EHCP_PSEUDONYM_KEY" in used
    assert used - known == set()


def test_the_image_holds_every_package_the_project_installs() -> None:
    """The Dockerfile copies every top-level package pyproject's setuptools include names."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (DOCKER / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert packages - copied == set()


def test_the_broker_image_is_the_version_ehcp_kafka_start_runs() -> None:
    """compose's apache/kafka image has the same version as the Maven-assembled broker."""
    assert _compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_no_secret_is_set_in_the_docker_files() -> None:
    """Passwords and keys come from ehcp.env (not committed) or the orchestrator, never the files."""
    for path in DOCKER.iterdir():
        for line in path.read_text().splitlines():
            match = re.match(r"\s*#?\s*(EHCP_[A-Z_]*(?:PASSWORD|KEY)|POSTGRES_PASSWORD)\s*[=:]\s*(\S*)",
                             line)
            if match and match.group(1) not in ("EHCP_TLS_KEYFILE",):
                assert match.group(2) in ("", '""'), f"{path.name}: {line}"
