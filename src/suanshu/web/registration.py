"""The registration certificate (登记证书) of a listed component in the console: the same signed,
printable HTML as ``GET /api/v1/components/{id}/certificate``, for a signed-in person."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from suanshu.core.errors import SuanshuError
from suanshu.market import registration
from suanshu.web import errors
from suanshu.web.auth import User
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/components/{component_id}/certificate")
def certificate(request: Request, who: User, component_id: str):
    ex = request.app.state.exchange
    try:
        reg = registration.ensure(ex, who.actor, component_id)
    except SuanshuError as err:
        return page(request, "message.html", status_code=err.http_status, error=errors.box(err))
    # the verification link points at this exchange's API, which serves the entry's inclusion proof
    return HTMLResponse(registration.certificate_html(ex, reg, base_url=str(request.base_url)))
