"""Console users, sessions and CSRF, through the real app and a real SQLite exchange."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from suanshu.core.errors import AuthError, Conflict, UsageError
from suanshu.market import users
from suanshu.market.users import User, UserSession
from web.conftest import PASSWORD, csrf_of, sign_in


def test_password_is_stored_as_argon2id_and_authenticates_to_the_org_actor(exchange):
    with exchange.db.transaction() as s:
        stored = s.scalar(select(User).where(User.username == "meteo"))
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    actor = users.authenticate(exchange, "meteo", PASSWORD)
    assert actor.org_name == "hunan-meteo" and actor.roles == {"provider"} and actor.principal_id == stored.id


def test_wrong_password_unknown_user_and_disabled_user_fail_alike(exchange):
    for name, pw in [("meteo", "wrong-password"), ("nobody", PASSWORD)]:
        with pytest.raises(AuthError) as e:
            users.authenticate(exchange, name, pw)
        assert e.value.code == "auth.bad_password"
    users.disable_user(exchange, None, "meteo")
    with pytest.raises(AuthError):
        users.authenticate(exchange, "meteo", PASSWORD)


def test_user_roles_never_exceed_the_orgs(exchange):
    with pytest.raises(UsageError) as e:
        users.create_user(exchange, None, "hunan-meteo", "meteo2", PASSWORD, ["buyer"])
    assert e.value.code == "user.role_not_in_org"
    with pytest.raises(Conflict):
        users.create_user(exchange, None, "hunan-meteo", "METEO", PASSWORD)
    with pytest.raises(UsageError) as e:
        users.create_user(exchange, None, "hunan-meteo", "short", "1234567")
    assert e.value.code == "user.weak_password"


def test_session_cookie_is_httponly_lax_and_stored_only_hashed(app, exchange):
    client = TestClient(app)
    r = sign_in(client, "meteo")
    assert r.status_code == 303 and r.headers["location"] == "/catalog"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    value = client.cookies.get("suanshu_session")
    with exchange.db.transaction() as s:
        ids = list(s.scalars(select(UserSession.id)))
    assert value not in ids and len(ids) == 1  # only SHA-256(value) is stored
    assert client.get("/vault").status_code == 200


def test_pages_need_a_session(app):
    client = TestClient(app)
    r = client.get("/vault", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/vault"
    r = client.get("/vault", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"] == "/login?next=/vault"


def test_sign_in_returns_to_the_page_asked_for_with_its_query(app):
    import re
    from urllib.parse import quote, urlencode

    client = TestClient(app)
    asked = "/catalog?" + urlencode({"q": "气象", "region": "湖南"})
    r = client.get(asked, follow_redirects=False)
    assert r.headers["location"] == "/login?next=" + quote(asked)
    form = client.get(r.headers["location"]).text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
    nxt = re.search(r'name="next" value="([^"]+)"', form).group(1).replace("&amp;", "&")
    r = client.post("/login", data={"username": "insurer", "password": PASSWORD, "login_token": token, "next": nxt},
                    follow_redirects=False)
    assert r.headers["location"] == asked
    # the language switch keeps it too; a signed-in page is never kept by the browser
    page = client.get(asked)
    assert f'href="/lang/en?next={quote(asked)}"' in page.text and page.headers["Cache-Control"] == "no-store"
    assert client.get("/lang/en", params={"next": asked}, follow_redirects=False).headers["location"] == asked
    for elsewhere in ("//evil.example", "/\\evil.example", "https://evil.example"):
        r = client.get("/lang/en", params={"next": elsewhere}, follow_redirects=False)
        assert r.headers["location"] == "/catalog", elsewhere


def test_bad_password_shows_the_error_and_no_session(app):
    client = TestClient(app)
    r = sign_in(client, "meteo", "not-the-password")
    assert r.status_code == 401 and "auth.bad_password" in r.text
    assert client.get("/vault", follow_redirects=False).status_code == 303


def test_login_form_needs_its_own_token(app):
    client = TestClient(app)
    r = client.post("/login", data={"username": "meteo", "password": PASSWORD, "login_token": "forged"},
                    follow_redirects=False)
    assert r.status_code == 403 and "auth.csrf" in r.text


def test_every_post_needs_the_session_csrf_token(browser_for):
    client = browser_for("insurer")
    for path, data in [("/logout", {}), ("/account/password", {"current": PASSWORD, "new": "x" * 9, "again": "x" * 9}),
                       ("/contracts/ctr_x/query", {"sql": "SELECT 1"})]:
        r = client.post(path, data=data | {"csrf_token": "wrong"}, follow_redirects=False)
        assert r.status_code == 403 and "auth.csrf" in r.text, path
        r = client.post(path, data=data, follow_redirects=False)
        assert r.status_code == 403, path
    assert client.get("/contracts").status_code == 200  # still signed in: nothing above took effect


def test_csrf_header_is_accepted_for_htmx(browser_for):
    client = browser_for("insurer")
    token = csrf_of(client.get("/catalog").text)
    r = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/catalog", follow_redirects=False).status_code == 303  # signed out


def test_password_change_ends_every_session(app, browser_for):
    first, second = browser_for("meteo"), browser_for("meteo")
    token = csrf_of(first.get("/account").text)
    r = first.post("/account/password", data={"csrf_token": token, "current": PASSWORD, "new": "new-password-1",
                                               "again": "new-password-1"}, follow_redirects=False)
    assert r.status_code == 303
    assert second.get("/vault", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(app), "meteo", "new-password-1").status_code == 303


def test_role_pages_refuse_other_roles(browser_for):
    buyer = browser_for("insurer")
    for path in ["/vault", "/review", "/dashboard", "/audit", "/pools"]:
        r = buyer.get(path)
        assert r.status_code == 403 and "auth.role_required" in r.text, path
    assert browser_for("op").get("/dashboard").status_code == 200


def test_cli_user_create_reads_the_password_from_stdin(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from suanshu.cli.main import app as cli

    monkeypatch.setenv("SUANSHU_HOME", str(tmp_path / "cli-home"))
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert runner.invoke(cli, ["org", "create", "acme", "-r", "provider", "-r", "buyer"]).exit_code == 0
    r = runner.invoke(cli, ["user", "create", "acme", "alice", "--role", "buyer", "--password-stdin", "-f", "json"],
                      input="a-long-password\n")
    assert r.exit_code == 0, r.output
    assert '"roles": [\n    "buyer"\n  ]' in r.output
    r = runner.invoke(cli, ["user", "create", "acme", "bob", "--password-stdin"], input="short\n")
    assert r.exit_code == 2 and "user.weak_password" in r.output


def test_a_form_missing_a_field_gets_a_page_not_json(browser_for):
    client = browser_for("insurer")
    token = csrf_of(client.get("/catalog").text)
    r = client.post("/contracts/ctr_x/query", data={"csrf_token": token})  # no sql
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "request.invalid" in r.text and "<html" in r.text
    api = client.post("/api/v1/contracts/ctr_x/queries", json={})  # the API still answers JSON
    assert api.headers["content-type"] == "application/json"
