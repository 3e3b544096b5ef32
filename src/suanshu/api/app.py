"""The HTTP API (/api/v1) and the console (/), over one Exchange."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanshu import __version__
from suanshu.api.deps import ERROR_RESPONSES, unique_keys
from suanshu.api.routes import audit, components, contracts, ledger, orgs, pools, vault
from suanshu.api.routes import catalog, demands  # market (issue 8)
from suanshu.api.routes import jobs  # compute-to-data (issue 6)
from suanshu.api.routes import review, tokens  # listing review and API tokens (issue 7)
from suanshu.core.errors import SuanshuError
from suanshu.market.exchange import Exchange

API = "/api/v1"
log = logging.getLogger(__name__)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(ex: Exchange) -> FastAPI:
    app = FastAPI(title="Suanshu API", version=__version__, openapi_url=f"{API}/openapi.json",
                  docs_url=f"{API}/docs", redoc_url=None,
                  description="An exchange for data products and compute. Money is integer fen; times are UTC.")
    app.state.exchange = ex
    for module in (orgs, tokens, vault, components, review, contracts, pools, ledger, audit, catalog, demands, jobs):
        app.include_router(module.router, prefix=API, responses=ERROR_RESPONSES, dependencies=[Depends(unique_keys)])

    from suanshu.web.console import error_page as console_error
    from suanshu.web.console import install as install_console

    install_console(app)  # console views, /static files, sign-in redirects

    @app.exception_handler(SuanshuError)
    async def domain_error(_request: Request, err: SuanshuError):
        return JSONResponse(err.to_dict(), status_code=err.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        if not request.url.path.startswith(API + "/"):  # a console page: a page, not JSON
            return console_error(request, 422, "request.invalid", f"{where}: {first.get('msg', 'invalid request')}")
        if first.get("type") == "json_invalid":  # not JSON at all: malformed, as invalid UTF-8 is
            return error(400, "request.malformed", f"the body is not JSON ({first.get('ctx', {}).get('error', where)})")
        return error(422, "request.invalid", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(UnicodeEncodeError)
    async def not_unicode_text(request: Request, err: UnicodeEncodeError):
        # JSON may escape half of a surrogate pair ("\ud800"): valid JSON, but no text to store or hash.
        # It fails where the text is first encoded, before anything commits. Logged with its
        # traceback all the same: an encoding slip of our own would land here too.
        log.warning("text that is not Unicode in %s %s", request.method, request.url.path, exc_info=err)
        return error(422, "text.not_utf8", "a string holds a lone surrogate (\\ud800-\\udfff): send Unicode text")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException):
        code = {400: "request.malformed", 404: "http.not_found", 405: "http.method_not_allowed"}.get(err.status_code, "http.error")
        return error(err.status_code, code, str(err.detail))

    @app.exception_handler(Exception)
    async def internal(_request: Request, err: Exception):
        return error(500, "internal.error", "an internal error occurred; it has been logged")

    return app
