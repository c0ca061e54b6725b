"""Helpers for the workspace tests: a seeded read model, users with known secrets, sign-in."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from ehcp.clock import Clock
from ehcp.contract.avro import default_codec
from ehcp.readmodel import people
from ehcp.readmodel.mapping import Source
from ehcp.readmodel.store import apply_batch, create_tables
from tests import readmodel_records as rr
from workspace.signin import hash_password, new_totp_secret, totp_code

PASSWORD = "correct horse battery staple"  # noqa: S105 -- a synthetic test account
LA = "886"
OTHER_LA = "999"
CASE = "EHC-886-2026-0042"
CASE_2 = "EHC-886-2026-0043"
FOREIGN_CASE = "EHC-999-2026-0001"
#: The workspace's and the projector's pseudonym key in these tests (EHCP_PSEUDONYM_KEY).
PSEUDONYM_KEY = "k" * 40
#: CASE's child (a synthetic NHS number with a valid check digit) and school; the other cases'
#: referrals name the golden record's child (NHS number 9434765919) and school 118712.
CASE_NHS_NUMBER = "9449305552"
CASE_SCHOOL = "100001"


@dataclass
class MovableClock:
    """A clock tests move forward (TOTP codes and session timeouts depend on it)."""

    instant: datetime

    def now(self) -> datetime:
        """The current instant."""
        return self.instant

    def advance(self, **kwargs: float) -> None:
        """Move on."""
        self.instant += timedelta(**kwargs)


def seed(engine: Engine, *messages: rr.Message) -> None:
    """Project the messages into the read model, as the projector would."""
    create_tables(engine)
    people.create_people_tables(engine)
    sources = [Source(topic, 0, offset, key, value, tuple(headers), 1)
               for offset, (topic, key, value, headers) in enumerate(messages)]
    # One partition per topic: offsets must rise per topic.
    counters: dict[str, int] = {}
    renumbered = []
    for s in sources:
        n = counters.get(s.topic, 0)
        counters[s.topic] = n + 1
        renumbered.append(Source(s.topic, 0, n + _base(engine, s.topic), s.key, s.value,
                                 s.headers, s.timestamp_ms))
    apply_batch(engine, renumbered, default_codec(), PSEUDONYM_KEY.encode())


def _base(engine: Engine, topic: str) -> int:
    from ehcp.readmodel.store import stored_offsets

    return stored_offsets(engine).get((topic, 0), 0)


def standard_read_model(engine: Engine) -> dict[tuple[int, int], bytes]:
    """Two cases of LA 886 (medical advice overdue), one of LA 999, routed documents, an unrouted one.

    Returns the unrouted records' values by (partition, offset), as Kafka would hold them.
    """
    unrouted = rr.unrouted("RVV-ADV-UNROUTED-1")
    base = _base(engine, unrouted[0]) if _has_tables(engine) else 0
    seed(engine,
         rr.referral(CASE, LA, nhs_number=CASE_NHS_NUMBER, school_urn=CASE_SCHOOL),
         rr.referral(CASE_2, LA), rr.referral(FOREIGN_CASE, OTHER_LA),
         rr.status(CASE), rr.status(CASE_2), rr.status(FOREIGN_CASE),
         rr.alert(CASE), rr.alert(FOREIGN_CASE), rr.routed(CASE), rr.routed(FOREIGN_CASE),
         unrouted)
    return {(0, base): unrouted[2]}


def _has_tables(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return inspect(engine).has_table("projector_offsets")


@functools.cache
def password_hash() -> str:
    """The argon2 hash of :data:`PASSWORD`, computed once (argon2 is slow on purpose)."""
    return hash_password(PASSWORD)


def add_user(engine: Engine, username: str, role: people.Role, la_code: str = LA,
             clock: Clock | None = None) -> tuple[people.User, str]:
    """An account with :data:`PASSWORD`; returns it and its TOTP secret."""
    secret = new_totp_secret()
    user = people.add_user(engine, username=username, la_code=la_code, role=role,
                           password_hash=password_hash(), totp_secret=secret,
                           now=(clock.now() if clock else datetime.now(UTC)))
    return user, secret


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: httpx.Client | Any, username: str, secret: str, clock: Clock,
            password: str = PASSWORD) -> httpx.Response:
    """Fill in the sign-in form (with a fresh code) and post it."""
    form = client.get("/signin")
    return client.post("/signin", data={
        "csrf_token": csrf_of(form.text), "username": username, "password": password,
        "code": totp_code(secret, clock)}, follow_redirects=False)
