"""Compute providers register pools; everyone may browse them."""

from __future__ import annotations

from sqlalchemy import select

from suanshu.audit import log as audit
from suanshu.compute.models import Pool
from suanshu.compute.pools import parse_pool
from suanshu.core.errors import Conflict
from suanshu.core.ids import new_id
from suanshu.core.orgs import Role
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.paging import window_sorted


def register(ex: Exchange, actor: Actor, spec: dict) -> Pool:
    actor.require(Role.COMPUTE)
    fields = parse_pool(spec)
    with ex.db.transaction() as s:
        if s.scalar(select(Pool.id).where(Pool.org_id == actor.org_id, Pool.name == fields["name"])):
            raise Conflict("pool.exists", f"{actor.org_name} already has a pool named {fields['name']!r}")
        pool = Pool(id=new_id("pool"), org_id=actor.org_id, **fields)
        s.add(pool)
        s.flush()
        audit.append(s, actor=actor.label, action="pool.register", subject=pool.id,
                     payload={"org": actor.org_id, **fields})
    return pool


def list_pools(ex: Exchange, *, after: str | None = None, limit: int | None = None) -> list[Pool]:
    """Every pool, by region then id; ``after``/``limit`` page through them (market.paging)."""
    order = (Pool.region, Pool.id)
    with ex.db.transaction() as s:
        return list(s.scalars(window_sorted(select(Pool).order_by(*order), order, Pool.id, after, limit)))


def pool_json(p: Pool) -> dict:
    return {"id": p.id, "org": p.org_id, "name": p.name, "kind": p.kind, "arch": p.arch, "region": p.region,
            "cpu": p.cpu, "memory_gb": p.memory_gb, "accelerators": p.accelerators, "price": p.price,
            "transfer_fen_per_gb": p.transfer_fen_per_gb, "executor": p.executor}
