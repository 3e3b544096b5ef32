from __future__ import annotations

from fastapi import APIRouter

from suanshu.api.deps import ActorDep, ExchangeDep
from suanshu.audit import checkpoint, log
from suanshu.audit.models import AuditEvent
from suanshu.core.errors import NotFound
from suanshu.core.orgs import Role

router = APIRouter(tags=["audit"])


@router.get("/audit/verify")
def verify(ex: ExchangeDep, actor: ActorDep) -> dict:
    """Operator or auditor: check checkpoint signatures, recompute the hash chain and Merkle root."""
    actor.require(Role.OPERATOR, Role.AUDITOR)
    with ex.db.transaction() as s:
        return checkpoint.verify(s, ex.settings.home).to_dict()


@router.get("/audit/proof/{seq}")
def proof(seq: int, ex: ExchangeDep, actor: ActorDep, tree_size: int | None = None) -> dict:
    """An RFC 9162 inclusion proof of entry ``seq`` (receipts carry their entry number); check it
    against a signed checkpoint from ``/audit/checkpoints``. An org may prove the entries it
    made; the operator and auditors any entry."""
    with ex.db.transaction() as s:
        ev = s.get(AuditEvent, seq)
        if ev is None or not (actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR) or ev.actor == actor.label):
            raise NotFound("audit.entry_not_found", f"no audit entry {seq} visible to {actor.org_name}")
        return log.prove(s, seq, tree_size)


@router.get("/audit/checkpoints")
def checkpoints(ex: ExchangeDep, actor: ActorDep) -> dict:
    """Every signed checkpoint and the Ed25519 public key that verifies them."""
    with ex.db.transaction() as s:
        return {"public_key": checkpoint.public_key(ex.settings.home),
                "checkpoints": [c.to_dict() for c in checkpoint.stored(s)]}
