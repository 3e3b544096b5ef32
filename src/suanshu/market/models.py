"""Market tables: components (数据元件), contracts (合约) and governed query runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class Component(Base):
    """A governed product over one asset. A listed version is immutable; changes make a new version."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("org_id", "name", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list]
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), index=True)  # draft|in_review|listed|delisted|refused
    sql: Mapped[str] = mapped_column(Text)  # the provider's projection over the asset
    desensitize: Mapped[dict]  # column -> {"method": mask|hash|drop, ...}
    policy: Mapped[dict]
    price_fen: Mapped[int] = mapped_column(Fen)  # per query
    output_schema: Mapped[list]
    gate: Mapped[dict]  # the compliance gate's verdict and evidence
    source_legality_statement: Mapped[str] = mapped_column(Text, default="")  # 数据来源合法性声明, for registration
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    listed_at: Mapped[datetime | None] = mapped_column(default=None)


class Contract(Base):
    """A buyer's signed terms for one component version; policy and price are frozen copies."""

    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    provider_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), index=True)
    component_version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict]
    price_fen: Mapped[int] = mapped_column(Fen)
    commission_bps: Mapped[int] = mapped_column(Integer)
    budget_fen: Mapped[int] = mapped_column(Fen)
    spent_fen: Mapped[int] = mapped_column(Fen, default=0)
    hold_transfer_id: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)  # active|expired|terminated
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class QueryRun(Base):
    """One governed query under a contract: what was asked, what came out, what it cost."""

    __tablename__ = "query_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    sql: Mapped[str] = mapped_column(Text)
    query_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # succeeded | denied
    error_code: Mapped[str | None] = mapped_column(String(80))
    rows_out: Mapped[int] = mapped_column(Fen, default=0)
    suppressed_groups: Mapped[int] = mapped_column(Fen, default=0)
    price_fen: Mapped[int] = mapped_column(Fen, default=0)
    receipt: Mapped[dict]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
