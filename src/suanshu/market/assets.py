"""Vault assets: ingest a provider's file into its own vault, scan it, record it.

The Parquet is written in the vault store's staging dir and put into the store
(``vault.store``: a rename in a local vault, an upload to an object store) only inside the
database transaction that records it, so a failed ingest leaves neither a row nor a file.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.core.clock import iso
from suanshu.core.errors import Conflict, NotFound, SuanshuError, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Role
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.paging import window
from suanshu.scan.report import scan_parquet
from suanshu.vault.ingest import ingest_file
from suanshu.vault.models import Asset, ScanReport

log = logging.getLogger(__name__)

STORED_FINDINGS = 1000  # findings kept with the asset; the count is always complete
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def asset_name_for(path: Path, name: str | None) -> str:
    candidate = name or re.sub(r"[^A-Za-z0-9_]", "_", path.stem).strip("_").lower() or "table"
    if candidate[0].isdigit():
        candidate = "t_" + candidate
    if not _NAME.match(candidate):
        raise UsageError("vault.bad_asset_name",
                         f"asset name {candidate!r}: use letters, digits and _ (it becomes a SQL table name)")
    return candidate


def add_asset(ex: Exchange, actor: Actor, file: Path, *, name: str | None = None,
              source_name: str | None = None) -> tuple[Asset, ScanReport]:
    actor.require(Role.PROVIDER)
    file = Path(file)
    if not file.is_file():
        raise UsageError("vault.not_found", f"no such file: {file}")
    asset_name = asset_name_for(Path(source_name or file.name), name)
    asset_id = new_id("ast")
    relative = f"{actor.org_id}/{asset_id}.parquet"
    store = ex.vault
    staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=store.staging_dir(relative)))
    placing = False
    try:
        staged = staging / "asset.parquet"
        result = ingest_file(file, staged)
        report = scan_parquet(staged, source=source_name or file.name, encoding=result.encoding,
                              max_findings=STORED_FINDINGS,  # the rest are counted, not kept
                              workers=ex.settings.scan_workers)
        with ex.db.transaction() as s:
            _refuse_duplicate(s, actor.org_id, asset_name)
            asset = Asset(id=asset_id, org_id=actor.org_id, name=asset_name,
                          source_name=source_name or file.name, source_format=result.source_format,
                          encoding=result.encoding, path=relative, rows=result.rows, bytes=result.bytes,
                          schema=result.schema, content_sha256=result.content_sha256,
                          source_sha256=result.source_sha256)
            stored = dict(report, findings=report["findings"][:STORED_FINDINGS])
            scan = ScanReport(id=new_id("scn"), asset_id=asset_id, grade=report["grade"],
                              findings_total=report["findings_total"], report=stored)
            s.add_all([asset, scan])
            s.flush()
            audit.append(s, actor=actor.label, action="vault.add", subject=asset_id,
                         payload={"org": actor.org_id, "name": asset_name, "rows": result.rows,
                                  "content_sha256": result.content_sha256,
                                  "source_sha256": result.source_sha256, "grade": report["grade"],
                                  "findings_total": report["findings_total"]})
            placing = True
            store.put(relative, staged)  # last step before commit; undone below if the commit fails
        return asset, scan
    except BaseException:
        if placing and not _recorded(ex, asset_id):
            _remove(store, relative)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove(store, relative: str) -> None:
    """Undo a put whose asset was not recorded; the error that got here is the one to report."""
    try:
        store.delete(relative)
    except SuanshuError as err:
        log.error("could not remove the unrecorded vault file %s: %s", relative, err)


def _recorded(ex: Exchange, asset_id: str) -> bool:
    with ex.db.transaction() as s:
        return s.get(Asset, asset_id) is not None


def _refuse_duplicate(s: Session, org_id: str, name: str) -> None:
    if s.scalar(select(Asset.id).where(Asset.org_id == org_id, Asset.name == name)):
        raise Conflict("vault.asset_exists", f"this vault already has an asset named {name!r}; pass another --name")


def asset_json(a: Asset, scan: ScanReport | None = None) -> dict:
    out = {"id": a.id, "org": a.org_id, "name": a.name, "source": a.source_name, "format": a.source_format,
           "encoding": a.encoding, "rows": a.rows, "bytes": a.bytes, "columns": a.schema,
           "content_sha256": a.content_sha256, "created_at": iso(a.created_at)}
    if scan is not None:
        out |= {"grade": scan.grade, "findings_total": scan.findings_total}
    return out


def list_assets(ex: Exchange, actor: Actor, *, after: str | None = None, limit: int | None = None) -> list[Asset]:
    """The actor's own vault. Nobody else's, the operator's included: the operator reviews
    components (their gate verdict and scan summary, ``market.review``), never vault contents."""
    q = select(Asset).where(Asset.org_id == actor.org_id).order_by(Asset.id)
    with ex.db.transaction() as s:
        return list(s.scalars(window(q, Asset.id, after, limit)))


def get_asset(s: Session, actor: Actor, ref: str) -> Asset:
    """By id or by name within the actor's vault. Another org's asset is reported as not found."""
    asset = s.get(Asset, ref) or s.scalar(select(Asset).where(Asset.org_id == actor.org_id, Asset.name == ref))
    if asset is None or asset.org_id != actor.org_id:
        raise NotFound("vault.asset_not_found", f"no asset {ref!r} in your vault; see `suanshu vault list`")
    return asset


def scan_report(ex: Exchange, actor: Actor, ref: str) -> dict:
    with ex.db.transaction() as s:
        asset = get_asset(s, actor, ref)
        scan = s.scalar(select(ScanReport).where(ScanReport.asset_id == asset.id))
        return scan.report
