"""The Python client retries a 503 (nothing was done: a store was unreachable) with the same
Idempotency-Key, waiting what the server asks, and gives up after its retries."""

from __future__ import annotations

import json

import httpx
import pytest

from suanshu.client import ApiError, Client


def flaky_server(failures: int):
    """A WSGI app answering 503 (Retry-After: 0) ``failures`` times, then 200; it records each
    request's Idempotency-Key."""
    seen: list[str | None] = []

    def app(environ, start_response):
        seen.append(environ.get("HTTP_IDEMPOTENCY_KEY"))
        if len(seen) <= failures:
            body = {"error": {"code": "vault.unavailable", "message": "down"}}
            start_response("503 Service Unavailable", [("Content-Type", "application/json"), ("Retry-After", "0")])
        else:
            body = {"ok": True}
            start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return httpx.WSGITransport(app=app), seen


def test_a_503_is_retried_with_the_same_key():
    transport, seen = flaky_server(failures=2)
    with Client("http://exchange", "tok", retries=2, transport=transport) as client:
        assert client._post("/thing", {}, idempotent=True) == {"ok": True}
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0]


def test_a_lasting_503_is_raised_after_the_retries():
    transport, seen = flaky_server(failures=10)
    with Client("http://exchange", "tok", retries=2, transport=transport) as client, pytest.raises(ApiError) as err:
        client._get("/thing")
    assert err.value.code == "vault.unavailable" and len(seen) == 3


def test_a_call_that_is_not_idempotent_is_not_retried():
    transport, seen = flaky_server(failures=1)
    with Client("http://exchange", "tok", retries=2, transport=transport) as client, pytest.raises(ApiError):
        client._post("/thing", {})
    assert len(seen) == 1
