"""Ledger tables: accounts and immutable transfers, with TigerBeetle's semantics.

Ids are client-chosen 128-bit values stored as 32 hex characters.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class Account(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ledger: Mapped[int] = mapped_column(Integer)  # currency: 156 = CNY in fen (ISO 4217 numeric)
    code: Mapped[int] = mapped_column(Integer)  # account type, see suanshu.ledger.codes
    flags: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(40), index=True)  # org id, or None for system
    name: Mapped[str] = mapped_column(String(200))
    debits_pending: Mapped[int] = mapped_column(Fen, default=0)
    debits_posted: Mapped[int] = mapped_column(Fen, default=0)
    credits_pending: Mapped[int] = mapped_column(Fen, default=0)
    credits_posted: Mapped[int] = mapped_column(Fen, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(Base):
    """Immutable once written; a pending transfer is resolved by a later post or void transfer."""

    __tablename__ = "ledger_transfers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Found by account through ``AccountPosting`` (0013), not an index here: see there. Ids of
    # ledger_accounts, checked by the engine under the ledger lock rather than by a foreign key
    # (0012: accounts cannot be deleted or re-keyed, so the reference cannot break later).
    debit_account_id: Mapped[str] = mapped_column(String(32))
    credit_account_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Fen)
    pending_id: Mapped[str | None] = mapped_column(String(32))  # indexed where set (0011)
    ledger: Mapped[int] = mapped_column(Integer)
    code: Mapped[int] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer, default=0)
    memo: Mapped[dict]  # what the transfer is for: contract, query, deposit reference
    timestamp: Mapped[int] = mapped_column(Fen, index=True)  # strictly increasing commit order
    # A pending transfer's life in seconds (TigerBeetle): 0 = until posted or voided. Expired
    # ones are voided by the sweeper (engine.expire_pending). Indexed where non-zero (0010).
    timeout: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_ledger_transfers_timeout", "timestamp", sqlite_where=text("timeout > 0"),
                            postgresql_where=text("timeout > 0")),
                      Index("ix_ledger_transfers_pending_id", "pending_id",
                            sqlite_where=text("pending_id IS NOT NULL"),
                            postgresql_where=text("pending_id IS NOT NULL")))


class AccountPosting(Base):
    """The account index of transfers: per account, posting lists written in bulk behind the
    transfers (0013; 0011 held one row per account and transfer).

    An index on ``debit_account_id`` and one on ``credit_account_id`` put each new transfer on
    two random pages (its accounts' ends of two b-trees): a group of 256 transfers dirtied ~500
    index pages, and writing those pages was nearly half of the writer's time on SQLite. So,
    like an LSM tree, the ledger writes this index in bulk instead: **one** row per account that
    the transfers newer than ``AccountIndexMark.indexed_upto`` touch, holding their timestamps,
    is added and the mark moves. SQLite: once ``engine.INDEX_LAG`` (4,096) transfers are above
    the mark, the sequencer writes the rows from the timestamps it kept as it stored the
    transfers. PostgreSQL: the sequencer's indexer thread runs ``engine.index_committed`` beside
    the writer. Otherwise one ``INSERT ... SELECT ... GROUP BY account`` reads them back. A row
    per account and transfer (0011) cost the SQLite writer ~10 µs per transfer, a fifth of its
    time, and a ~20 ms stall per run; a row per account and run costs an eighth of the rows.

    ``timestamps`` is a JSON array of integers (``[t1,t2,...]``, read with ``json_each`` /
    ``json_array_elements_text``); ``first_timestamp`` and ``last_timestamp`` are its least and
    greatest. An account's postings cover disjoint ranges, so a page of its first N transfers
    after T lies in its first N postings whose ``last_timestamp`` is past T
    (``engine.involving``). Transfers above the mark are found by a scan of the time-ordered
    tail, so readers always see every transfer, and ``engine.verify`` checks the index against
    the transfers. Derived data, like balances."""

    __tablename__ = "ledger_account_postings"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_timestamp: Mapped[int] = mapped_column(Fen, primary_key=True)
    last_timestamp: Mapped[int] = mapped_column(Fen)
    timestamps: Mapped[str] = mapped_column(Text)

    __table_args__ = ({"sqlite_with_rowid": False},)


class AccountIndexMark(Base):
    """One row: the newest transfer timestamp ``AccountPosting`` holds (0: none)."""

    __tablename__ = "ledger_account_index"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indexed_upto: Mapped[int] = mapped_column(Fen, default=0)
