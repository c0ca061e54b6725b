"""A real SMTP server for the notification tests: aiosmtpd with STARTTLS (a trustme CA) and AUTH.

Each message is answered as ``script`` says (accept, refuse with a 4xx or 5xx, or drop the
connection), one entry per message, then accepts; only accepted messages are kept.
``stall_rcpt`` holds the conversation at RCPT (before any message exists) until released, so a
test can kill the sender mid-send.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_ports

USER = "ehcp-notifier"
PASSWORD = "correct horse battery staple"  # noqa: S105  (a test server's password)


@dataclass
class MailServer:
    """What the server saw; the knobs a test turns."""

    port: int
    ca_file: Path
    script: list[str] = field(default_factory=list)  # "550", "451", "drop" per message
    accepted: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_sessions: int = 0
    stall_rcpt: threading.Event | None = None
    rcpt_reached: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """Hold here while ``stall_rcpt`` is set and not released."""
        self.rcpt_reached.set()
        if self.stall_rcpt is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.stall_rcpt.wait, 60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Answer as scripted; keep the message only when it is accepted."""
        if session.ssl is not None:
            self.tls_sessions += 1
        action = self.script.pop(0) if self.script else "250"
        if action == "drop":
            server.transport.close()
            return "421 closing"
        if action != "250":
            return f"{action} scripted refusal"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.accepted.append(message)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        """Accept only USER / PASSWORD."""
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok, handled=False)


@contextmanager
def mail_server(folder: Path, *, starttls: bool = True) -> Iterator[MailServer]:
    """Run an SMTP server on a free port of 127.0.0.1 requiring STARTTLS and AUTH."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = folder / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    (port,) = free_ports(1)
    server = MailServer(port=port, ca_file=ca_file)
    options: dict[str, Any] = {"authenticator": server.authenticate, "auth_required": True}
    if starttls:
        options.update(tls_context=context, require_starttls=True)
    else:
        options.update(auth_require_tls=False)
    controller = Controller(server, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield server
    finally:
        if server.stall_rcpt is not None:
            server.stall_rcpt.set()
        controller.stop()
