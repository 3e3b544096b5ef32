"""Templates, filters and the page wrapper every console view renders through."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

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
env.globals["label"] = words.label


def vendor_present() -> dict[str, bool]:
    return {name: (VENDOR / file).is_file() for name, file in VENDOR_FILES.items()}


def page(request: Request, template: str, status_code: int = 200, **context):
    user = getattr(request.state, "user", None)
    base = {"user": user, "lang": i18n.current(), "vendor": vendor_present(),
            "csrf_token": user.csrf_token if user else "", "path": request.url.path,
            "roles": set(user.actor.roles) if user else set()}
    return templates.TemplateResponse(request, template, base | context, status_code=status_code)
