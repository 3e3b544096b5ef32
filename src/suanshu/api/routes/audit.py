from __future__ import annotations

from fastapi import APIRouter

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.audit import log
from suanshu.core.orgs import Role

router = APIRouter(tags=["audit"])


@router.get("/audit/verify")
def verify(ex: ExchangeDep, actor: ActorDep) -> dict:
    """Operator or auditor: recompute the audit hash chain."""
    actor.require(Role.OPERATOR, Role.AUDITOR)
    with ex.db.transaction() as s:
        return log.verify(s).to_dict()
