"""Compute offers and the reverse auction (算力竞价).

For one job shape (the scheduler's), every pool bids: automatically from its price plan
(the scheduler's ``cost``), bounded by the pool's optional floor and ceiling, or with a price a
compute provider typed in a bid. A bid is *feasible* when the pool passes the scheduler's
filters for the job — residency, architecture, accelerator type, data reachability, size —
checked here with the scheduler's own value objects and reason codes, in the same order; it
*meets the deadline* when ``ready_hours + job.hours <= deadline_hours``. The winner is the
cheapest feasible bid that meets the deadline (ties: earlier finish, then pool id).

The core (``offers_for``, ``decide``) is pure: pools and a job in, bids and a winner out.
``record`` writes the auction and every bid to the audit log in the caller's transaction.

Price with bounds: ``price = min(max(cost, floor), ceiling)`` — a floor is a minimum charge
for small jobs, a ceiling a package price that caps large ones. A typed price replaces the
price plan (it must still be feasible).

Who sees what (``view``): a bid reveals a pool's floor, ceiling and start delay, which its
provider may not want its competitors to read, while the auction as a whole must stay
checkable. So the org that asked (the buyer of a demand, or whoever ran a standalone auction),
the operator and auditors read the whole auction; a compute provider whose pool bid reads its
own bids and learns whether it won (the winning price only when it won, sealed-bid style); any
other org gets ``auction.not_found``, as if it did not exist. Standalone auctions (``run``) are
asked for by buyers and the operator: those who would pay for the job. The audit log keeps
every bid either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanshu.audit import log as audit
from suanshu.compute import scheduler as sch
from suanshu.compute.models import Pool
from suanshu.core.errors import NotFound, UsageError
from suanshu.core.ids import new_id
from suanshu.core.orgs import Role
from suanshu.market.actors import Actor
from suanshu.market.exchange import Exchange
from suanshu.market.tables import Auction, PoolOffer


@dataclass(frozen=True, slots=True)
class Offer:
    """A pool's terms in an auction: price plan bounds, when it can start, or a fixed typed price."""

    pool: sch.PoolSpec
    floor_fen: int | None = None
    ceiling_fen: int | None = None
    ready_hours: Fraction = Fraction(0)
    price_fen: int | None = None  # a typed bid; None: bid from the price plan
    ref: str | None = None  # e.g. the Bid row this offer came from

    def __post_init__(self) -> None:
        for name in ("floor_fen", "ceiling_fen", "price_fen"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise UsageError("auction.bad_offer", f"{name} must be a non-negative integer (fen), got {v!r}")
        if self.floor_fen is not None and self.ceiling_fen is not None and self.floor_fen > self.ceiling_fen:
            raise UsageError("auction.bad_offer", f"pool {self.pool.id}: floor {self.floor_fen} > ceiling {self.ceiling_fen}")
        if self.ready_hours < 0:
            raise UsageError("auction.bad_offer", "ready_hours must not be negative")


@dataclass(frozen=True, slots=True)
class AuctionBid:
    pool: str
    feasible: bool
    code: str | None  # the scheduler's reason code when infeasible
    reason: str | None
    cost_fen: int | None  # the price plan's cost of the job on the pool
    price_fen: int | None  # what the pool asks
    finish_hours: Fraction | None
    meets_deadline: bool
    ref: str | None = None

    def as_dict(self) -> dict:
        return {"pool": self.pool, "feasible": self.feasible, "code": self.code, "reason": self.reason,
                "cost_fen": self.cost_fen, "price_fen": self.price_fen,
                "finish_hours": None if self.finish_hours is None else _num(self.finish_hours),
                "meets_deadline": self.meets_deadline, "ref": self.ref}


@dataclass(frozen=True, slots=True)
class Outcome:
    job: sch.JobSpec
    deadline_hours: Fraction | None
    bids: tuple[AuctionBid, ...]
    winner: AuctionBid | None

    def as_dict(self) -> dict:
        return {"job": self.job.id, "deadline_hours": None if self.deadline_hours is None else _num(self.deadline_hours),
                "bids": [b.as_dict() for b in self.bids], "winner": self.winner.as_dict() if self.winner else None}


def _num(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


# -- the pure core --------------------------------------------------------------------------------

def infeasibility(job: sch.JobSpec, pool: sch.PoolSpec) -> tuple[str, str] | None:
    """The scheduler's first failing filter for this (job, pool), or None when the pool can run it."""
    if job.residency and pool.region not in job.residency:
        return sch.NO_REGION, f"{pool.id} is in {pool.region}, not {sch.where(job)}"
    if job.arch and pool.arch not in job.arch:
        return sch.NO_ARCH, f"{pool.id} is {pool.arch}, the job needs {'/'.join(sorted(job.arch))}"
    have = dict(pool.capacity.accelerators)
    for t, _n in job.per_node.accelerators:
        if not have.get(t):
            return sch.NO_ACCELERATOR, f"{pool.id} has no {t}"
    if job.data_region is not None and pool.transfer_price(job.data_region) is None:
        return sch.UNREACHABLE, f"{pool.id} cannot receive data from {job.data_region}"
    if not job.demand.fits_in(pool.capacity):
        return sch.TOO_LARGE, f"too large for {pool.id}: " + ", ".join(job.demand.shortfall(pool.capacity))
    return None


def bid_of(job: sch.JobSpec, offer: Offer, deadline_hours: Fraction | None) -> AuctionBid:
    pool = offer.pool
    bad = infeasibility(job, pool)
    if bad:
        return AuctionBid(pool.id, False, bad[0], bad[1], None, None, None, False, offer.ref)
    cost = sch.cost(job, pool)
    if offer.price_fen is not None:
        price = offer.price_fen
    else:
        price = cost if offer.floor_fen is None else max(cost, offer.floor_fen)
        price = price if offer.ceiling_fen is None else min(price, offer.ceiling_fen)
    finish = offer.ready_hours + job.hours
    meets = deadline_hours is None or finish <= deadline_hours
    return AuctionBid(pool.id, True, None, None, cost, price, finish, meets, offer.ref)


def decide(job: sch.JobSpec, offers: Sequence[Offer], deadline_hours: Fraction | None = None) -> Outcome:
    """Every offer's bid and the winner: the cheapest feasible bid that meets the deadline."""
    bids = tuple(bid_of(job, o, deadline_hours) for o in offers)
    eligible = [b for b in bids if b.feasible and b.meets_deadline]
    winner = min(eligible, key=lambda b: (b.price_fen, b.finish_hours, b.pool, b.ref or "")) if eligible else None
    return Outcome(job, deadline_hours, bids, winner)


def parse_job(spec: Mapping, job_id: str = "job") -> sch.JobSpec:
    """A job shape (``suanshu schedule``'s, ``id`` optional) for an auction or a demand."""
    if not isinstance(spec, Mapping):
        raise UsageError("schedule.invalid_job", "compute needs must be a JSON object in the scheduler's job shape")
    return sch.parse_job({"id": job_id, **{k: v for k, v in spec.items() if k != "id"}})


def deadline(value) -> Fraction | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction) or value <= 0:
        raise UsageError("auction.bad_deadline", f"deadline_hours must be a positive number, got {value!r}")
    return Fraction(value)


# -- offers from the database, recording ----------------------------------------------------------

def pool_spec(p: Pool) -> sch.PoolSpec:
    from suanshu.market.pools import pool_json

    return sch.pool_spec({k: v for k, v in pool_json(p).items() if k != "org"})


def standing_offers(s: Session) -> list[Offer]:
    """Every pool's automatic offer: its price plan within its floor/ceiling (pools without terms bid plainly)."""
    terms = {o.pool_id: o for o in s.scalars(select(PoolOffer))}
    out = []
    for p in s.scalars(select(Pool).order_by(Pool.id)):
        t = terms.get(p.id)
        if t is not None and not t.enabled:
            continue
        out.append(Offer(pool_spec(p), t.floor_fen if t else None, t.ceiling_fen if t else None,
                         Fraction(t.ready_hours) if t else Fraction(0)))
    return out


def record(s: Session, actor_label: str, outcome: Outcome, *, requester_org_id: str,
           demand_id: str | None = None) -> Auction:
    """The auction row, one audit entry per bid and one for the result, in the caller's transaction."""
    auction = Auction(id=new_id("auc"), demand_id=demand_id, requester_org_id=requester_org_id,
                      job=_job_dict(outcome.job),
                      deadline_hours=None if outcome.deadline_hours is None else int(outcome.deadline_hours),
                      bids=[b.as_dict() for b in outcome.bids],
                      winner_pool_id=outcome.winner.pool if outcome.winner else None,
                      price_fen=outcome.winner.price_fen if outcome.winner else None)
    s.add(auction)
    s.flush()
    for b in outcome.bids:
        audit.append(s, actor=actor_label, action="auction.bid", subject=auction.id, payload=b.as_dict())
    ev = audit.append(s, actor=actor_label, action="auction.award", subject=auction.id,
                      payload={"demand": demand_id, "requester": requester_org_id, "job": auction.job,
                               "deadline_hours": auction.deadline_hours,
                               "winner": outcome.winner.as_dict() if outcome.winner else None,
                               "bids": len(outcome.bids)})
    auction.audit_seq = ev.seq
    return auction


def _job_dict(job: sch.JobSpec) -> dict:
    out = {"id": job.id, "hours": _num(job.hours), "nodes": job.nodes, **job.per_node.as_dict()}
    if job.arch:
        out["arch"] = sorted(job.arch)
    if job.residency:
        out["residency"] = list(job.residency)
    if job.data_region:
        out["data"] = {"region": job.data_region, "gb": _num(job.data_gb)}
    return out


def run(ex: Exchange, actor: Actor, job: Mapping, *, deadline_hours=None) -> tuple[Auction, Outcome]:
    """A standalone auction for a job shape over every pool's standing offer (a buyer, or the operator, asks)."""
    actor.require(Role.BUYER, Role.OPERATOR)
    spec = parse_job(job, str(job.get("id") or "job") if isinstance(job, Mapping) else "job")
    limit = deadline(deadline_hours)
    with ex.db.transaction() as s:
        outcome = decide(spec, standing_offers(s), limit)
        auction = record(s, actor.label, outcome, requester_org_id=actor.org_id)
    return auction, outcome


def set_offer(ex: Exchange, actor: Actor, pool_ref: str, *, floor_fen: int | None = None,
              ceiling_fen: int | None = None, ready_hours: int = 0, enabled: bool = True) -> PoolOffer:
    """A compute provider sets a pool's auction terms."""
    actor.require(Role.COMPUTE)
    with ex.db.transaction() as s:
        pool = s.get(Pool, pool_ref) or s.scalar(select(Pool).where(Pool.org_id == actor.org_id,
                                                                     Pool.name == pool_ref))
        if pool is None or pool.org_id != actor.org_id:
            raise NotFound("pool.not_found", f"{actor.org_name} has no pool {pool_ref!r}")
        if not isinstance(ready_hours, int) or ready_hours < 0:
            raise UsageError("auction.bad_offer", "ready_hours must be a non-negative integer")
        Offer(pool_spec(pool), floor_fen, ceiling_fen, Fraction(ready_hours))  # validates the bounds
        offer = s.get(PoolOffer, pool.id) or PoolOffer(pool_id=pool.id)
        offer.floor_fen, offer.ceiling_fen, offer.ready_hours, offer.enabled = floor_fen, ceiling_fen, ready_hours, enabled
        s.add(offer)
        s.flush()
        audit.append(s, actor=actor.label, action="pool.offer", subject=pool.id,
                     payload={"floor_fen": floor_fen, "ceiling_fen": ceiling_fen, "ready_hours": ready_hours,
                              "enabled": enabled})
    return offer


def auction_json(a: Auction) -> dict:
    return {"id": a.id, "demand": a.demand_id, "requester": a.requester_org_id, "job": a.job,
            "deadline_hours": a.deadline_hours, "bids": a.bids, "winner": a.winner_pool_id, "price_fen": a.price_fen,
            "audit_seq": a.audit_seq}


def reads_all(actor: Actor, a: Auction) -> bool:
    return a.requester_org_id == actor.org_id or actor.has(Role.OPERATOR) or actor.has(Role.AUDITOR)


def visible_json(s: Session, actor: Actor, a: Auction) -> dict | None:
    """The auction as ``actor`` may see it (module docstring), or None when it may not see it at all."""
    if reads_all(actor, a):
        return auction_json(a)
    own = set(s.scalars(select(Pool.id).where(Pool.org_id == actor.org_id,
                                              Pool.id.in_([b["pool"] for b in a.bids]))))
    if not own:
        return None
    won = a.winner_pool_id in own
    return auction_json(a) | {"requester": None, "bids": [b for b in a.bids if b["pool"] in own],
                              "winner": a.winner_pool_id if won else None, "price_fen": a.price_fen if won else None,
                              "won": won}


def view(ex: Exchange, actor: Actor, auction_id: str) -> dict:
    """One auction for ``actor``: whole, or only its own pools' bids; others get auction.not_found."""
    with ex.db.transaction() as s:
        a = s.get(Auction, auction_id)
        seen = visible_json(s, actor, a) if a is not None else None
    if seen is None:
        raise NotFound("auction.not_found", f"no auction {auction_id!r} visible to {actor.org_name}")
    return seen
