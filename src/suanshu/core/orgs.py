"""Organizations and principals: who trades on the exchange and who may act for them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanshu.core.clock import utcnow
from suanshu.core.db import Base


OPERATOR_ORG = "exchange"  # the org the exchange itself trades as


class Role(str, Enum):
    PROVIDER = "provider"  # 数商: supplies data products
    BUYER = "buyer"
    COMPUTE = "compute"  # compute provider: offers pools
    OPERATOR = "operator"  # the exchange itself
    AUDITOR = "auditor"


class Organization(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list]
    region: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def has_role(self, role: Role | str) -> bool:
        return Role(role).value in self.roles


class Principal(Base):
    """An API token acting for an org. Only the SHA-256 of the token is stored."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
