"""The ε budget table of dp mode (one row per budget key, e.g. a contract id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base, Fen


class PolicyBudget(Base):
    """ε in nano-units (policy.model.EPSILON_UNITS) so sums are exact.

    ``reserved`` is held by queries that are running; a crash between reserve and commit leaves
    it held, which errs on the side of privacy (the budget looks more spent than it is)."""

    __tablename__ = "policy_budgets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    spent: Mapped[int] = mapped_column(Fen, default=0)
    reserved: Mapped[int] = mapped_column(Fen, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
