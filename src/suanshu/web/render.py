"""Templates, filters and the page wrapper every console view renders through."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import URL

from suanshu.core.clock import local
from suanshu.core.money import format_fen
from suanshu.web import i18n, words

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
# Vendored by `make assets` (npm pack, sha512-checked; see web/vendor.py); never committed.
VENDOR_FILES = {"echarts": "echarts.min.js", "htmx": "htmx.min.js"}

templates = Jinja2Templates(directory=HERE / "templates")
env = templates.env
env.add_extension("jinja2.ext.i18n")
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
env.filters["yuan"] = format_fen
env.filters["local"] = local


def _json_island(value) -> Markup:
    """Data for a chart, safe inside <script type="application/json">."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


env.filters["json_island"] = _json_island
env.filters["pretty_json"] = lambda value: json.dumps(value, ensure_ascii=False, indent=2, default=str)
env.filters["size"] = words.size
env.globals["label"] = words.label


def vendor_present() -> dict[str, bool]:
    return {name: (VENDOR / file).is_file() for name, file in VENDOR_FILES.items()}


def page(request: Request, template: str, status_code: int = 200, **context):
    user = getattr(request.state, "user", None)
    base = {"user": user, "lang": i18n.current(), "vendor": vendor_present(),
            "csrf_token": user.csrf_token if user else "", "path": request.url.path,
            "here": _relative(request.url), "roles": set(user.actor.roles) if user else set()}
    response = templates.TemplateResponse(request, template, base | context, status_code=status_code)
    if user:  # a signed-in page is that person's: never kept by the browser (Back after sign-out)
        response.headers["Cache-Control"] = "no-store"
    return response


PAGE = 25  # rows per page of a console list


def _relative(url) -> str:
    return url.path + (f"?{url.query}" if url.query else "")


def keyset_page(request: Request, param: str, fetch, *, limit: int | None = None, key=lambda item: item.id,
                base: str | None = None):
    """One page of a list the domain pages by id (``market.paging``): ``fetch(after, n)`` returns up to
    ``n`` items after the cursor in the query parameter ``param``. One extra item is asked for, so the
    "next" link appears only when there is a next page. Returns (items, {"next", "first"} links),
    relative to this request's URL or to ``base`` (a list refreshed by a POST links to its page)."""
    limit = limit or PAGE
    after = request.query_params.get(param) or None
    items = fetch(after, limit + 1)
    more, items = len(items) > limit, items[:limit]
    url = URL(base) if base else request.url
    return items, {"next": _relative(url.include_query_params(**{param: key(items[-1])})) if more else None,
                   "first": _relative(url.remove_query_params(param)) if after else None}


def numbered_pages(request: Request, total: int, per_page: int, current: int, param: str = "page") -> dict:
    """Numbered links for a ranked list paged by offset (catalog search: rank order has no stable key)."""
    count = max(1, -(-total // per_page))

    def href(n: int) -> str:
        return _relative(request.url.include_query_params(**{param: n}))

    return {"current": current, "count": count, "first": href(1), "prev": href(current - 1) if current > 1 else None,
            "next": href(current + 1) if current < count else None,
            "numbers": [(n, href(n)) for n in range(max(1, current - 3), min(count, current + 3) + 1)]}
