from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.api.idempotency import IdempotencyDep
from suanshu.api.pagination import Page, PageDep
from suanshu.market import assets

router = APIRouter(tags=["vault"])


class AssetOut(BaseModel):
    id: str
    org: str
    name: str
    source: str
    format: str
    encoding: str | None
    rows: int
    bytes: int
    columns: list[dict]
    content_sha256: str
    created_at: str
    grade: str | None = None
    findings_total: int | None = None


@router.post("/vault/assets", status_code=201, response_model=AssetOut)
def upload_asset(ex: ExchangeDep, actor: ActorDep, idem: IdempotencyDep, file: UploadFile = File(...),
                 name: str | None = Form(None)):
    """Provider: ingest a CSV (UTF-8/GBK/GB18030), Parquet or .xlsx file into the caller's vault, and scan it."""
    with tempfile.TemporaryDirectory(prefix="suanshu-upload-") as tmp:
        target = Path(tmp) / Path(file.filename or "upload").name
        with target.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        # The payload an Idempotency-Key is bound to: the file's bytes, its name and the asset name.
        payload = {"sha256": _sha256(target), "filename": file.filename, "name": name}
        return idem.run(payload, lambda: assets.asset_json(*assets.add_asset(
            ex, actor, target, name=name, source_name=file.filename)), status=201)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@router.get("/vault/assets", response_model=Page[AssetOut])
def list_assets(ex: ExchangeDep, actor: ActorDep, page: PageDep):
    """The caller's own assets (never another org's, the operator's included)."""
    return page.of(assets.list_assets(ex, actor, after=page.after, limit=page.fetch), assets.asset_json)


@router.get("/vault/assets/{asset_id}", response_model=AssetOut)
def get_asset(asset_id: str, ex: ExchangeDep, actor: ActorDep):
    """One of the caller's assets, by id or name; another org's answers 404."""
    with ex.db.read() as s:
        return assets.asset_json(assets.get_asset(s, actor, asset_id))


@router.get("/vault/assets/{asset_id}/scan")
def asset_scan(asset_id: str, ex: ExchangeDep, actor: ActorDep) -> dict:
    """The asset's scan report (DESIGN §5 contract; stored findings are capped, counts are complete)."""
    return assets.scan_report(ex, actor, asset_id)
