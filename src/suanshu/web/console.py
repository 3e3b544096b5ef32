"""The web console: one module per view under ``web/``, mounted on the API's app by ``install``.

Server-rendered (Jinja2), zh-CN first (``web/i18n``), plain forms everywhere with htmx where a
partial update helps (the query workbench). Every view calls the same market services as the API
and the CLI; none writes to a domain table itself.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select

from suanshu.audit import log
from suanshu.core.orgs import Organization
from suanshu.market.models import Component, Contract, QueryRun
from suanshu.web import i18n
from suanshu.market import users
from suanshu.web.auth import COOKIE, Forbidden, LoginRequired
from suanshu.web.i18n import _
from suanshu.web.render import STATIC, page

router = APIRouter(include_in_schema=False)


def overview(ex) -> dict:
    with ex.db.transaction() as s:
        orgs = {o.id: o for o in s.scalars(select(Organization))}
        listed = list(s.scalars(select(Component).where(Component.state == "listed").order_by(Component.id)))
        stats = {
            "orgs": len(orgs),
            "components": len(listed),
            "contracts": s.scalar(select(func.count()).select_from(Contract)),
            "queries": s.scalar(select(func.count()).where(QueryRun.status == "succeeded")),
            "denied": s.scalar(select(func.count()).where(QueryRun.status == "denied")),
            "gmv_fen": s.scalar(select(func.coalesce(func.sum(QueryRun.price_fen), 0))),
        }
        audit = log.verify(s)
    return {"orgs": orgs, "listed": listed, "stats": stats, "audit": audit}


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    request.state.user = users.session(request.app.state.exchange, request.cookies.get(COOKIE))
    return page(request, "home.html", **overview(request.app.state.exchange))


class _LanguageMiddleware:
    """Pick the page language per request (cookie, else zh-CN) before any view runs."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            chosen = None
            for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
                name, _sep, value = part.strip().partition("=")
                if name == i18n.COOKIE:
                    chosen = value
            i18n.activate(i18n.pick(chosen, headers.get(b"accept-language", b"").decode("latin-1")))
        await self.app(scope, receive, send)


def error_page(request: Request, status: int, code: str, message: str):
    """A console request the service refused before any view ran (a parameter of the wrong type)."""
    box = {"title": _("That did not work"), "code": code, "message": message,
           "next": _("Fix the input and try again; if it keeps failing, tell the exchange operator the code shown.")}
    return page(request, "message.html", status_code=status, error=box)


def install(app: FastAPI) -> None:
    """Mount the console (views, static files, error pages) on the API's app."""
    from suanshu.web import (account, audit_log, catalog, compose, contracts, dashboard, demands, jobs, pools,
                             registration, review, vault)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (account, vault, compose, catalog, contracts, demands, jobs, pools, review, dashboard, audit_log,
                   registration):
        app.include_router(module.router)
    app.include_router(router)
    app.add_middleware(_LanguageMiddleware)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _err: LoginRequired):
        here = request.url.path + (f"?{request.url.query}" if request.url.query and request.method == "GET" else "")
        target = "/login?next=" + quote(here)
        if request.headers.get("hx-request"):
            return HTMLResponse("", headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, err: Forbidden):
        if err.message == "csrf":
            box = {"title": _("This form has expired"), "code": "auth.csrf",
                   "message": _("The page you sent it from is too old or came from another site."),
                   "next": _("Reload the page and send the form again.")}
        else:
            box = {"title": _("Not for your role"), "code": "auth.role_required",
                   "message": _("Your account does not hold the role this page needs."),
                   "next": _("Ask the exchange operator for the role, or sign in as another user.")}
        return page(request, "message.html", status_code=403, error=box)
