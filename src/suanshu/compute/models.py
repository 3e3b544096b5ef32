"""Compute pools offered on the exchange (算力池)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class Pool(Base):
    """One pool in the stable JSON shape of ``suanshu.compute.pools`` (prices in fen)."""

    __tablename__ = "pools"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # general | ai | hpc
    arch: Mapped[str] = mapped_column(String(16))  # x86_64 | aarch64
    region: Mapped[str] = mapped_column(String(64), index=True)
    cpu: Mapped[int] = mapped_column(Fen)
    memory_gb: Mapped[int] = mapped_column(Fen)
    accelerators: Mapped[dict]  # {"ascend-910b": 256}
    price: Mapped[dict]  # {"cpu_hour", "memory_gb_hour", "accelerator_hour": {type: fen}}
    transfer_fen_per_gb: Mapped[dict]  # {region: fen}; a missing region cannot send data here
    executor: Mapped[str] = mapped_column(String(200), default="local")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A buyer's program run under a contract (compute-to-data); ``market.jobs`` drives its states.

    queued -> placed -> running -> succeeded | failed | denied | cancelled. ``placement`` is the
    scheduler's explanation (pool, cost breakdown, why) plus every attempt (failover);
    ``metering`` the resource-seconds billed; ``result`` the output check's verdict and the
    released files; ``receipt`` the bill with its audit entry.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    buyer_org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    program: Mapped[str] = mapped_column(Text)
    program_sha256: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict]  # {"cpu", "memory_gb", "accelerators", "hours"}
    pool_id: Mapped[str | None] = mapped_column(ForeignKey("pools.id"), index=True, default=None)
    placement: Mapped[dict] = mapped_column(default=dict)
    executor_ref: Mapped[str | None] = mapped_column(String(200), default=None)  # e.g. the Ray submission id
    hold_transfer_id: Mapped[str | None] = mapped_column(String(32), default=None)
    hold_fen: Mapped[int] = mapped_column(Fen, default=0)
    price_fen: Mapped[int] = mapped_column(Fen, default=0)
    metering: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict] = mapped_column(default=dict)
    receipt: Mapped[dict] = mapped_column(default=dict)
    logs: Mapped[str] = mapped_column(Text, default="")  # released only when the output check passes
    error_code: Mapped[str | None] = mapped_column(String(80), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
