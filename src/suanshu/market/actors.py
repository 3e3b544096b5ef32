"""Who is acting: an org, through a token (API) or the local data dir (CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from suanshu.core.errors import Refused
from suanshu.core.orgs import Organization, Role


@dataclass(frozen=True)
class Actor:
    org_id: str
    org_name: str
    roles: frozenset[str]
    principal_id: str | None = None  # None when acting through the local data dir

    @classmethod
    def of_org(cls, org: Organization) -> "Actor":
        """Local mode: whoever holds the data dir may act for any org, within that org's roles."""
        return cls(org.id, org.name, frozenset(org.roles))

    @property
    def label(self) -> str:
        return self.principal_id or f"local:{self.org_name}"

    def has(self, role: Role) -> bool:
        return role.value in self.roles

    def require(self, *roles: Role) -> None:
        if not any(self.has(r) for r in roles):
            names = " or ".join(r.value for r in roles)
            raise Refused("auth.role_required", f"{self.org_name} needs the {names} role for this")
