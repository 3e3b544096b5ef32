"""The append-only audit log (可信可溯源): events, the Merkle tree's head, signed checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.db import Base, Fen


class AuditEvent(Base):
    """One state change: leaf ``seq - 1`` of the Merkle tree, and a link of the hash chain.

    ``hash`` chains over ``prev_hash`` and the canonical entry; ``leaf_hash`` is the RFC 6962
    leaf hash of the same canonical entry.
    """

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Fen, primary_key=True, autoincrement=False)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    payload: Mapped[dict]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))


class AuditTree(Base):
    """The tree's head, one row (id 1), updated by every append in the same transaction.

    ``frontier`` holds the roots of the perfect subtrees (hex, largest first), so an append
    is O(log n) and never reads old leaves.
    """

    __tablename__ = "audit_tree"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Fen)
    root: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[list]
    chain_head: Mapped[str] = mapped_column(String(64))  # hash of the newest event


class AuditCheckpoint(Base):
    """A signed statement of (tree size, root, time); also exported to a JSON lines file."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(Fen, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))
