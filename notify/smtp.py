"""Email over SMTP: STARTTLS (certificate verified), then AUTH, then one message per connection.

One connection per email keeps the adapter simple and a dropped connection costs one message's
retry; notifications are few (alert transitions and one digest a day per subscription).
``smtplib`` (standard library) speaks the protocol; this module decides what its errors mean:

- SMTP 4xx (greylisting, mailbox busy), a dropped connection, a timeout, a TLS failure, a
  refused login or a server without STARTTLS are *transient* (retried with back-off: the
  operator can fix the configuration, the server can come back);
- SMTP 5xx for the sender, a recipient or the message is *permanent* (dead-lettered at once).
"""

from __future__ import annotations

import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from notify.ports import DeliveryError, OutgoingEmail


class SmtpEmailSender:
    """Sends email through one SMTP submission server.

    Args:
        host: the server's name (also checked against its certificate).
        port: 587 (submission with STARTTLS) normally.
        sender: the From address.
        username: AUTH user name (None: no AUTH).
        password: AUTH password.
        starttls: require STARTTLS before AUTH and the message (refuse a server without it).
        ca_file: PEM CA bundle to verify the server (None: the system's CAs).
        timeout_s: for connecting and every reply.
    """

    def __init__(self, host: str, port: int, *, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = True,
                 ca_file: Path | None = None, timeout_s: float = 30.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._context = ssl.create_default_context(
            cafile=str(ca_file) if ca_file is not None else None)
        self._timeout_s = timeout_s

    def _message(self, email: OutgoingEmail) -> EmailMessage:
        # Headers up to SMTP's 998-character line: the default folding at 78 puts a long
        # subject on a continuation line, which readers show with a leading space.
        msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
        msg["From"] = self._sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(usegmt=True)
        # Deterministic: a copy re-sent after an unclear failure has the same Message-ID, so
        # mail systems and readers can recognise it as the same message.
        msg["Message-ID"] = email.message_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        msg.set_content(email.text)
        msg.add_alternative(email.html, subtype="html")
        return msg

    def send(self, email: OutgoingEmail) -> None:
        """Send ``email``; return once the server accepted it (250 after DATA).

        Raises:
            DeliveryError: refused or not sent (``transient`` says whether to retry).
        """
        message = self._message(email)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                smtp.ehlo()
                if self._starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            f"SMTP server {self._host} offers no STARTTLS; not sending in clear",
                            transient=True)
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message, from_addr=self._sender, to_addrs=[email.to])
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})", transient=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            code = max(codes) if codes else 550
            raise DeliveryError(f"SMTP recipient refused ({code})",
                                transient=400 <= code < 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP server refused ({exc.smtp_code})",
                                transient=400 <= exc.smtp_code < 500) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise DeliveryError("SMTP server dropped the connection", transient=True) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError(f"SMTP failed: {type(exc).__name__}", transient=True) from exc


class UnconfiguredEmailSender:
    """The email channel when no SMTP server is set: every email waits and is retried, so
    setting EHCP_SMTP_HOST (and restarting) within the retry time sends them."""

    def send(self, email: OutgoingEmail) -> None:
        """Always raises a transient :class:`DeliveryError`."""
        raise DeliveryError("no SMTP server configured (EHCP_SMTP_HOST)", transient=True)
