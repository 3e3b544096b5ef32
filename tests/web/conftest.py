"""A console over a real SQLite exchange with one user per role, and a sign-in helper."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from suanshu.api.app import create_app
from suanshu.market import orgs, settlement, users
from suanshu.market.exchange import Exchange

PASSWORD = "correct-horse-9"
PEOPLE = {  # username -> (org, org roles)
    "meteo": ("hunan-meteo", ["provider"]),
    "insurer": ("xiangnong-insurance", ["buyer"]),
    "op": ("exchange", None),
    "hpc": ("changsha-hpc", ["compute"]),
}


@pytest.fixture
def exchange(tmp_path):
    from suanshu.core.settings import load_settings

    ex = Exchange.open(load_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'suanshu.db'}"))
    orgs.ensure_operator(ex)
    for username, (org, roles) in PEOPLE.items():
        if roles:
            orgs.create_org(ex, None, org, roles, display_name=org, region="湖南-长沙")
        users.create_user(ex, None, org, username, PASSWORD)
    settlement.deposit(ex, orgs.local_actor(ex, "exchange"), "xiangnong-insurance", 1_000_000, reference="test")
    yield ex
    ex.close()


@pytest.fixture
def app(exchange):
    return create_app(exchange)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, lang: str | None = None):
    if lang:
        client.cookies.set("suanshu_lang", lang)
    form = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form).group(1)
    return client.post("/login", data={"username": username, "password": password, "login_token": token,
                                       "next": "/catalog"}, follow_redirects=False)


@pytest.fixture
def browser_for(app):
    """A fresh signed-in client per username (cookies are per client)."""
    clients = []

    def make(username: str, lang: str | None = None) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        r = sign_in(client, username, lang=lang)
        assert r.status_code == 303, r.text
        return client

    yield make
    for c in clients:
        c.close()
