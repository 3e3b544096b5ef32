"""Compute pools offered on the exchange (算力池)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
