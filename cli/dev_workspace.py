"""``ehcp dev``'s workspace side: the demo manager's sign-in, and waiting for the work tray.

Development only: the demo manager of LA 999 gets a fresh random password and TOTP secret at
every ``ehcp dev``, printed once and kept nowhere but the (hashed) account.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cli import demo
from ehcp.clock import SystemClock
from ehcp.errors import EhcpError
from ehcp.readmodel import people, views
from ehcp.readmodel.store import create_tables, open_engine
from ehcp.settings import Settings
from workspace.signin import hash_password, new_totp_secret, provisioning_uri


@dataclass(frozen=True, slots=True)
class DemoSignIn:
    """What a person needs to sign in as the demo manager."""

    username: str
    password: str
    secret: str
    otpauth_uri: str


def demo_manager(settings: Settings, state: Path) -> DemoSignIn:
    """Create (or re-key) the demo manager of the demo LA; return its new sign-in."""
    engine = open_engine(settings.readmodel_database_url())
    try:
        create_tables(engine)
        people.create_people_tables(engine)
        password = secrets.token_urlsafe(12)
        secret = new_totp_secret()
        hashed = hash_password(password)
        if not people.reset_credentials(engine, demo.DEMO_MANAGER, password_hash=hashed,
                                        totp_secret=secret):
            people.add_user(engine, username=demo.DEMO_MANAGER, la_code=demo.DEMO_LA,
                            role=people.Role.MANAGER, password_hash=hashed,
                            totp_secret=secret, now=SystemClock().now())
    finally:
        engine.dispose()
    return DemoSignIn(demo.DEMO_MANAGER, password, secret,
                      provisioning_uri(secret, demo.DEMO_MANAGER))


def wait_for_tray(settings: Settings, case_id: str, timeout_s: float,
                  check: Callable[[], None]) -> int:
    """Wait until the read model's work tray shows the case with overdue advice; return how many.

    Raises:
        EhcpError: not within ``timeout_s``.
    """
    engine = open_engine(settings.readmodel_database_url())
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            check()
            tray = views.work_tray(engine, demo.DEMO_LA, SystemClock(),
                                   views.TrayFilter(case_search=case_id))
            overdue = [i for i in tray.items if i.case_id == case_id and i.days_overdue > 0]
            if overdue:
                return len(overdue)
            time.sleep(1)
    finally:
        engine.dispose()
    raise EhcpError(f"the work tray did not show {case_id} within {timeout_s:.0f}s; "
                    "see .ehcp/logs/projector.log")
