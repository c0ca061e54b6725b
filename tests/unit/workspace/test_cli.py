"""``ehcp users`` and ``ehcp workspace serve`` as an administrator runs them."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from cli.main import cli
from ehcp.readmodel import people
from ehcp.readmodel.store import open_engine, reset
from tests.workspace_support import CASE, FOREIGN_CASE, PASSWORD, standard_read_model


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A SQLite read model holding LA 886's and LA 999's cases."""
    url = f"sqlite:///{tmp_path / 'rm.sqlite3'}"
    engine = open_engine(url)
    standard_read_model(engine)
    engine.dispose()
    return {"EHCP_READMODEL_URL": url, "EHCP_NEW_USER_PASSWORD": PASSWORD}


def test_add_prints_totp_enrolment_and_stores_only_a_hash(env: dict[str, str]) -> None:
    """``users add`` prints an otpauth URI once; the store holds an argon2 hash, not the password."""
    result = CliRunner().invoke(cli, ["users", "add", "jo.bloggs", "--la", "886", "--role",
                                      "case_officer"], env=env)
    assert result.exit_code == 0, result.output
    uri = next(line.strip() for line in result.output.splitlines() if "otpauth://" in line)
    secret = pyotp.parse_uri(uri).secret
    user = people.find_user(open_engine(env["EHCP_READMODEL_URL"]), "jo.bloggs")
    assert user is not None
    assert user.totp_secret == secret
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(("args", "says"), [
    (["users", "add", "Jo Bloggs", "--la", "886", "--role", "manager"], "USERNAME"),
    (["users", "add", "jo.bloggs", "--la", "88", "--role", "manager"], "--la"),
    (["users", "add", "jo.bloggs", "--la", "886", "--role", "admin"], "--role"),
])
def test_add_refuses_bad_input(env: dict[str, str], args: list[str], says: str) -> None:
    """A malformed user name, LA code or role is a usage error (exit 2) and stores nothing."""
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2
    assert says in result.output
    assert people.list_users(open_engine(env["EHCP_READMODEL_URL"])) == []


def test_short_password_refused(env: dict[str, str]) -> None:
    """A password under 12 characters is refused."""
    result = CliRunner().invoke(cli, ["users", "add", "jo.bloggs", "--la", "886", "--role",
                                      "manager"], env={**env, "EHCP_NEW_USER_PASSWORD": "short"})
    assert result.exit_code == 2
    assert "12 characters" in result.output


def test_assign_only_the_officers_own_las_cases(env: dict[str, str]) -> None:
    """``users assign`` gives LA 886's case to its officer and refuses LA 999's case."""
    runner = CliRunner()
    runner.invoke(cli, ["users", "add", "jo.bloggs", "--la", "886", "--role", "case_officer"],
                  env=env)
    refused = runner.invoke(cli, ["users", "assign", "jo.bloggs", FOREIGN_CASE], env=env)
    assert refused.exit_code == 2
    done = runner.invoke(cli, ["users", "assign", "jo.bloggs", CASE], env=env)
    assert done.exit_code == 0, done.output
    listed = runner.invoke(cli, ["users", "list"], env=env)
    assert "jo.bloggs\tLA 886\tcase_officer\tactive\t1 case(s)" in listed.output


def test_disable_then_rebuild_keeps_people(env: dict[str, str]) -> None:
    """``users disable`` marks the account; rebuilding the read model keeps the people tables."""
    runner = CliRunner()
    runner.invoke(cli, ["users", "add", "jo.bloggs", "--la", "886", "--role", "manager"], env=env)
    assert runner.invoke(cli, ["users", "disable", "jo.bloggs"], env=env).exit_code == 0
    assert runner.invoke(cli, ["users", "disable", "nobody"], env=env).exit_code == 2
    engine = open_engine(env["EHCP_READMODEL_URL"])
    reset(engine)  # what `ehcp workspace rebuild` does before projecting
    user = people.find_user(engine, "jo.bloggs")
    assert user is not None
    assert user.disabled


def test_serve_refuses_plain_http_unless_asked(env: dict[str, str]) -> None:
    """Without a certificate, ``workspace serve`` refuses to start unless plain-http dev is set."""
    result = CliRunner().invoke(cli, ["workspace", "serve"],
                                env={**env, "EHCP_PSEUDONYM_KEY": "k" * 40})
    assert result.exit_code == 1
    assert "HTTPS only" in result.output


def test_rebuild_without_the_pseudonym_key_refuses_before_emptying(env: dict[str, str]) -> None:
    """No EHCP_PSEUDONYM_KEY: ``workspace rebuild`` says so and leaves the read model as it was."""
    from sqlalchemy import text

    result = CliRunner().invoke(cli, ["workspace", "rebuild"],
                                env={**env, "EHCP_PSEUDONYM_KEY": ""})
    assert result.exit_code != 0
    assert "EHCP_PSEUDONYM_KEY" in result.output
    engine = open_engine(env["EHCP_READMODEL_URL"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 3
    engine.dispose()


def test_users_email_is_checked_set_and_cleared(env: dict[str, str]) -> None:
    """``users add --email`` and ``users set-email`` store a checked address; a bad one is a
    usage error that stores nothing; ``--clear`` removes it; ``list`` shows it."""
    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["users", *args], env=env)

    bad = run("add", "jo.bloggs", "--la", "886", "--role", "manager", "--email", "Jo <jo@x.uk>")
    assert bad.exit_code == 2
    assert "--email" in bad.output
    assert people.list_users(open_engine(env["EHCP_READMODEL_URL"])) == []
    made = run("add", "jo.bloggs", "--la", "886", "--role", "manager",
               "--email", "Jo.Bloggs@LA886.Example.gov.uk")
    assert made.exit_code == 0, made.output
    assert "jo.bloggs\tLA 886\tmanager\tactive\t0 case(s)\tJo.Bloggs@la886.example.gov.uk" in \
        run("list").output
    refused = run("set-email", "jo.bloggs", "jo@example.gov.uk\nBcc: x@example.com")
    assert refused.exit_code == 2
    assert run("set-email", "nobody", "jo@example.gov.uk").exit_code == 2
    assert run("set-email", "jo.bloggs", "sen.jo@example.gov.uk").exit_code == 0
    assert "sen.jo@example.gov.uk" in run("list").output
    assert run("set-email", "jo.bloggs").exit_code == 2  # neither an address nor --clear
    assert run("set-email", "jo.bloggs", "--clear").exit_code == 0
    assert "no email" in run("list").output
