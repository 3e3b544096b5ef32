"""Billing tables: usage events (CloudEvents-shaped), invoices and their lines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class UsageEvent(Base):
    """One CloudEvents-shaped usage record, unique on (source, id): a resend is a no-op.

    ``invoice_id`` is stamped when an invoice takes the event; an issued invoice never changes,
    so an event arriving after its period was invoiced is billed on the next invoice.

    ``voided_at`` (with ``voided_by`` and ``void_reason``) is set when the operator voids an
    event no invoice has taken (``usage.void``): the row stays, and rating skips it.
    """

    __tablename__ = "usage_events"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))  # suanshu.usage.query | .rows | .epsilon | .resource | .bytes
    subject: Mapped[str] = mapped_column(String(80), index=True)  # the contract being used
    time: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    voided_at: Mapped[datetime | None] = mapped_column(default=None)
    voided_by: Mapped[str | None] = mapped_column(String(80), default=None)  # the audit entry's actor
    void_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("subject", "period_start"),)  # one invoice per contract and period

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)  # contract id
    buyer_org_id: Mapped[str] = mapped_column(String(40), index=True)
    provider_org_id: Mapped[str] = mapped_column(String(40), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    plan: Mapped[dict]
    events: Mapped[int] = mapped_column(Fen)
    total_fen: Mapped[int] = mapped_column(Fen)
    provider_fen: Mapped[int] = mapped_column(Fen)
    operator_fen: Mapped[int] = mapped_column(Fen)
    transfers: Mapped[list]  # settlement transfer ids (one linked chain)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(80))  # "resource:" + a resource name of up to 41 characters
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Fen)  # in the plan's unit (queries, rows, micro-ε, seconds)
    amount_fen: Mapped[int] = mapped_column(Fen)
