"""Sign in, sign out, language switch and password change."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from suanshu.core.errors import SuanshuError
from suanshu.market import users
from suanshu.web import errors, i18n
from suanshu.web.auth import COOKIE, Posted, User, set_session_cookie
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)
PRELOGIN = "suanshu_prelogin"
LOGIN_FORM_SECONDS = 3600


def _serializer(request: Request) -> URLSafeTimedSerializer:
    # Before sign-in there is no session to hold a CSRF token, so the login form carries a
    # token signed with the exchange's secret key and also set as a cookie (double submit):
    # another site can neither read the cookie nor forge the signature (login CSRF).
    return URLSafeTimedSerializer(request.app.state.exchange.settings.secret_key(), salt="console-login")


def _safe_next(target: str | None) -> str:
    """A path on this site to go on to; anything else (``//host``, ``/\\host``: another site to a
    browser) goes to the catalog."""
    local = target and target.startswith("/") and target[1:2] not in ("/", "\\")
    return target if local else "/catalog"


def _login_page(request: Request, next_url: str, status: int = 200, **extra):
    nonce = secrets.token_urlsafe(16)
    response = page(request, "login.html", status_code=status, next=next_url,
                    login_token=_serializer(request).dumps(nonce), **extra)
    response.set_cookie(PRELOGIN, nonce, max_age=LOGIN_FORM_SECONDS, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/catalog"):
    return _login_page(request, _safe_next(next))


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
          login_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/catalog"):
    ex = request.app.state.exchange
    try:
        nonce = _serializer(request).loads(login_token, max_age=LOGIN_FORM_SECONDS)
    except BadSignature:
        nonce = None
    if not nonce or not hmac.compare_digest(nonce, request.cookies.get(PRELOGIN, "")):
        box = {"title": _("This form has expired"), "code": "auth.csrf",
               "message": _("The sign-in page was open too long or came from another site."),
               "next": _("Sign in again on this page.")}
        return _login_page(request, _safe_next(next), status=403, error=box, username=username)
    try:
        cookie, who = users.sign_in(ex, username, password)
    except SuanshuError as err:
        return _login_page(request, _safe_next(next), status=401, error=errors.box(err, _("Sign-in failed")),
                           username=username)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, cookie)
    response.delete_cookie(PRELOGIN)
    return response


@router.post("/logout")
def logout(request: Request, who: Posted):
    users.sign_out(request.app.state.exchange, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/"):
    response = RedirectResponse(_safe_next(next) if next != "/" else "/", status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/account")
def account(request: Request, who: User):
    return page(request, "account.html")


@router.post("/account/password")
def change_password(request: Request, who: Posted, current: Annotated[str, Form()],
                    new: Annotated[str, Form()], again: Annotated[str, Form()]):
    if new != again:
        box = {"title": _("The new passwords differ"), "code": "user.password_mismatch",
               "message": _("Type the same new password twice."), "next": _("Try again.")}
        return page(request, "account.html", status_code=422, error=box)
    try:
        users.change_password(request.app.state.exchange, who.actor, current, new)
    except SuanshuError as err:
        return page(request, "account.html", status_code=err.http_status, error=errors.box(err))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
