"""Users and sessions on both backends (SQLite and the real PostgreSQL of the test suite)."""

from __future__ import annotations

import pytest

from suanshu.core.errors import AuthError
from suanshu.market import orgs, users
from suanshu.market.exchange import Exchange


@pytest.fixture
def ex(settings):
    exchange = Exchange.open(settings)
    orgs.ensure_operator(exchange)
    orgs.create_org(exchange, None, "acme", ["buyer", "provider"])
    yield exchange
    exchange.close()


def test_sign_in_session_and_sign_out(ex):
    users.create_user(ex, None, "acme", "alice", "a-long-password", ["buyer"])
    cookie, who = users.sign_in(ex, "alice", "a-long-password")
    assert who.actor.roles == {"buyer"} and who.actor.org_name == "acme"
    again = users.session(ex, cookie)
    assert again is not None and again.csrf_token == who.csrf_token and again.user_id == who.user_id
    assert users.session(ex, cookie + "x") is None
    users.sign_out(ex, cookie)
    assert users.session(ex, cookie) is None


def test_disabling_a_user_ends_their_sessions(ex):
    users.create_user(ex, None, "acme", "bob", "a-long-password")
    cookie, _who = users.sign_in(ex, "bob", "a-long-password")
    users.disable_user(ex, None, "bob")
    assert users.session(ex, cookie) is None
    with pytest.raises(AuthError):
        users.sign_in(ex, "bob", "a-long-password")
