"""Sign-in at the HTTP tier: second factor, lock-out (audited), CSRF, cookie flags, timeouts."""

from __future__ import annotations

from ehcp.readmodel import people
from tests.unit.workspace.conftest import Workspace
from tests.unit.workspace.test_access import signed_in
from tests.workspace_support import csrf_of, sign_in
from workspace.security import SESSION_COOKIE
from workspace.signin import totp_code


def _audit(ws: Workspace) -> list[dict[str, object]]:
    return [dict(e.record) for e in ws.publisher.events if e.topic == "ehcp.audit.v1"]


def test_password_and_code_open_a_session_with_safe_cookie(workspace: Workspace) -> None:
    """The right password and code redirect to the tray with an HttpOnly, SameSite=Strict cookie."""
    client = workspace.client()
    response = sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    assert response.status_code == 303
    assert response.headers["location"] == "/tray"
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/tray").status_code == 200


def test_secure_cookie_unless_plain_http(workspace: Workspace) -> None:
    """Outside plain-http development the session cookie is Secure."""
    from workspace.security import cookie_options

    settings = workspace.app.state.settings  # type: ignore[attr-defined]
    assert cookie_options(settings)["secure"] is False  # the fixture is plain-http dev
    assert cookie_options(settings.model_copy(update={"workspace_plain_http": False}))["secure"]


def test_wrong_code_or_password_is_refused_alike(workspace: Workspace) -> None:
    """A wrong password, a wrong code and an unknown user get the same 401 page and no session."""
    client = workspace.client()
    answers = []
    for username, password, code in (
        ("mgr.886", "not the password at all", totp_code(workspace.secrets["manager"],
                                                         workspace.clock)),
        ("mgr.886", "correct horse battery staple", "000000"),
        ("nobody.here", "correct horse battery staple", "123456"),
    ):
        form = client.get("/signin")
        answers.append(client.post("/signin", data={
            "csrf_token": csrf_of(form.text), "username": username, "password": password,
            "code": code}, follow_redirects=False))
    assert {a.status_code for a in answers} == {401}
    assert len({a.text.split("<main", 1)[1].split("csrf_token")[0] for a in answers}) == 1
    assert client.get("/tray", follow_redirects=False).status_code == 303


def test_a_code_is_accepted_once(workspace: Workspace) -> None:
    """The same TOTP code cannot open a second session (replay)."""
    first = sign_in(workspace.client(), "mgr.886", workspace.secrets["manager"], workspace.clock)
    again = sign_in(workspace.client(), "mgr.886", workspace.secrets["manager"], workspace.clock)
    assert first.status_code == 303
    assert again.status_code == 401


def test_lockout_after_repeated_failures_is_audited(workspace: Workspace) -> None:
    """Five failures lock the account, even against the right password and code; audited."""
    client = workspace.client()
    for _ in range(5):
        sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock,
                password="wrong password guess")  # noqa: S106 -- a wrong guess, on purpose
    user = people.find_user(workspace.engine, "mgr.886")
    assert user is not None
    assert user.locked_at(workspace.clock.now())
    workspace.clock.advance(seconds=31)
    locked = sign_in(client, "mgr.886", workspace.secrets["manager"], workspace.clock)
    assert locked.status_code == 401
    reasons = [r["reason"] for r in _audit(workspace)]
    assert "sign-in refused: wrong password or code" in reasons
    assert "sign-in refused: account locked" in reasons
    workspace.clock.advance(seconds=901)
    assert sign_in(client, "mgr.886", workspace.secrets["manager"],
                   workspace.clock).status_code == 303


def test_signin_without_its_csrf_token_is_refused(workspace: Workspace) -> None:
    """A sign-in post without the form's token (a cross-site post) is refused and opens nothing."""
    client = workspace.client()
    response = client.post("/signin", data={
        "username": "mgr.886", "password": "correct horse battery staple",
        "code": totp_code(workspace.secrets["manager"], workspace.clock)},
        follow_redirects=False)
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_idle_and_absolute_timeouts(workspace: Workspace) -> None:
    """A session ends after 30 idle minutes, and after 12 hours however busy."""
    client = signed_in(workspace, "manager")
    workspace.clock.advance(minutes=29)
    assert client.get("/tray", follow_redirects=False).status_code == 200
    workspace.clock.advance(minutes=31)
    assert client.get("/tray", follow_redirects=False).status_code == 303
    busy = signed_in(workspace, "manager")
    for _ in range(25):
        workspace.clock.advance(minutes=29)
        busy.get("/tray")
    assert busy.get("/tray", follow_redirects=False).status_code == 303


def test_disabling_a_user_ends_their_session(workspace: Workspace) -> None:
    """``users disable`` ends a live session at once and refuses sign-in."""
    client = signed_in(workspace, "manager")
    assert people.set_disabled(workspace.engine, "mgr.886")
    assert client.get("/tray", follow_redirects=False).status_code == 303
    workspace.clock.advance(seconds=31)
    assert sign_in(workspace.client(), "mgr.886", workspace.secrets["manager"],
                   workspace.clock).status_code == 401


def test_signout_needs_csrf_and_ends_session(workspace: Workspace) -> None:
    """Signing out without the CSRF token is refused (403); with it the session ends."""
    client = signed_in(workspace, "manager")
    page = client.get("/tray")
    assert client.post("/signout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/tray", follow_redirects=False).status_code == 200
    done = client.post("/signout", data={"csrf_token": csrf_of(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/tray", follow_redirects=False).status_code == 303


def test_forged_cookie_is_no_session(workspace: Workspace) -> None:
    """A made-up or over-long session cookie is no session."""
    client = workspace.client()
    for value in ("forged-token", "x" * 5000):
        client.cookies.set(SESSION_COOKIE, value)
        assert client.get("/tray", follow_redirects=False).status_code == 303


def test_oversized_signin_is_refused_before_reading(workspace: Workspace) -> None:
    """A megabyte sign-in form is refused (400) unread; a 2,000-character password is refused."""
    client = workspace.client()
    form = client.get("/signin")
    big = client.post("/signin", data={"csrf_token": csrf_of(form.text), "username": "mgr.886",
                                       "password": "x" * 1_000_000, "code": "123456"},
                      follow_redirects=False)
    assert big.status_code == 400
    form = client.get("/signin")
    long = client.post("/signin", data={
        "csrf_token": csrf_of(form.text), "username": "mgr.886", "password": "x" * 2000,
        "code": totp_code(workspace.secrets["manager"], workspace.clock)},
        follow_redirects=False)
    assert long.status_code == 401
    user = people.find_user(workspace.engine, "mgr.886")
    assert user is not None
    assert user.failed_signins == 0  # refused before the account was even looked up
