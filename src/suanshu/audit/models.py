"""The append-only audit log (可信可溯源)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.db import Base, Fen


class AuditEvent(Base):
    """One state change. ``hash`` chains over ``prev_hash`` and the canonical entry."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Fen, primary_key=True, autoincrement=False)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    payload: Mapped[dict]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
