"""Provider: the vault (upload with progress) and each asset's scan report."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from suanshu.core.errors import SuanshuError
from suanshu.core.orgs import Role
from suanshu.market import assets, previews
from suanshu.vault.models import ScanReport
from suanshu.web import errors
from suanshu.web.auth import Posted, User, need
from suanshu.web.i18n import _
from suanshu.web.render import page

router = APIRouter(include_in_schema=False)


def _vault_page(request: Request, who, status: int = 200, **extra):
    ex = request.app.state.exchange
    items = assets.list_assets(ex, who.actor)
    return page(request, "vault.html", status_code=status, assets=items, **extra)


@router.get("/vault")
def vault(request: Request, who: User):
    need(who, Role.PROVIDER)
    return _vault_page(request, who)


@router.post("/vault/upload")
def upload(request: Request, who: Posted, file: Annotated[UploadFile, File()],
           name: Annotated[str, Form()] = ""):
    need(who, Role.PROVIDER)
    ex = request.app.state.exchange
    source = Path(file.filename or "upload.csv").name
    with tempfile.TemporaryDirectory(prefix="suanshu-upload-") as tmp:
        path = Path(tmp) / _stored_name(source)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        try:
            asset, _scan = assets.add_asset(ex, who.actor, path, name=name.strip() or None, source_name=source)
        except SuanshuError as err:
            return _vault_page(request, who, status=err.http_status, error=errors.box(err), name=name)
    return RedirectResponse(f"/vault/{asset.id}", status_code=303)


def _stored_name(source: str) -> str:
    """The upload's own name in its private temp dir (so messages about the file name the user's
    file), unless the name cannot be a file there."""
    if source in ("", ".", "..") or "\x00" in source or len(source.encode()) > 200:
        return "upload" + Path(source).suffix.lower()[:16]
    return source


def _charts(report: dict) -> dict:
    by_type = Counter()
    for column in report["columns"]:
        for t in column["types"]:
            by_type[t["type"]] += t["cells"]
    pi = Counter(c["pi"] for c in report["columns"])
    labels = {"none": _("none"), "personal": _("personal"), "sensitive": _("sensitive")}
    return {
        "types": {"type": "bar", "x": list(by_type), "series": [{"name": _("cells"), "data": list(by_type.values())}]},
        "pi": {"type": "pie", "x": [labels.get(k, k) for k in pi],
               "series": [{"name": _("columns"), "data": list(pi.values())}]},
    }


@router.get("/vault/{asset_id}")
def asset_report(request: Request, who: User, asset_id: str):
    need(who, Role.PROVIDER, Role.OPERATOR)
    ex = request.app.state.exchange
    try:
        with ex.db.transaction() as s:
            asset = assets.get_asset(s, who.actor, asset_id)
            scan = s.scalar(select(ScanReport).where(ScanReport.asset_id == asset.id))
        samples = previews.masked_findings(ex, who.actor, asset.id)
    except SuanshuError as err:
        return _vault_page(request, who, status=err.http_status, error=errors.box(err))
    return page(request, "asset.html", asset=asset, scan=scan, report=scan.report, samples=samples,
                charts=_charts(scan.report))
