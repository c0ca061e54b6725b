"""Agency credentials: valid agency codes and the advice types each agency kind may give (issue #13 item 10)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import cli
from connectors.app import Ports, create_app
from connectors.auth import (
    KIND_ADVICE_TYPES,
    Credential,
    FileCredentialStore,
    new_credential,
)
from connectors.ports import InMemoryDocumentStore, InMemoryPublisher
from ehcp.errors import ValidationError
from ehcp.identifiers import (
    LA_CODE_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    SCHOOL_URN_SYSTEM,
    normalise_la_code,
    normalise_ods_code,
    normalise_school_urn,
)
from ehcp.settings import Settings


def add(tmp_path: Path, *args: str) -> tuple[int, str, list[dict[str, object]]]:
    """Run ``ehcp agencies add ARGS`` against a credentials file in tmp_path."""
    path = tmp_path / "credentials.json"
    result = CliRunner().invoke(cli, ["agencies", "add", *args],
                                env={"EHCP_CREDENTIALS_FILE": str(path)})
    stored = json.loads(path.read_text()) if path.exists() else []
    return result.exit_code, result.output, stored


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--kind", "health", "--agency", "not an ods!"], "--agency"),
        (["--kind", "health", "--agency", "R1"], "--agency"),
        (["--kind", "education", "--agency", "12"], "--agency"),
        (["--kind", "social_care", "--agency", "99A"], "--agency"),
        (["--kind", "education", "--system", SCHOOL_URN_SYSTEM, "--agency", "10001"], "--agency"),
        (["--kind", "health", "--system", LA_CODE_SYSTEM, "--agency", "999"], "--system"),
        (["--kind", "social_care", "--agency", "999", "--advice-type", "MEDICAL"], "--advice-type"),
        (["--kind", "education", "--agency", "999", "--advice-type", "NOT_A_TYPE"],
         "--advice-type"),
    ],
)
def test_agencies_add_refuses_bad_codes_and_advice_types(
    tmp_path: Path, args: list[str], option: str
) -> None:
    """A malformed ODS code, LA code or URN, a system foreign to the kind, or advice the kind may not give exits 2 naming the option, storing nothing."""
    code, output, stored = add(tmp_path, *args)
    assert code == 2, output
    assert f"Invalid value for '{option}'" in output
    assert "token" not in output
    assert stored == []


def test_social_care_credential_offered_medical_advice_names_what_it_may_give(
    tmp_path: Path,
) -> None:
    """The refusal of MEDICAL for social care lists the advice types social care may submit."""
    _, output, _ = add(tmp_path, "--kind", "social_care", "--agency", "999",
                       "--advice-type", "MEDICAL")
    assert "SOCIAL_CARE" in output


@pytest.mark.parametrize(
    ("args", "system", "value", "advice_types"),
    [
        (["--kind", "health", "--agency", "rbz"], ODS_ORGANISATION_SYSTEM, "RBZ", []),
        (["--kind", "health", "--agency", "A81001"], ODS_ORGANISATION_SYSTEM, "A81001", []),
        (["--kind", "education", "--agency", "999", "--advice-type", "PSYCHOLOGICAL"],
         LA_CODE_SYSTEM, "999", ["PSYCHOLOGICAL"]),
        (["--kind", "education", "--system", SCHOOL_URN_SYSTEM, "--agency", "100001",
          "--advice-type", "EDUCATIONAL"], SCHOOL_URN_SYSTEM, "100001", ["EDUCATIONAL"]),
        (["--kind", "social_care", "--agency", "999"], LA_CODE_SYSTEM, "999", []),
    ],
)
def test_agencies_add_stores_valid_credentials(
    tmp_path: Path, args: list[str], system: str, value: str, advice_types: list[str]
) -> None:
    """Valid codes are stored (an ODS code upper-cased) with the advice types asked for."""
    code, output, stored = add(tmp_path, *args)
    assert code == 0, output
    (credential,) = stored
    assert (credential["agency_system"], credential["agency_value"]) == (system, value)
    assert credential["advice_types"] == advice_types


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (normalise_ods_code, ["RBZ", "rx1", "A81001", "RXF05"], ["not an ods!", "R1", "ABCDEFG",
                                                                 "RX-1", "RBZ\n", "\uff32\uff22\uff3a"]),
        (normalise_la_code, ["999", "201"], ["12", "1234", "99A", "999\n", "\uff19\uff19\uff19"]),
        (normalise_school_urn, ["100001"], ["10001", "1000011", "10000A", "100001\n"]),
    ],
)
def test_agency_code_formats(check: object, good: list[str], bad: list[str]) -> None:
    """ODS codes are 3 to 6 ASCII letters or digits, LA codes 3 digits and school URNs 6 digits."""
    assert callable(check)
    for value in good:
        assert check(value) == value.upper()
    for value in bad:
        with pytest.raises(ValidationError):
            check(value)


def test_new_credential_refuses_advice_its_kind_may_not_give() -> None:
    """The one advice-type mapping is enforced when a credential is made, not only by the CLI."""
    with pytest.raises(ValidationError, match="social_care"):
        new_credential(LA_CODE_SYSTEM, "999", "social_care", ["MEDICAL"])


def test_a_stored_credential_granting_another_kinds_advice_is_refused_at_request_time(
    tmp_path: Path,
) -> None:
    """A social care credential stored with MEDICAL (before validation existed) gets 403 for medical advice, never 202."""
    made, token = new_credential(LA_CODE_SYSTEM, "999", "social_care")
    path = tmp_path / "credentials.json"
    legacy = Credential(**{**asdict(made), "advice_types": ("MEDICAL", "SOCIAL_CARE")})
    path.write_text(json.dumps([asdict(legacy)]))
    publisher = InMemoryPublisher()
    app = create_app(Settings(pseudonym_key="p" * 32),  # type: ignore[arg-type]
                     Ports(publisher=publisher, docstore=InMemoryDocumentStore(),
                           credentials=FileCredentialStore(path)))
    client = TestClient(app)
    body = {"contribution_id": "SC-MED-1", "advice_type": "MEDICAL", "case_id": "EHC-999-0001",
            "submitted_at": "2026-10-01T09:00:00+00:00"}
    r = client.post("/api/social-care/advice", json=body,
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403, r.text
    assert "MEDICAL" in r.json()["detail"]
    assert [e.topic for e in publisher.events] == ["ehcp.audit.v1"]
    r = client.post("/api/social-care/advice",
                    json={**body, "advice_type": "SOCIAL_CARE", "contribution_id": "SC-1"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202, r.text


def test_each_kind_may_give_only_its_own_advice() -> None:
    """The mapping: health gives medical advice, social care social care advice, education the rest; admin none."""
    assert KIND_ADVICE_TYPES["health"] == {"MEDICAL"}
    assert KIND_ADVICE_TYPES["social_care"] == {"SOCIAL_CARE"}
    assert KIND_ADVICE_TYPES["admin"] == frozenset()
    assert {"EDUCATIONAL", "PSYCHOLOGICAL"} <= KIND_ADVICE_TYPES["education"]
    assert not KIND_ADVICE_TYPES["education"] & {"MEDICAL", "SOCIAL_CARE"}


def test_security_doc_lists_the_advice_types_the_code_allows() -> None:
    """docs/security.md's table of advice types per agency kind matches KIND_ADVICE_TYPES."""
    doc = (Path(__file__).parents[3] / "docs" / "security.md").read_text(encoding="utf-8")
    rows = {m.group(1).replace(" ", "_"): m.group(2)
            for m in re.finditer(r"^\s*\| (health|education|social care|local authority|admin) \| ([^|]*) \|", doc,
                                 re.M)}
    assert {kind: frozenset(re.findall(r"`(\w+)`", cell)) for kind, cell in rows.items()} == (
        KIND_ADVICE_TYPES)
