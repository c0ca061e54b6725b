"""Email notifications against a real SMTP server (aiosmtpd): STARTTLS, AUTH, refusals, drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from notify.ports import DeliveryError, OutgoingEmail
from notify.smtp import SmtpEmailSender
from tests.smtp_server import PASSWORD, USER, MailServer, mail_server

pytestmark = pytest.mark.integration

EMAIL = OutgoingEmail(to="sen.officer@example.gov.uk", subject="Advice overdue: case EHC-1",
                      text="Case reference: EHC-1\n", html="<p>Case reference: EHC-1</p>",
                      message_id="<d-1@example.gov.uk>")


@pytest.fixture
def server(tmp_path: Path) -> MailServer:
    with mail_server(tmp_path) as running:
        yield running  # type: ignore[misc]


def _sender(server: MailServer, **changes: object) -> SmtpEmailSender:
    options: dict[str, object] = {"sender": "ehcp@example.gov.uk", "username": USER,
                                  "password": PASSWORD, "ca_file": server.ca_file,
                                  "timeout_s": 10.0}
    options.update(changes)
    return SmtpEmailSender("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def test_an_email_goes_over_starttls_with_auth_and_both_bodies(server: MailServer) -> None:
    """The server receives one message over TLS after AUTH, with text and HTML parts and the given Message-ID."""
    _sender(server).send(EMAIL)
    (message,) = server.accepted
    assert server.logins == [USER]
    assert server.tls_sessions == 1
    assert message["Message-ID"] == "<d-1@example.gov.uk>"
    assert message["To"] == "sen.officer@example.gov.uk"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Case reference: EHC-1\n"
    assert "<p>Case reference: EHC-1</p>" in message.get_body(("html",)).get_content()


def test_a_5xx_refusal_is_permanent_and_a_4xx_transient(server: MailServer) -> None:
    """550 after DATA is a permanent failure; 451 a transient one; nothing is kept."""
    server.script[:] = ["550", "451"]
    with pytest.raises(DeliveryError) as refused:
        _sender(server).send(EMAIL)
    assert (refused.value.transient, refused.value.reason) == (False, "SMTP server refused (550)")
    with pytest.raises(DeliveryError) as later:
        _sender(server).send(EMAIL)
    assert later.value.transient
    assert server.accepted == []


def test_a_dropped_connection_is_transient_and_the_retry_arrives_once(server: MailServer) -> None:
    """The server closing the connection mid-message is a transient failure; the next attempt is the only message kept."""
    server.script[:] = ["drop"]
    with pytest.raises(DeliveryError) as dropped:
        _sender(server).send(EMAIL)
    assert dropped.value.transient
    _sender(server).send(EMAIL)
    assert len(server.accepted) == 1


def test_a_wrong_password_is_transient_and_sends_nothing(server: MailServer) -> None:
    """A refused login (the operator can fix the setting) is retried, and no message is sent."""
    with pytest.raises(DeliveryError, match="login refused") as refused:
        _sender(server, password="wrong").send(EMAIL)  # noqa: S106  (a wrong test password)
    assert refused.value.transient
    assert server.accepted == []


def test_an_untrusted_certificate_is_refused(server: MailServer) -> None:
    """Without the test CA the server's certificate fails verification: nothing is sent in clear."""
    with pytest.raises(DeliveryError, match="SSL") as failed:
        _sender(server, ca_file=None).send(EMAIL)
    assert failed.value.transient
    assert server.accepted == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_without_starttls_gets_no_credentials(tmp_path: Path) -> None:
    """A server that offers no STARTTLS is not sent the password or the message."""
    with mail_server(tmp_path, starttls=False) as plain:
        with pytest.raises(DeliveryError, match="no STARTTLS"):
            _sender(plain).send(EMAIL)
        assert (plain.logins, plain.accepted) == ([], [])


def test_nothing_listening_is_transient(tmp_path: Path) -> None:
    """A refused TCP connection is a transient failure."""
    from tests.support import free_ports

    (port,) = free_ports(1)
    with pytest.raises(DeliveryError) as failed:
        SmtpEmailSender("127.0.0.1", port, sender="e@example.gov.uk", timeout_s=5).send(EMAIL)
    assert failed.value.transient


def test_a_long_subject_arrives_unfolded(server: MailServer) -> None:
    """A subject longer than 78 characters reaches the server as it was written (no leading space)."""
    subject = "Reminder: medical advice for case EHC-999-NOTIFY-6d5549cd was due 2026-11-24"
    _sender(server).send(OutgoingEmail(EMAIL.to, subject, EMAIL.text, EMAIL.html, "<d-2@x.org>"))
    (message,) = server.accepted
    assert str(message["Subject"]) == subject
