"""Subscriptions: what an operator may type, and what is refused with a clear message."""

from __future__ import annotations

import json
from datetime import time

import pytest

from ehcp.errors import InvalidIdentifierError, ValidationError
from ehcp.identifiers import LA_CODE_SYSTEM, ODS_ORGANISATION_SYSTEM
from notify import model
from notify.model import Channel, Recipient, RecipientKind, Subscription
from notify.webhooks import new_secret
from tests.support import REPO


def test_alert_kinds_and_severities_are_the_schemas_symbols() -> None:
    """The kinds and severities an operator may choose are exactly the Alert schema's enums."""
    schema = json.loads((REPO / "schemas/alert/v1.avsc").read_text())
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert list(model.ALERT_KINDS) == fields["kind"]["symbols"]
    assert list(model.SEVERITIES) == fields["severity"]["symbols"]


def test_recipient_is_an_la_code_or_an_agency_identifier() -> None:
    """--la takes a DfE code; --agency takes ods:/urn:/la: codes, normalised."""
    assert model.parse_recipient("886", None) == Recipient(
        RecipientKind.LOCAL_AUTHORITY, LA_CODE_SYSTEM, "886")
    assert model.parse_recipient(None, "ods:rvv01") == Recipient(
        RecipientKind.AGENCY, ODS_ORGANISATION_SYSTEM, "RVV01")


@pytest.mark.parametrize(("la", "agency", "fragment"), [
    (None, None, "exactly one recipient"),
    ("886", "ods:RVV", "exactly one recipient"),
    (None, "nhs:9434765919", "SYSTEM one of ods, la, urn"),
    (None, "RVV", "SYSTEM:CODE"),
])
def test_bad_recipients_are_refused_clearly(la: str | None, agency: str | None,
                                            fragment: str) -> None:
    """Neither or both recipients, or an unknown identifier system, are named in the error."""
    with pytest.raises(ValidationError, match=fragment):
        model.parse_recipient(la, agency)


def test_an_la_code_of_the_wrong_form_is_refused() -> None:
    """An LA code that is not three digits is an identifier error."""
    with pytest.raises(InvalidIdentifierError, match="3 digits"):
        model.parse_recipient("88", None)


@pytest.mark.parametrize("address", [
    "sen.team@example.gov.uk", "a+b@x.org", "First.Last@Sub.Example.COM"])
def test_plain_email_addresses_are_accepted(address: str) -> None:
    """Ordinary mailboxes pass, with the domain lower-cased."""
    local, _, domain = model.parse_email(address).partition("@")
    assert (local, domain) == (address.split("@")[0], address.split("@")[1].lower())


@pytest.mark.parametrize("address", [
    "no-at-sign", "two@@example.org", "x@localhost", "Officer <a@example.org>",
    "a@example.org\r\nBcc: evil@example.org", "a b@example.org", ".a@example.org",
    "a@-bad-.org", "x" * 250 + "@example.org", "a@example.org,b@example.org", ""])
def test_bad_email_addresses_are_refused(address: str) -> None:
    """No domain, display names, header injection, spaces, lists and megabyte strings are refused."""
    with pytest.raises(ValidationError):
        model.parse_email(address)


def test_webhook_urls_must_be_https_with_a_host_and_no_credentials() -> None:
    """https passes; http only when allowed; relative URLs, userinfo and other schemes are refused."""
    assert model.parse_webhook_url("https://cms.example.gov.uk/hooks/ehcp?x=1")
    assert model.parse_webhook_url("http://127.0.0.1:9/h", allow_http=True)
    for bad, fragment in [
        ("http://cms.example.gov.uk/h", "https://"),
        ("ftp://cms.example.gov.uk/h", "https://"),
        ("/relative/path", "https://"),
        ("https:///nohost", "needs a host"),
        ("https://user:pw@cms.example.gov.uk/h", "user name or password"),
        ("https://cms.example.gov.uk:99999/h", "not a URL"),
        ("https://cms.example.gov.uk/h#frag", "fragment"),
        ("https://cms.example.gov.uk/" + "a" * 3000, "at most 2000"),
        ("https://cms.example.gov.uk/a b", "no spaces"),
    ]:
        with pytest.raises(ValidationError, match=fragment):
            model.parse_webhook_url(bad)


def test_alert_kinds_are_checked_and_agencies_get_reminders_only() -> None:
    """Unknown kinds are named; an agency may not subscribe to deadline alerts; none means all allowed."""
    la = model.parse_recipient("886", None)
    trust = model.parse_recipient(None, "ods:RVV")
    assert model.parse_kinds(["advice_overdue"], la) == {"ADVICE_OVERDUE"}
    assert model.parse_kinds([], la) == set(model.ALERT_KINDS)
    assert model.parse_kinds([], trust) == set(model.REMINDER_KINDS)
    with pytest.raises(ValidationError, match="unknown alert kind 'ADVICE_LATE'"):
        model.parse_kinds(["ADVICE_LATE"], la)
    with pytest.raises(ValidationError, match="reminded only of"):
        model.parse_kinds(["DEADLINE_MISSED"], trust)


def test_severity_digest_time_label_and_secret_checks() -> None:
    """Severity names, HH:MM times, labels and whsec_ secrets are checked with clear errors."""
    assert model.parse_severity("warning") == "WARNING"
    with pytest.raises(ValidationError, match="unknown severity 'URGENT'"):
        model.parse_severity("URGENT")
    assert model.parse_digest_time("08:30") == time(8, 30)
    assert model.parse_digest_time(None) is None
    for bad in ("8:30", "24:00", "08:60", "noon"):
        with pytest.raises(ValidationError, match="HH:MM"):
            model.parse_digest_time(bad)
    with pytest.raises(ValidationError, match="at most 200"):
        model.parse_label("x" * 201)
    assert model.parse_secret(new_secret()).startswith("whsec_")
    for bad in ("secret", "whsec_short", "whsec_!!!!"):
        with pytest.raises(ValidationError, match=r"whsec_|24 to 64"):
            model.parse_secret(bad)


def test_a_subscription_repr_never_shows_its_secret() -> None:
    """repr() (what a traceback or a careless log shows) leaves the webhook secret out."""
    secret = new_secret()
    sub = Subscription("s-1", model.parse_recipient("886", None), Channel.WEBHOOK,
                       "https://cms.example.gov.uk/h", frozenset({"ADVICE_OVERDUE"}), "INFO",
                       True, None, "", 0, secret)
    assert secret not in repr(sub)
    assert secret[6:] not in repr(sub)
