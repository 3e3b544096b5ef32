"""Assets in a provider's vault and their scan reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class Asset(Base):
    """A raw table in an org's vault, stored as one Parquet file that never leaves it."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(500))
    source_format: Mapped[str] = mapped_column(String(16))  # csv | parquet | xlsx
    encoding: Mapped[str | None] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(1000))  # relative to the vault root
    rows: Mapped[int] = mapped_column(Fen)
    bytes: Mapped[int] = mapped_column(Fen)
    schema: Mapped[list]  # [{"name", "type"}]
    content_sha256: Mapped[str] = mapped_column(String(64))
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScanReport(Base):
    """The security scan of an asset (DESIGN §5 shape), findings capped for storage."""

    __tablename__ = "scan_reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), unique=True)
    grade: Mapped[str] = mapped_column(String(32))
    findings_total: Mapped[int] = mapped_column(Fen)
    report: Mapped[dict]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
