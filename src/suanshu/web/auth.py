"""Console sign-in state: the session cookie, role checks and CSRF on every POST.

The cookie holds a random value whose SHA-256 names a server-side session row
(``market.users``); it is HttpOnly (scripts cannot read it), SameSite=Lax (other sites'
forms do not carry it) and Secure when served over HTTPS. Every POST must also carry the
session's synchronizer token, as the hidden ``csrf_token`` field or the ``X-CSRF-Token``
header (htmx requests), compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Form, Request

from suanshu.core.orgs import Role
from suanshu.market import users
from suanshu.market.users import SignedIn

COOKIE = "suanshu_session"


class LoginRequired(Exception):
    """No live session: the console sends the person to the sign-in page."""


class Forbidden(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def set_session_cookie(response, request: Request, value: str) -> None:
    response.set_cookie(COOKIE, value, max_age=users.SESSION_HOURS * 3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


def signed_in(request: Request) -> SignedIn:
    who = users.session(request.app.state.exchange, request.cookies.get(COOKIE))
    if who is None:
        raise LoginRequired()
    request.state.user = who
    return who


def csrf_checked(request: Request, who: Annotated[SignedIn, Depends(signed_in)],
                 csrf_token: Annotated[str | None, Form()] = None) -> SignedIn:
    sent = request.headers.get("x-csrf-token") or csrf_token or ""
    if not hmac.compare_digest(sent.encode(), who.csrf_token.encode()):
        raise Forbidden("csrf")
    return who


def need(who: SignedIn, *roles: Role) -> None:
    if not any(who.actor.has(r) for r in roles):
        raise Forbidden("role:" + ",".join(r.value for r in roles))


User = Annotated[SignedIn, Depends(signed_in)]
Posted = Annotated[SignedIn, Depends(csrf_checked)]
