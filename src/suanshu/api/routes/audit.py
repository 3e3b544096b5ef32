from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from suanshu.api.deps import MAX_INT, ActorDep, ExchangeDep
from suanshu.audit import checkpoint, log
from suanshu.audit.models import AuditEvent
from suanshu.core.errors import NotFound
from suanshu.core.orgs import Role
from suanshu.market import workspace

router = APIRouter(tags=["audit"])


@router.get("/audit/verify")
def verify(ex: ExchangeDep, actor: ActorDep) -> dict:
    """Operator or auditor: check checkpoint signatures, recompute the hash chain and Merkle root."""
    actor.require(Role.OPERATOR, Role.AUDITOR)
    with ex.db.transaction() as s:
        return checkpoint.verify(s, ex.settings.home).to_dict()


@router.get("/audit/proof/{seq}")
def proof(ex: ExchangeDep, actor: ActorDep, seq: Annotated[int, Path(ge=1, le=MAX_INT)],
          tree_size: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None) -> dict:
    """An RFC 9162 inclusion proof of entry ``seq`` (receipts carry their entry number); check it
    against a signed checkpoint from ``/audit/checkpoints``. An org may prove the entries any of
    its tokens or users made and those about the contracts it bought; the operator and auditors any."""
    with ex.db.transaction() as s:
        ev = s.get(AuditEvent, seq)
        if ev is None or not workspace.may_see_entry(s, actor, ev):
            raise NotFound("audit.entry_not_found", f"no audit entry {seq} visible to {actor.org_name}")
        return log.prove(s, seq, tree_size)


@router.get("/audit/checkpoints")
def checkpoints(ex: ExchangeDep, actor: ActorDep) -> dict:
    """Every signed checkpoint and the Ed25519 public key that verifies them."""
    with ex.db.transaction() as s:
        return {"public_key": checkpoint.public_key(ex.settings.home),
                "checkpoints": [c.to_dict() for c in checkpoint.stored(s)]}
