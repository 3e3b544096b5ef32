"""Market tables of issue 8: demands (场景需求) and bids, notifications, pool offers and
auctions, listing registrations (登记) and listings imported from other exchanges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class Demand(Base):
    """A buyer's published need (RFQ): data wanted, compute wanted, budget and deadline."""

    __tablename__ = "demands"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list]
    region: Mapped[str] = mapped_column(String(64), default="")
    compute: Mapped[dict | None]  # the scheduler's job shape (without id), or None
    purpose: Mapped[str] = mapped_column(String(500), default="")
    budget_fen: Mapped[int] = mapped_column(Fen)
    deadline: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | awarded | expired | cancelled
    matches: Mapped[dict]  # {"components": [ids], "pools": [ids], "orgs": [ids]} found at posting
    awarded: Mapped[dict | None]  # {"bids": [...], "contracts": [...], "holds": [...]}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Bid(Base):
    """A provider's answer to a demand: a component at a price per query, or a pool at a price for the job."""

    __tablename__ = "bids"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    demand_id: Mapped[str] = mapped_column(ForeignKey("demands.id"), index=True)
    bidder_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # data | compute
    component_id: Mapped[str | None] = mapped_column(ForeignKey("components.id"), default=None)
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), default=None)
    price_fen: Mapped[int] = mapped_column(Fen)  # data: per query; compute: the whole job
    note: Mapped[str] = mapped_column(Text, default="")
    auto: Mapped[bool] = mapped_column(default=False)  # placed by the reverse auction from a price plan
    detail: Mapped[dict]  # compute: cost breakdown, floor/ceiling applied, finish hours
    state: Mapped[str] = mapped_column(String(16), index=True)  # submitted | accepted | rejected | withdrawn
    hold_transfer_id: Mapped[str | None] = mapped_column(String(32), default=None)  # compute bids, on acceptance
    contract_id: Mapped[str | None] = mapped_column(ForeignKey("contracts.id"), default=None)  # data bids
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something an org should see in the console (a matching demand, a bid, an award)."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # demand.match | bid.received | bid.accepted | demand.expired ...
    subject: Mapped[str] = mapped_column(String(40))  # the demand (or bid) it is about
    message: Mapped[str] = mapped_column(Text)  # the sentence in Chinese (what the API and CLI print)
    params: Mapped[dict | None] = mapped_column(default=None)  # {"say": sentence kind, "title": …}: any language
    read: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PoolOffer(Base):
    """A compute provider's auction terms for one pool: never below ``floor``, never above ``ceiling``."""

    __tablename__ = "pool_offers"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    floor_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    ceiling_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    ready_hours: Mapped[int] = mapped_column(Integer, default=0)  # hours until the pool can start a job
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Auction(Base):
    """One reverse auction for a job shape: every bid and the winner (audited)."""

    __tablename__ = "auctions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    demand_id: Mapped[str | None] = mapped_column(ForeignKey("demands.id"), index=True, default=None)
    # who asked: the demand's buyer, or the org that ran a standalone auction (it reads every bid)
    requester_org_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    job: Mapped[dict]
    deadline_hours: Mapped[int | None] = mapped_column(Fen, default=None)
    bids: Mapped[list]  # [{"pool", "price_fen", "cost_fen", "feasible", "code", "reason", ...}]
    winner_pool_id: Mapped[str | None] = mapped_column(String(40), default=None)
    price_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    audit_seq: Mapped[int | None] = mapped_column(Fen, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Registration(Base):
    """The registration record (数据产品登记) of one listed component version (after T/CIITA 406-2022)."""

    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the registration number
    component_id: Mapped[str] = mapped_column(ForeignKey("components.id"), unique=True)
    record: Mapped[dict]  # the registered fields, canonical JSON is what is signed
    record_sha256: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int] = mapped_column(Fen)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExternalListing(Base):
    """A read-only listing imported from another exchange's DCAT catalog."""

    __tablename__ = "external_listings"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(500), index=True)  # the remote catalog's IRI
    source_id: Mapped[str] = mapped_column(String(500))  # the remote dataset's IRI
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list]
    publisher: Mapped[str] = mapped_column(String(500), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    mode: Mapped[str] = mapped_column(String(16), default="")
    price_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    offer: Mapped[dict]  # the ODRL offer as received (compacted JSON-LD)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
